/**
 * The contract between a process and its code: what a behaviour module
 * exports, as OTP's gen_server callbacks. The process loop (process.ts) is
 * typed against it, and so are the runtime's own behaviours (the supervisor,
 * the shell's mailbox), so the compiler checks both sides.
 */
import type { From } from "../../wire/protocol";

/** A gen_server-style behaviour: export these callbacks by name. Any may return a Promise. */
export interface Behaviour<State = unknown, Args = unknown> {
  init?(args: Args): State | Promise<State>;
  handleCall?(msg: unknown, from: From, state: State): CallResult<State> | Promise<CallResult<State>>;
  handleCast?(msg: unknown, state: State): State | Promise<State>;
  handleInfo?(msg: unknown, state: State): State | Promise<State>;
  codeChange?(oldVersion: string, state: State): State | Promise<State>;
  terminate?(reason: unknown, state: State): void | Promise<void>;
}

export type CallResult<State> = { reply: unknown; state: State } | { noreply: true; state: State };
