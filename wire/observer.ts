/**
 * What the observer (cli/observer) and tracing ask of a node, and what nodes
 * answer: one NodeOp (`{ op: "observer", req }`) carries them all, so the
 * coordinator relays them like any other shell operation.
 */
import type { Pid } from "./pid";

export type ProcSortKey = "pid" | "name" | "module" | "version" | "status" | "mailbox" | "handled" | "memory";

/** A page of one node's processes, filtered and sorted by the node (the browser never gets them all). */
export interface ProcQuery {
  sort: ProcSortKey;
  desc: boolean;
  /** case-insensitive substring of pid, names, module, version or status */
  filter: string;
  /** rows from the top of the sorted list; the observer merges nodes' tops */
  limit: number;
  /** rows of the sorted list to skip first (by pid, the observer knows each node's share of a page) */
  offset?: number;
}

export interface ProcRow {
  pid: string;
  node: string;
  name: string;
  module: string;
  version: string;
  status: string;
  mailbox: number;
  handled: number;
  memory: number;
}

export interface SupervisorTree {
  pid: string;
  module: string;
  /** the supervisor that started this one, if it is a child */
  parent?: string;
  strategy: string;
  /** names it is registered under (absent when none), as the shell's tree() shows them */
  names?: string[];
  children: { id: string; pid?: string; module: string; restart: string; supervisor: boolean; names?: string[] }[];
}

/** What a node says of itself once a second: NodeInfo's figures (protocol.ts, not imported: it imports this file) and more. */
export interface NodeSnapshot {
  node: string;
  osPid: number;
  processes: number;
  rss: number;
  heapUsed: number;
  heapTotal?: number;
  eventLoopDelay?: { mean: number; p99: number; max: number };
  /** seconds since the node's OS process started */
  uptime: number;
  /** messages handled by its processes since it started */
  handledTotal: number;
  /** absent when the snapshot was asked without trees */
  supervisors?: SupervisorTree[];
}

export interface ProcDetail {
  pid: string;
  module: string;
  version: string;
  names: string[];
  status: string;
  mailbox: number;
  handled: number;
  memory: number;
  links: string[];
  monitors: string[];
  monitoredBy: string[];
  supervisor?: string;
  trapExit: boolean;
  /** util.inspect of the state, cut at `stateLimit` characters */
  state: string;
  truncated: boolean;
}

/** What to trace: messages in and out of pids, or calls of a module's exported function. */
export type TraceSpec = { kind: "messages"; pids: Pid[] } | { kind: "calls"; module: string; fn: string };

export interface TraceLimits {
  /** the trace stops itself after this many events, cluster-wide */
  count: number;
  /** ... or after this long */
  ms: number;
}

export type TraceEvent =
  | { trace: number; node: string; at: number; type: "message"; kind: "info" | "cast" | "call" | "reply"; from?: string; to: string; msg: string }
  | { trace: number; node: string; at: number; type: "call"; module: string; fn: string; args: string; result?: string; error?: string; ms: number };

export type ObserverOp =
  /** trees: false leaves out the supervision trees (no page shows them) */
  | { op: "snapshot"; trees?: boolean }
  | { op: "procs"; query: ProcQuery }
  | { op: "detail"; pid: Pid; stateLimit: number }
  | { op: "suspend"; pid: Pid }
  | { op: "resume"; pid: Pid }
  | { op: "traceStart"; id: number; spec: TraceSpec; limits: TraceLimits }
  | { op: "traceStop"; id?: number }
  /** events gathered since the last drain, and how many were dropped because nobody read them in time */
  | { op: "traceDrain" };

export interface TraceDrain {
  events: TraceEvent[];
  dropped: Record<number, number>;
  /** traces that stopped themselves on this node (count or time reached) */
  ended: number[];
}

/** A shell's or the page's trace request, answered by the coordinator's tracer. */
export type TraceRequest =
  | { op: "start"; target: { pid?: Pid; name?: string; module?: string; fn?: string }; limits?: Partial<TraceLimits> }
  | { op: "read"; id: number; after: number }
  | { op: "stop"; id?: number };

export interface TraceStatus {
  id: number;
  what: string;
  events: TraceEvent[];
  /** sequence number of the last event in `events`: pass it as `after` to read on */
  last: number;
  dropped: number;
  done: boolean;
  why?: string;
}

export const TRACE_DEFAULTS: TraceLimits = { count: 100, ms: 60_000 };
