/**
 * Every message that crosses a socket, as one discriminated union per link,
 * with one decoder each. Shared by cli/ (coordinator, commands) and runtime/
 * (nodes). A frame that does not decode is dropped and logged by the receiver.
 */
import { JSON_BATCH_TAG, decodeJsonBatch, decodeValue, encodeText, encodeValue } from "./codec";
import { Pid } from "./pid";
import type { StaleCode } from "./infos";
import type { ObserverOp, TraceRequest } from "./observer";
import { shapeProblem, type ShippedShape } from "./moduleShape";

/**
 * 2: peer links send JSON batches (`\x01[...]`), which a node speaking 1 would drop; the coordinator refuses a join across versions.
 * 3: a node evaluates only what it uses and says so (`loaded`); a coordinator speaking 2 would report what it keeps as running.
 */
export const PROTOCOL_VERSION = 3;

/** How often a live shell tells its mailbox process it is still there. */
export const SHELL_TOUCH_MS = 20_000;

/** Key of `{ [RENDERED]: text }`: a value that could not travel, sent as util.inspect text instead. */
export const RENDERED = "\u0000rendered";

/** One module's compiled code as the coordinator ships it. */
export interface Bundle {
  /** module name: path under the source folder without extension, e.g. "chat/room" */
  name: string;
  /** content hash of `code` */
  version: string;
  /** CommonJS from esbuild with an inline source map */
  code: string;
  /** project modules it imports */
  imports: string[];
  /** what the node would read from `code`, read once by the coordinator (wire/moduleShape.ts); absent: the node reads it */
  shape?: ShippedShape;
}

import type { WireError } from "./errors";
export { toWireError, type WireError } from "./errors";
export type { NodeInfo, ProcessInfo, StaleCode, SupervisionTree } from "./infos";

export interface PeerInfo {
  name: string;
  endpoint: string;
}

/** Who asked for a reply: the caller's node and its pending-call reference. */
export interface From {
  node: string;
  ref: number;
  /** the calling process, when a process called (not the shell or code outside a process): monitor or link to it */
  pid?: Pid;
}

/** Why a process ended: "normal", "shutdown", "killed", "noproc", "noconnection", a crash's `{ code, message, stack }`, or any value given to exit(). */
export type ExitReason = unknown;

/** Node-level requests about one process, answered by the node it lives on (OTP's sys calls). */
export type SysOp = { op: "suspend" } | { op: "resume" } | { op: "info" };

/** Operations a client (CLI, shell) asks a node to do, relayed by the coordinator. */
export type NodeOp =
  | { op: "spawn"; module: string; args: unknown }
  | { op: "call"; pid: Pid; msg: unknown; timeoutMs?: number }
  | { op: "cast"; pid: Pid; msg: unknown }
  | { op: "send"; pid: Pid; msg: unknown }
  | { op: "state"; pid: Pid }
  | { op: "ps" }
  | { op: "info" }
  | { op: "kill"; pid: Pid; reason: unknown }
  | { op: "restart"; pid: Pid }
  | { op: "rpc"; module: string; fn: string; args: unknown[] }
  | { op: "evalOn"; code: string }
  | { op: "versions"; module?: string }
  | { op: "mailbox" }
  | { op: "flush"; pid: Pid }
  | { op: "touch"; pid: Pid }
  | { op: "unregister"; name: string }
  | { op: "processInfo"; pid: Pid }
  | { op: "tree" }
  /** `fn` is a function's source text, run in the process's node */
  | { op: "replaceState"; pid: Pid; fn: string }
  /** the observer page and tracing (wire/observer.ts) */
  | { op: "observer"; req: ObserverOp }
  /** freeze every process and write them to `file` before a restart that keeps them (runtime/node/keepState.ts) */
  | { op: "snapshot"; file: string }
  /** what the restore from a snapshot did at this node's start, or null */
  | { op: "restored" };

/** Coordinator <-> node, over the coordinator's ROUTER and the node's DEALER. */
export type ControlMessage =
  | {
      type: "hello";
      protocol: number;
      node: string;
      osPid: number;
      endpoint: string;
      /** started by `devcluster node --join` (on this machine or another), not by `up`'s launcher */
      joined?: boolean;
      /** present when the node already runs: it lost its coordinator and says hello to the next one (which adopts it) */
      versions?: Record<string, string>;
      /** with `versions`: the cluster-wide names of its own processes, registered again with the coordinator */
      names?: Record<string, Pid>;
    }
  | { type: "welcome"; cluster: string; entry: string; nodes: string[]; peers: PeerInfo[]; bundles: Bundle[]; incarnation: number }
  /** `nodes`: every member's name, in order (configured, then joined): a node that left is no longer in `nodes()` */
  | { type: "peers"; peers: PeerInfo[]; nodes?: string[] }
  /** a joined node stopping on purpose: it leaves the cluster now, instead of showing as down until it is forgotten */
  | { type: "goodbye"; node: string }
  /** a joined node's own output (pino lines and anything else it wrote), for `up`'s terminal, `logs`, `logs()` and the observer */
  | { type: "logs"; node: string; lines: { line: string; stream: "stdout" | "stderr" }[] }
  /** the coordinator will not have this node (its name is taken, it is not in the config); the node says why and ends */
  | { type: "refused"; reason: string }
  | { type: "started"; node: string; ms: number }
  | { type: "startFailed"; node: string; error: WireError }
  /** `commit`: the only node of this reload commits as soon as it is ready and answers `committed` alone (one phase) */
  | { type: "prepare"; reload: number; bundles: Bundle[]; force: boolean; commit?: boolean }
  | { type: "ready"; reload: number; node: string; ms: number }
  /** `atCommit`: refused at COMMIT (a deferred top level threw; the node is back on its previous versions) */
  | { type: "failed"; reload: number; node: string; error: WireError; atCommit?: boolean }
  | { type: "commit"; reload: number }
  | { type: "abort"; reload: number }
  | { type: "committed"; reload: number; node: string; ms: number; codeChangeFailures: { pid: Pid; error: WireError }[] }
  /** after `committed`: what the node patched in earlier versions' closures and what still runs old code; `patchMs` its patching (in the swap's turn for a version that drops a name, else after `committed`), `scanMs` the search after it */
  | { type: "closures"; reload: number; node: string; patched: number; stale: StaleCode[]; patchMs: number; scanMs: number }
  /** modules this node evaluated for the first time (at join, at a first spawn, reached by a reload); it keeps the others unevaluated */
  | { type: "loaded"; node: string; modules: string[] }
  | { type: "register"; ref: number; name: string; pid: Pid }
  | { type: "unregister"; name: string; pid: Pid }
  | { type: "whereis"; ref: number; name: string }
  | { type: "nameReply"; ref: number; pid?: Pid; error?: WireError }
  | { type: "names"; set: Record<string, Pid>; unset: string[] }
  | { type: "ping" }
  | { type: "pong"; node: string }
  | { type: "nodeRequest"; id: number; op: NodeOp }
  | { type: "nodeResponse"; id: number; ok: boolean; value?: unknown; error?: WireError };

/** Node <-> node: a DEALER per peer sends into the peer's ROUTER. */
export type PeerMessage =
  | { type: "deliver"; to: number; kind: "info" | "cast"; msg: unknown }
  | { type: "call"; to: number; from: From; msg: unknown }
  | { type: "reply"; ref: number; ok: boolean; value?: unknown; error?: WireError }
  | { type: "spawn"; from: From; module: string; args: unknown; link?: Pid }
  /** `from` links to `to`; answered by an exit signal `noproc` when `to` is gone */
  | { type: "link"; from: Pid; to: Pid }
  | { type: "unlink"; from: Pid; to: Pid }
  /** an exit signal: `link` when a linked process ended, else exit(pid, reason); `from` is absent when no process sent it */
  | { type: "exit"; from?: Pid; to: Pid; reason: ExitReason; link: boolean }
  | { type: "monitor"; from: Pid; to: Pid; ref: string }
  | { type: "demonitor"; to: Pid; ref: string }
  /** a monitored process ended: becomes `{ down: ref, pid, reason }` in the watcher's mailbox */
  | { type: "down"; to: Pid; ref: string; pid: Pid; reason: ExitReason }
  | { type: "sys"; from: From; pid: Pid; op: SysOp }
  /** the sender restarts with its processes kept: hold its down, links and monitors to its pids still hold after */
  | { type: "away"; node: string };

/** Who started a reload transaction, as `up` logs it. */
export type ReloadSource = "save" | "cli" | "shell" | "catch-up";

/** A CLI client's request and the coordinator's answer, over the coordinator's ROUTER. */
export type ClientRequest =
  | { type: "status" }
  | { type: "reload"; modules: string[]; force: boolean; source?: ReloadSource; allOrNothing?: boolean }
  /** `to`: a version prefix as `history` shows it (one module only); without it, the version before the last reload */
  | { type: "rollback"; modules: string[]; force: boolean; source?: ReloadSource; to?: string }
  /** every version since `up` of one module, or of every module */
  | { type: "history"; module?: string }
  /** restart these nodes (every node without any) one at a time, through the launcher */
  /** `fresh`: the nodes' processes start afresh from the entry instead of being kept */
  | { type: "restart"; nodes?: string[]; fresh?: boolean }
  /** `keepState`: every node writes its processes first, for the next `up` (answered with what was written) */
  | { type: "stop"; keepState?: boolean }
  | { type: "node"; node: string; op: NodeOp }
  | { type: "whereis"; name: string }
  | { type: "names" }
  /** a node's recent log lines (every node's without `node`); with `after` and `waitMs`, the next ones as they come (logs -f) */
  | { type: "logs"; node?: string; lines?: number; level?: string; after?: number; waitMs?: number }
  /** start, read or stop a trace (wire/observer.ts), answered by the coordinator's tracer */
  | { type: "trace"; req: TraceRequest };

export type ClientMessage =
  { type: "request"; id: number; req: ClientRequest } | { type: "response"; id: number; ok: boolean; value?: unknown; error?: WireError };

/** A coordinator ROUTER receives both: nodes say hello first, clients never do. */
export type CoordinatorInbound = ControlMessage | ClientMessage;

export type Decoded<M> = { ok: true; msg: M } | { ok: false; reason: string };

type Shape = Record<string, "string" | "number" | "boolean" | "object" | "array" | "pid" | "any">;

const CONTROL: Record<ControlMessage["type"], Shape> = {
  hello: { protocol: "number", node: "string", osPid: "number", endpoint: "string" },
  welcome: { cluster: "string", entry: "string", nodes: "array", peers: "array", bundles: "array", incarnation: "number" },
  peers: { peers: "array" },
  refused: { reason: "string" },
  started: { node: "string", ms: "number" },
  startFailed: { node: "string", error: "object" },
  prepare: { reload: "number", bundles: "array", force: "boolean" },
  ready: { reload: "number", node: "string", ms: "number" },
  failed: { reload: "number", node: "string", error: "object" },
  commit: { reload: "number" },
  abort: { reload: "number" },
  committed: { reload: "number", node: "string", ms: "number", codeChangeFailures: "array" },
  closures: { reload: "number", node: "string", patched: "number", stale: "array", patchMs: "number", scanMs: "number" },
  loaded: { node: "string", modules: "array" },
  register: { ref: "number", name: "string", pid: "pid" },
  unregister: { name: "string", pid: "pid" },
  whereis: { ref: "number", name: "string" },
  nameReply: { ref: "number" },
  names: { set: "object", unset: "array" },
  ping: {},
  pong: { node: "string" },
  goodbye: { node: "string" },
  logs: { node: "string", lines: "array" },
  nodeRequest: { id: "number", op: "object" },
  nodeResponse: { id: "number", ok: "boolean" },
};

const PEER: Record<PeerMessage["type"], Shape> = {
  deliver: { to: "number", kind: "string", msg: "any" },
  call: { to: "number", from: "object", msg: "any" },
  reply: { ref: "number", ok: "boolean" },
  spawn: { from: "object", module: "string", args: "any" },
  link: { from: "pid", to: "pid" },
  unlink: { from: "pid", to: "pid" },
  exit: { to: "pid", reason: "any", link: "boolean" },
  monitor: { from: "pid", to: "pid", ref: "string" },
  demonitor: { to: "pid", ref: "string" },
  down: { to: "pid", ref: "string", pid: "pid", reason: "any" },
  sys: { from: "object", pid: "pid", op: "object" },
  away: { node: "string" },
};

const CLIENT: Record<ClientMessage["type"], Shape> = {
  request: { id: "number", req: "object" },
  response: { id: "number", ok: "boolean" },
};

/** Field lists per message type, made once: the check runs on every message received. */
const fieldLists = new WeakMap<Record<string, Shape>, Map<string, [string, Shape[string]][]>>();

function fieldsOf(shapes: Record<string, Shape>): Map<string, [string, Shape[string]][]> {
  let m = fieldLists.get(shapes);
  if (!m) {
    m = new Map(Object.entries(shapes).map(([type, shape]) => [type, Object.entries(shape)]));
    fieldLists.set(shapes, m);
  }
  return m;
}

function check(value: unknown, shapes: Record<string, Shape>): string | undefined {
  if (value === null || typeof value !== "object") return "not an object";
  const type = (value as { type?: unknown }).type;
  const fields = typeof type === "string" ? fieldsOf(shapes).get(type) : undefined;
  if (!fields) return `unknown type ${JSON.stringify(type)}`;
  const rec = value as Record<string, unknown>;
  for (const [field, kind] of fields) {
    const v = rec[field];
    const ok =
      kind === "any"
        ? field in rec
        : kind === "array"
          ? Array.isArray(v)
          : kind === "pid"
            ? v instanceof Pid
            : kind === "object"
              ? v !== null && typeof v === "object"
              : typeof v === kind;
    if (!ok) return `${type}.${field} is not ${kind === "any" ? "present" : `a ${kind}`}`;
  }
  return type === "prepare" || type === "welcome" ? bundlesProblem(type, rec.bundles as unknown[]) : undefined;
}

/** A node instruments and evaluates what a bundle says: each one is checked before any is used. */
function bundlesProblem(type: string, bundles: unknown[]): string | undefined {
  for (const [i, b] of bundles.entries()) {
    const at = `${type}.bundles[${i}]`;
    if (b === null || typeof b !== "object") return `${at} is not an object`;
    const { name, version, code, imports, shape } = b as Record<string, unknown>;
    if (typeof name !== "string" || typeof version !== "string" || typeof code !== "string") return `${at} lacks its name, version or code`;
    if (!Array.isArray(imports) || !imports.every((m) => typeof m === "string")) return `${at}.imports is not a list of names`;
    const problem = shape === undefined ? undefined : shapeProblem(shape);
    if (problem) return `${at}.shape ${problem}`;
  }
  return undefined;
}

function decodeWith<M>(frame: Buffer | undefined, shapes: Record<string, Shape>): Decoded<M> {
  if (!frame) return { ok: false, reason: "missing frame" };
  let value: unknown;
  try {
    value = decodeValue(frame);
  } catch (err) {
    return { ok: false, reason: `undecodable frame: ${(err as Error).message}` };
  }
  const problem = check(value, shapes);
  return problem ? { ok: false, reason: problem } : { ok: true, msg: value as M };
}

export const encode = (msg: ControlMessage | PeerMessage | ClientMessage): Buffer => encodeValue(msg, false);
/**
 * A peer message carrying user values: encoding it is the sender check too (NotSendable naming the field), one walk.
 * JSON stays text for the peer link's batching Outbox (wire/transport.ts).
 */
export const encodeChecked = (msg: PeerMessage): string | Buffer => encodeText(msg, true);
/** A peer message of the node's own, as text when JSON carries it (see {@link encodeChecked}). */
export const encodePeer = (msg: PeerMessage): string | Buffer => encodeText(msg, false);

/** Never throws: a bad frame comes back as `{ ok: false, reason }`. */
export const decodeControl = (frame: Buffer | undefined): Decoded<ControlMessage> => decodeWith(frame, CONTROL);
export const decodePeer = (frame: Buffer | undefined): Decoded<PeerMessage> => decodeWith(frame, PEER);
/** A frame of the peer link's Outbox: one message, or a JSON batch of many (each checked on its own). */
export function decodePeers(frame: Buffer): Decoded<PeerMessage>[] {
  if (frame[0] !== JSON_BATCH_TAG) return [decodePeer(frame)];
  let values: unknown[];
  try {
    values = decodeJsonBatch(frame);
  } catch (err) {
    return [{ ok: false, reason: `undecodable frame: ${(err as Error).message}` }];
  }
  return values.map((value) => {
    const problem = check(value, PEER);
    return problem ? { ok: false, reason: problem } : { ok: true, msg: value as PeerMessage };
  });
}
export const decodeClient = (frame: Buffer | undefined): Decoded<ClientMessage> => decodeWith(frame, CLIENT);
const COORDINATOR_INBOUND = { ...CONTROL, ...CLIENT };
export const decodeCoordinatorInbound = (frame: Buffer | undefined): Decoded<CoordinatorInbound> => decodeWith(frame, COORDINATOR_INBOUND);
