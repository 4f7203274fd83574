/**
 * One message of a process handled: the behaviour's callback it runs, a
 * handleCall's result (reply, or deferred), and the crash report when a
 * handler throws. The loop around it (mailbox, exit) is process.ts.
 */
import type { Logger } from "../../wire/log";
import type { From } from "../../wire/protocol";
import { ClusterError } from "../../wire/errors";
import { crashReason, describe, describeState, noproc, type CrashReason } from "./reasons";
import type { Behaviour, CallResult } from "./behaviour";
import { isThenable, type Envelope, type Proc, type Reply } from "./proc";

/** What handling a message needs of the node's processes. */
export interface HandleHost {
  readonly log: Logger;
  /** the callbacks a message of `proc` runs (the old version's while pinned) */
  exportsOf(proc: Proc): Behaviour | undefined;
  /** answers a call, local or remote */
  reply(from: From, reply: Reply): void;
  /** a call whose reply `proc` deferred: its caller hears the exit reason if it ends first */
  deferred(key: string, proc: Proc): void;
}

/** Handles one message; a promise only when the handler returned one (or a system message's work did). */
export function handle(host: HandleHost, proc: Proc, env: Envelope): Promise<void> | undefined {
  if (env.kind === "system") return env.run(proc) ?? undefined;
  const exports: Behaviour = host.exportsOf(proc) ?? {};
  switch (env.kind) {
    case "call": {
      const fn = exports.handleCall;
      if (typeof fn !== "function") throw new ClusterError("bad_behaviour", `${proc.module} exports no handleCall`);
      const r: CallResult<unknown> | Promise<CallResult<unknown>> = fn(env.msg, env.from, proc.state);
      if (isThenable(r)) return Promise.resolve(r).then((done) => called(host, proc, env, done));
      called(host, proc, env, r);
      return undefined;
    }
    case "cast":
    case "info": {
      const fn = env.kind === "cast" ? exports.handleCast : exports.handleInfo;
      if (typeof fn !== "function") {
        // OTP's gen_server logs an unexpected info and goes on; a cast to a process without handleCast is a bug in the sender.
        if (env.kind === "info") {
          host.log.warn({ proc: proc.pid.toString(), module: proc.module, msg: describe(env.msg) }, "unhandled message");
          return;
        }
        throw new ClusterError("bad_behaviour", `${proc.module} exports no handleCast`);
      }
      const s = fn(env.msg, proc.state);
      if (isThenable(s))
        return Promise.resolve(s).then((next) => {
          proc.state = next;
        });
      proc.state = s;
      return undefined;
    }
    default: {
      const unhandled: never = env;
      return unhandled;
    }
  }
}

/** A handleCall's result: the new state, and the reply unless it defers it. */
function called(host: HandleHost, proc: Proc, env: Extract<Envelope, { kind: "call" }>, r: unknown): void {
  // The type is the contract; a user module written in JavaScript (or cast) may still break it.
  if (r === null || typeof r !== "object" || !("state" in r)) {
    throw new ClusterError("bad_return", `${proc.module}.handleCall must return { reply, state } or { noreply: true, state }, got ${describe(r, 1)}`);
  }
  const result = r as { reply?: unknown; noreply?: boolean; state: unknown };
  proc.state = result.state;
  if (!result.noreply) host.reply(env.from, { ok: true, value: result.reply });
  // Ended while its handler awaited: nobody is left to reply later, so the caller hears it now, not at its timeout.
  else if (!proc.alive) host.reply(env.from, { ok: false, error: noproc(proc.pid) });
  else {
    const key = `${env.from.node}:${env.from.ref}`;
    (proc.deferred ??= new Map()).set(key, env.from);
    host.deferred(key, proc);
  }
}

/** A handler threw (gen_server's crash report): logged, a call answered; the reason the process then exits with. */
export function crashed(host: HandleHost, proc: Proc, env: Envelope, err: unknown): CrashReason {
  host.log.error(
    {
      proc: proc.pid.toString(),
      module: proc.module,
      lastMessage: env.kind === "system" ? "(system message)" : describe((env as { msg: unknown }).msg),
      // A state holding a socket would otherwise fill the terminal: class instances by name, 300 characters at most.
      state: describeState(proc.state),
      err,
    },
    "process crashed",
  );
  const reason = crashReason(err);
  if (env.kind === "call") {
    host.reply(env.from, {
      ok: false,
      error: { ...reason, code: "process_crashed", message: `process ${proc.pid} (${proc.module}) crashed: ${reason.message}` },
    });
  }
  return reason;
}
