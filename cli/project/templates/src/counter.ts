import { self, type From } from "devcluster";

/**
 * A behaviour: the runtime keeps each counter's state and calls these functions
 * with it, one message at a time. Edit a handler and save: every running
 * counter uses the new code on its next message and keeps its count.
 */

export interface State {
  count: number;
}

export type Call = { type: "get" } | { type: "incr"; by?: number };
export type Cast = { type: "reset" };

export function init(args: { start?: number } | undefined): State {
  const count = args?.start ?? 0;
  console.log(`counter ${self()} starts at ${count}`);
  return { count };
}

export function handleCall(msg: Call, _from: From, state: State): { reply: unknown; state: State } {
  switch (msg.type) {
    case "get":
      return { reply: state.count, state };
    case "incr": {
      const count = state.count + (msg.by ?? 1);
      return { reply: count, state: { count } };
    }
    default: {
      // A message type this version does not know: answer instead of crashing.
      const unknown: never = msg;
      return { reply: { error: "unknown_call", msg: unknown }, state };
    }
  }
}

export function handleCast(msg: Cast, state: State): State {
  switch (msg.type) {
    case "reset":
      return { count: 0 };
    default:
      return state;
  }
}
