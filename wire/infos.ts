/**
 * What a node answers about itself and its processes (status, ps, tree(), the
 * observer) and what a reload found still running old code: the data the
 * protocol's messages carry (wire/protocol.ts re-exports each), apart from the
 * messages themselves.
 */
import type { Pid } from "./pid";

/**
 * Code a reload could not bring to what was saved, as a node found it right after the commit
 * (runtime/code/liveEdit.ts, docs/design.md §6): closures made by an earlier version, or a
 * constructor's code that will not run again on the instances that ran it.
 */
export interface StaleCode {
  /**
   * kept: V8 kept the earlier body (a variable of a function around it was added, removed or renamed);
   * removed: the function is gone from the source, yet functions made from it are alive;
   * refused: V8 refused to patch the earlier version (`status`; BlockedByActiveGenerator: an async
   * function or generator of it is suspended); constructor: a method that runs only in the constructor
   * (or the constructor itself) changed, and live instances ran the earlier one; toplevel: an
   * interval or listener an earlier version's top level started still runs beside the new one's
   */
  kind: "kept" | "removed" | "refused" | "constructor" | "toplevel";
  module: string;
  /** as a person finds it: "RaftNode.setupRoutes", `app.post("/set") callback in RaftNode.setupRoutes` */
  fn: string;
  /** its place in the .ts source ("cluster/raft.ts:42"), when the source map says */
  at?: string;
  /** live functions that still run the earlier body, or (constructor) live instances of the class */
  count: number;
  /** refused: V8's status */
  status?: string;
  /** constructor: the method is an async function or a generator, so a call the constructor started may still be suspended in it, running the earlier body */
  suspends?: boolean;
}

/** Per-process facts for status, ps and tests. */
export interface ProcessInfo {
  pid: Pid;
  module: string;
  version: string;
  names: string[];
  mailbox: number;
  handled: number;
  /** running: handling a message; waiting: idle; suspended: by suspend(pid), handles only system messages */
  status: "running" | "waiting" | "suspended";
  /** bytes of v8.serialize(state); a state that cannot be serialized counts the length of its util.inspect text */
  memory?: number;
  /** pids linked to this process */
  links?: Pid[];
  /** pids this process monitors */
  monitors?: Pid[];
  /** pids monitoring this process */
  monitoredBy?: Pid[];
  /** the supervisor that started it, if any */
  supervisor?: Pid;
  trapExit?: boolean;
  /** live timers it owns (sendAfter, sendInterval) */
  timers?: number;
  /** resources it owns (own(resource)): closed when it ends */
  resources?: number;
}

/** One supervisor or child in the shell's tree(): a root supervisor has no id; a child's pid is absent while it is not running. */
export interface SupervisionTree {
  pid: Pid | undefined;
  module: string;
  id?: string;
  restart?: "permanent" | "transient" | "temporary";
  names: string[];
  /** a supervisor's children, in start order */
  children?: SupervisionTree[];
  /** why a supervisor's children could not be read (it ended while the tree was read) */
  error?: string;
}

export interface NodeInfo {
  node: string;
  osPid: number;
  modules: Record<string, string>;
  processes: number;
  rss: number;
  heapUsed: number;
  heapTotal?: number;
  /** live process timers on this node (sendAfter, sendInterval) */
  timers?: number;
  /** event-loop delay in ms since the node started (perf_hooks.monitorEventLoopDelay) */
  eventLoopDelay?: { mean: number; p99: number; max: number };
  /** ms since this node's OS process started */
  uptimeMs?: number;
  /** top supervisors of this node that reached their restart intensity (pid texts): their trees are gone */
  supervisorsGaveUp?: string[];
  /** what the last reload of each module found still running its old code here (LiveEdit's findings) */
  stale?: StaleCode[];
}
