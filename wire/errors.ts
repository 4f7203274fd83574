/**
 * The one error type of devcluster. Every failure the runtime, the dev-server
 * or the shell reports carries a `code` from {@link ErrorCode}, so scripts,
 * tests and `--json` output match on the code and people read the message.
 * Like OTP's `load_error_rsn()`, the set is closed: a misspelled code does not
 * compile. Errors thrown by user code keep their own codes when they cross a
 * node (see {@link ClusterError.fromWire}).
 */

/** Every code devcluster itself raises. */
export type ErrorCode =
  // ---- arguments and API use
  /** an argument has the wrong type or value; the message names it */
  | "badarg"
  /** the call acts for self() and was made outside a process handler */
  | "not_a_process"
  /** the devcluster API was used outside a node started by devcluster */
  | "no_runtime"
  /** spawn of a module that does not export a behaviour */
  | "bad_behaviour"
  /** the entry module exports no start(ctx) */
  | "bad_entry"
  // ---- processes
  /** no such process (it never existed, or it ended) */
  | "noproc"
  /** the process crashed handling the call, or before it replied */
  | "process_crashed"
  /** the process ended normally before it replied */
  | "process_exited"
  /** init threw, or a supervisor's child failed to start */
  | "init_failed"
  /** a remote spawn failed for a reason other than init */
  | "spawn_failed"
  /** a callback returned something its contract does not allow */
  | "bad_return"
  /** codeChange threw; the process keeps the old version */
  | "code_change_failed"
  /** the node is shutting down */
  | "shutdown"
  // ---- supervisors
  | "not_a_supervisor"
  /** restartChild of a process no supervisor started */
  | "no_supervisor"
  | "not_a_child"
  | "bad_child_spec"
  /** a supervisor gave up: too many restarts in its period */
  | "reached_max_restart_intensity"
  // ---- names
  /** register of a name another live process holds */
  | "name_taken"
  // ---- nodes and transport
  /** the node is not part of the cluster (or not connected) */
  | "nodedown"
  /** the node went down before it answered */
  | "noconnection"
  /** no answer within the deadline; the message says how long it waited */
  | "timeout"
  /** a value cannot travel between processes; the message names the field */
  | "not_serializable"
  /** a node-local operation reached the wrong node */
  | "wrong_node"
  /** the connection to the coordinator closed before it answered */
  | "disconnected"
  /** a node could not start its entry */
  | "start_failed"
  /** a peer answered with a message the protocol does not allow at that point */
  | "protocol"
  // ---- code loading
  /** a module threw while its top level ran */
  | "eval_failed"
  /** a new version changes a module's shape in a way the loader refuses */
  | "bad_shape"
  /** a third version would drop one that processes still run */
  | "not_purged"
  /** a module imports one that is not loaded */
  | "missing_import"
  | "unknown_module"
  | "unknown_function"
  /** a shell snippet does not parse */
  | "syntax_error"
  /** a function the shell sent to run in a process (replaceState) threw; the process keeps its state */
  | "callback_failed"
  /** esbuild refused the file; the message has file:line:col */
  | "compile_failed"
  /** rollback of a module with no older version */
  | "no_history"
  // ---- project and commands
  /** cluster.config.json is wrong; the message names each field */
  | "config_invalid"
  /** another `devcluster up` runs in this project */
  | "already_running"
  /** no `devcluster up` runs in this project */
  | "not_running"
  /** a port field is not a usable port */
  | "bad_port"
  /** the cluster is not up yet */
  | "not_ready"
  /** a key file others can read (or write): refused, with the chmod that fixes it */
  | "keys_unprotected"
  /** a state folder or key file another user owns, others may write, or a symlink: refused, as ssh does, with what to do */
  | "bad_owner"
  /** a kept-state snapshot of another cluster, node or devcluster version, or a damaged one: refused, the nodes start fresh */
  | "bad_snapshot"
  /** the coordinator refused a node's join (name taken, another cluster); the message says why */
  | "join_refused"
  /** something that threw a non-devcluster value; the message is its text */
  | "error";

declare const foreign: unique symbol;
/**
 * A code from another process's user code, e.g. `"room_unavailable"`: travels
 * as-is. Branded so a string literal is not one: a misspelled devcluster code
 * (`"node_down"`) fails to compile instead of passing as a foreign one.
 */
export type ForeignCode = string & { readonly [foreign]: true };

/** A code of unknown origin (a thrown value's, or one read off the wire), as it travels. */
export function foreignCode(code: string): ErrorCode | ForeignCode {
  return code as ForeignCode;
}

/** A {@link WireError} raised by devcluster itself: its code is checked by the compiler. */
export function wireError(code: ErrorCode, message: string): WireError {
  return { code, message };
}

/** An error as it travels: a stable code for scripts, a message for people. */
export interface WireError {
  code: ErrorCode | ForeignCode;
  message: string;
  stack?: string;
  module?: string;
  pids?: string[];
}

export interface ClusterErrorOptions {
  cause?: unknown;
  /** the module the error is about (code loading) */
  module?: string;
  /** pids (`<n1.4>`) the error is about, e.g. `not_purged` */
  pids?: string[];
}

/** The error devcluster throws and rejects with. Match on `code`. */
export class ClusterError extends Error {
  readonly code: ErrorCode | ForeignCode;
  readonly module?: string;
  readonly pids?: string[];

  constructor(code: ErrorCode, message: string, options: ClusterErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ClusterError";
    this.code = code;
    if (options.module !== undefined) this.module = options.module;
    if (options.pids) this.pids = options.pids;
    // The frames worth showing are the user's (source-mapped to .ts), not the runtime's that evaluated them.
    const causeStack = options.cause instanceof Error ? options.cause.stack : undefined;
    const at = causeStack?.indexOf("\n    at ") ?? -1;
    if (at >= 0) {
      let frames = causeStack!.slice(at);
      const own = frames.search(/\n[^\n]*devclusterEvaluate/);
      if (own > 0) frames = frames.slice(0, own);
      this.stack = `ClusterError [${code}]: ${message}${frames}`;
    }
  }

  /** The error a caller catches for one that came over the wire; a user's own code is kept. */
  static fromWire(wire: WireError): ClusterError {
    const err = new ClusterError("error", wire.message, {
      ...(wire.module !== undefined ? { module: wire.module } : {}),
      ...(wire.pids ? { pids: wire.pids } : {}),
    });
    (err as { code: ErrorCode | ForeignCode }).code = wire.code;
    if (wire.stack) err.stack = wire.stack;
    return err;
  }
}

/** Whether `err` is a devcluster error, optionally with one of `codes`. */
export function isClusterError(err: unknown, ...codes: ErrorCode[]): err is ClusterError {
  return err instanceof ClusterError && (codes.length === 0 || codes.includes(err.code as ErrorCode));
}

/** Any thrown value as it travels; values without a string code get `fallback`. */
export function toWireError(err: unknown, fallback: ErrorCode = "error"): WireError {
  if (err instanceof Error) {
    const e = err as Error & { code?: unknown; module?: unknown; pids?: unknown };
    return {
      code: typeof e.code === "string" ? foreignCode(e.code) : fallback,
      message: e.message,
      ...(e.stack !== undefined ? { stack: e.stack } : {}),
      ...(typeof e.module === "string" ? { module: e.module } : {}),
      ...(Array.isArray(e.pids) ? { pids: e.pids.map(String) } : {}),
    };
  }
  return { code: fallback, message: String(err) };
}
