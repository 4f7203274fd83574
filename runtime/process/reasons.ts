/**
 * How a process's end and its failures read to the people and processes
 * that hear of them: crash reasons, the errors callers get, and short
 * renderings of states and messages for crash reports.
 */
import { readFileSync } from "node:fs";
import * as path from "node:path";
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

// ---- what a log line shows of a crash (docs/design.md §8) ----------------------

/** This package's own code (dist/runtime, dist/wire) and its dependencies: frames in them are the runtime's, not the user's. */
const PACKAGE_ROOT = path.resolve(__dirname, "..", "..", "..");
const RUNTIME_DIRS = [path.join(PACKAGE_ROOT, "dist") + path.sep, path.join(PACKAGE_ROOT, "node_modules") + path.sep];

/** `    at fn (/abs/file.ts:4:34)` or `    at /abs/file.ts:4:34`: the file, line and column of a frame, when it has them. */
const FRAME = /^\s*at (?:.*? \()?(.+?):(\d+):(\d+)\)?$/;

/**
 * Whether a stack frame is the user's: not node's internals, not the
 * runtime's (the loader, the process loop, trampolines), not an
 * evaluated snippet's wrapper, and with a file to point at.
 */
export function isUserFrame(line: string): boolean {
  const m = FRAME.exec(line);
  if (!m) return false;
  const file = m[1]!;
  if (file.startsWith("node:") || file.startsWith("devcluster:") || file === "<anonymous>" || !file.includes("/")) return false;
  return !RUNTIME_DIRS.some((dir) => file.startsWith(dir));
}

/**
 * A stack as people read it: the error's first line, then the user's frames
 * only. A "caused by" chain (pino's, Node's arrow text of a vm error) is
 * dropped: the message already carries its text.
 */
export function userStack(stack: string): string {
  const lines = stack.split("\n");
  const firstFrame = lines.findIndex((l) => /^\s+at /.test(l));
  const head = (firstFrame < 0 ? lines : lines.slice(0, firstFrame)).join("\n").trimEnd();
  const frames = lines.filter((l) => /^\s+at /.test(l) && isUserFrame(l)).map((l) => "    " + l.trim());
  return [head, ...[...new Set(frames)]].join("\n");
}

/**
 * The line a frame points at, as compile errors show theirs: `file:line:col`,
 * the line, and a caret under the column. Read from the file on disk, which
 * the source-mapped frame names; undefined when it cannot be read.
 */
export function sourceExcerpt(frame: string, baseDir = process.cwd()): string | undefined {
  const m = FRAME.exec(frame);
  if (!m) return undefined;
  const [file, line, column] = [m[1]!, Number(m[2]), Number(m[3])];
  let text: string | undefined;
  try {
    text = readFileSync(file, "utf8").split(/\r?\n/)[line - 1];
  } catch {
    return undefined;
  }
  if (text === undefined) return undefined;
  const rel = path.relative(baseDir, file);
  const shown = rel.startsWith("..") ? file : rel;
  const gutter = Math.max(5, String(line).length);
  return (
    `${shown}:${line}:${column}\n` +
    `${String(line).padStart(gutter)} | ${text}\n` +
    `${" ".repeat(gutter)} | ${text.slice(0, Math.max(0, column - 1)).replace(/[^\t]/g, " ")}^`
  );
}

/** What a node's log keeps of an error (pino's `err` serializer): code, message, the user's frames, the source line of the first. */
export function logError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const e = err as Error & { code?: unknown; module?: unknown };
  const stack = userStack(e.stack ?? `${e.name}: ${e.message}`);
  const first = stack.split("\n").find((l) => /^\s+at /.test(l));
  const source = first ? sourceExcerpt(first, process.env.DEVCLUSTER_PROJECT ?? process.cwd()) : undefined;
  return {
    type: e.name,
    ...(typeof e.code === "string" ? { code: e.code } : {}),
    message: e.message,
    stack,
    ...(typeof e.module === "string" ? { module: e.module } : {}),
    ...(source ? { source } : {}),
  };
}

/** A class instance other than plain data: a crash log names it (`[Socket]`) rather than dumping its insides. */
function isOpaque(v: object): boolean {
  const proto = Object.getPrototypeOf(v) as object | null;
  return !(
    proto === null ||
    proto === Object.prototype ||
    Array.isArray(v) ||
    v instanceof Map ||
    v instanceof Set ||
    v instanceof Date ||
    v instanceof RegExp ||
    Buffer.isBuffer(v) ||
    ArrayBuffer.isView(v) ||
    v instanceof Error
  );
}

/** Opaque instances replaced by their class name, two levels deep (what describeState shows). */
function shallow(value: unknown, depth: number): unknown {
  if (value === null || typeof value !== "object") return value;
  if (isOpaque(value)) {
    const name = (value.constructor as { name?: string } | undefined)?.name ?? "Object";
    return { [inspect.custom]: () => `[${name}]` };
  }
  if (depth <= 0 || !(Array.isArray(value) || Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null)) return value;
  if (Array.isArray(value)) return value.slice(0, 10).map((v) => shallow(v, depth - 1));
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, shallow(v, depth - 1)]));
}

/** A process's state in a crash log: sockets and servers by class name, bounded to 300 characters on one line. */
export function describeState(state: unknown): string {
  const text = inspect(shallow(state, 3), { depth: 2, breakLength: Infinity, maxArrayLength: 10, maxStringLength: 80 });
  return text.length > 300 ? text.slice(0, 300) + "…" : text;
}
