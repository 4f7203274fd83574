/**
 * What the coordinator reports to clients (status, restart) and to `up`'s log
 * (a transaction's source): the shapes the views in cli/views/ render.
 */
import type { ReloadSource, StaleCode } from "../../wire/protocol";
import type { DiskDrift } from "./diskDrift";

/** Who started a transaction and what it was: the second argument of the "reloaded" event. */
export interface TransactionInfo {
  source: ReloadSource;
  rollback?: boolean;
  /** the member a catch-up was for */
  node?: string;
}

export interface StatusReport {
  name: string;
  endpoint: string;
  nodes: NodeStatus[];
  /** modules whose running version is not what their file on disk compiles to (absent when `up` cannot tell) */
  drift?: DiskDrift[];
}

/** One node `devcluster restart` restarted: its OS pid before and after, and what became of its processes. */
export interface RestartResult extends Partial<KeptRestart> {
  node: string;
  osPidBefore: number | null;
  osPidAfter: number | null;
}

/** A process that did not come back as it was, and why. */
export interface NotRestored {
  pid: string;
  module: string;
  why: string;
}

/** What a restart that keeps processes did (cli/dev/keptState.ts). */
export interface KeptRestart {
  /** ms from the freeze of its processes to the node's being back */
  awayMs: number;
  /** what was written: processes, bytes, and ms to freeze and write them */
  snapshot?: { processes: number; bytes: number; ms: number };
  /** ms the new node took to read the snapshot and make its processes again */
  restoreMs?: number;
  /** back as they were, same pids */
  restored?: number;
  /** started again from init with their first args (same pid) */
  restarted?: NotRestored[];
  /** not back at all */
  lost?: NotRestored[];
  /** back, without part of their mailbox */
  partly?: NotRestored[];
  /** why nothing was kept: every process started afresh */
  notKept?: string;
  /** the snapshot was refused by the node: what was wrong */
  refused?: string;
}

/** What a node's row says: "up" means running with its supervision intact; a node that runs but whose top supervisor gave up says so. */
export type NodeState = "up" | "down" | "not answering" | "supervisor gave up";

export interface NodeStatus {
  name: string;
  /** the address its peer endpoint is bound on: which machine it runs on */
  host?: string;
  /** started by `devcluster node --join` rather than by `up` */
  joined?: boolean;
  /** OS pid, null when its process is not running */
  pid: number | null;
  /** its OS process runs and it answered */
  up: boolean;
  state: NodeState;
  processes: number;
  modules: Record<string, string>;
  /** how many times it was started again after its first start (by the launcher, after it died) */
  restarts: number;
  /** the rest only from a node that answered */
  uptimeMs?: number;
  rss?: number;
  heapUsed?: number;
  heapTotal?: number;
  /** ms, since the node started */
  eventLoopDelay?: { mean: number; p99: number; max: number };
  /** top supervisors that reached their restart intensity (pid texts) */
  supervisorsGaveUp?: string[];
  /** a joined node that does not answer: for how long, and when it leaves the cluster unless it answers */
  silentMs?: number;
  leavesInMs?: number;
  /** what the last reload of each module found still running its old code on this node */
  stale?: StaleCode[];
}

/** One finding per what, where and why, across nodes: its count summed, its nodes listed (a reload's report, `status`). */
export function mergeStale(perNode: Iterable<readonly [node: string, stale: readonly StaleCode[] | undefined]>): (StaleCode & { nodes: string[] })[] {
  const out = new Map<string, StaleCode & { nodes: string[] }>();
  for (const [node, stale] of perNode) {
    for (const s of stale ?? []) {
      const key = JSON.stringify([s.kind, s.module, s.fn, s.at, s.status]);
      const same = out.get(key);
      if (same) {
        same.count += s.count;
        same.nodes.push(node);
      } else out.set(key, { ...s, nodes: [node] });
    }
  }
  return [...out.values()];
}
