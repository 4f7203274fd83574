/**
 * How a process's end and its failures read to the people and processes
 * that hear of them: crash reasons, the errors callers get, and short
 * renderings of states and messages for crash reports.
 */
import { inspect } from "node:util";
import { serialize } from "node:v8";
import type { Pid } from "../../wire/pid";
import { toWireError, type WireError } from "../../wire/errors";

/** A crash's exit reason: what links, monitors and callers are told. Plain data, so it can cross nodes. */
export interface CrashReason {
  code: string;
  message: string;
  stack?: string;
}

/** A value in a log line or an error message: bounded, on one line. */
export function describe(value: unknown, depth = 3): string {
  const text = inspect(value, { depth, breakLength: Infinity, maxArrayLength: 10, maxStringLength: 200 });
  return text.length > 500 ? text.slice(0, 500) + "…" : text;
}

/**
 * Bytes of the state's V8 serialization: what it would cost to send, a fair
 * proxy for what it holds. A state that cannot be serialized (it holds a
 * socket or a function) counts the length of its inspect text instead.
 */
export function memoryOf(state: unknown): number {
  try {
    return serialize(state).length;
  } catch {
    return inspect(state, { depth: 4 }).length;
  }
}

export function crashReason(err: unknown): CrashReason {
  const wire = toWireError(err);
  return { code: wire.code, message: wire.message, ...(wire.stack ? { stack: wire.stack } : {}) };
}

function reasonText(reason: unknown): string {
  if (reason !== null && typeof reason === "object" && typeof (reason as { message?: unknown }).message === "string")
    return (reason as { message: string }).message;
  return typeof reason === "string" ? reason : describe(reason, 2);
}

export function exitedError(proc: { pid: Pid; module: string }, reason: unknown): WireError {
  const code = reason !== null && typeof reason === "object" && "code" in reason ? "process_crashed" : "process_exited";
  return { code, message: `process ${proc.pid} (${proc.module}) exited before replying: ${reasonText(reason)}` };
}

export function noproc(pid: Pid): WireError {
  return { code: "noproc", message: `process ${pid} is not alive (it lived on node ${pid.node})` };
}
