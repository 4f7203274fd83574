import { demonitor, exit, monitor, self, send, type From, type Pid } from "devcluster";
import type { ChatMessage, MemberInfo, RoomCall, RoomEvent } from "./types";

/**
 * A chat room: its history and its members. Registered cluster-wide as
 * `room:<name>` on its home node (see chat/rooms); members are session pids
 * on any node. Sends to a member whose process or node is gone are dropped
 * by the runtime, so a dead member never breaks a post; the room monitors
 * each member (the caller's pid comes with its join call, `from.pid`), so a
 * session that ends without leaving (killed from the shell, its node gone)
 * still leaves the member list.
 */

export const HISTORY_LIMIT = 200;

export interface State {
  name: string;
  history: ChatMessage[];
  /** keyed by the pid's printed form, `<n1.7>` */
  members: Map<string, { pid: Pid; nick: string; monitor?: string }>;
}

export function init(args: { name: string }): State {
  return { name: args.name, history: [], members: new Map() };
}

function broadcast(state: State, event: RoomEvent, except?: Pid): void {
  for (const m of state.members.values()) {
    if (except && m.pid.equals(except)) continue;
    send(m.pid, event);
  }
}

function notice(state: State, text: string, except?: Pid): void {
  broadcast(state, { type: "notice", room: state.name, text, at: Date.now() }, except);
}

export function handleCall(msg: RoomCall, from: From, state: State): { reply: unknown; state: State } {
  switch (msg.type) {
    case "join": {
      const known = state.members.get(msg.pid.toString());
      // The member is the caller: from.pid is who asked, when a process asked.
      const watch = known?.monitor ?? (from.pid?.equals(msg.pid) ? monitor(from.pid) : undefined);
      state.members.set(msg.pid.toString(), { pid: msg.pid, nick: msg.nick, ...(watch ? { monitor: watch } : {}) });
      notice(state, `${msg.nick} joined`, msg.pid);
      return { reply: { history: state.history.slice(), members: state.members.size }, state };
    }
    case "leave":
      leave(state, msg.pid);
      return { reply: true, state };
    case "post": {
      const member = state.members.get(msg.pid.toString());
      if (!member) return { reply: { error: "not_member" }, state };
      const message: ChatMessage = { from: member.nick, text: msg.text, at: Date.now(), room: state.name };
      state.history.push(message);
      if (state.history.length > HISTORY_LIMIT) state.history.splice(0, state.history.length - HISTORY_LIMIT);
      broadcast(state, { type: "chat", message });
      return { reply: message, state };
    }
    case "nick": {
      const member = state.members.get(msg.pid.toString());
      if (member && member.nick !== msg.nick) {
        notice(state, `${member.nick} is now ${msg.nick}`);
        member.nick = msg.nick;
      }
      return { reply: true, state };
    }
    case "history":
      return { reply: state.history.slice(), state };
    case "who": {
      const who: MemberInfo[] = [...state.members.values()].map((m) => ({ nick: m.nick, node: m.pid.node }));
      return { reply: who, state };
    }
    default: {
      const unknown: never = msg;
      return { reply: { error: "unknown_call", msg: unknown }, state };
    }
  }
}

function leave(state: State, pid: Pid): void {
  const member = state.members.get(pid.toString());
  if (!member) return;
  state.members.delete(pid.toString());
  if (member.monitor) demonitor(member.monitor);
  notice(state, `${member.nick} left`);
}

/** A session that disconnects leaves without waiting for an answer. */
export function handleCast(msg: { type: "leave"; pid: Pid }, state: State): State {
  if (msg.type === "leave") leave(state, msg.pid);
  return state;
}

/**
 * `stop`: this room lost the race to register its name (chat/rooms).
 * `down`: a member's process ended (or its node went away) without leaving.
 */
export function handleInfo(msg: { type: "stop" } | { down: string; pid: Pid; reason: unknown }, state: State): State {
  if (msg !== null && typeof msg === "object" && "down" in msg) leave(state, msg.pid);
  else if (msg?.type === "stop") exit(self(), "normal");
  return state;
}
