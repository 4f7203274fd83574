import { ClusterError } from "../../wire/errors";
import type { NodeInfo, NodeOp } from "../../wire/protocol";
import type { Member } from "./admission";
import type { DiskDrift } from "./diskDrift";
import type { NodeStatus, StatusReport } from "./reports";
import type { HistoryReport, VersionHistory } from "./versionHistory";

/** What the reports read of their coordinator. */
export interface ClusterStatusHost {
  cluster: string;
  endpoint(): string;
  /** the configured nodes, in config order */
  nodes: string[];
  members: Map<string, Member>;
  joins: Map<string, number>;
  history: VersionHistory;
  nodeNames(): string[];
  reachable(node: string): boolean;
  /** how long an unreachable member has been silent */
  silentFor(node: string): number | undefined;
  /** how long a joined node may be silent before it leaves */
  forgetMs: number;
  /** where `up`'s own nodes bind (coordinator.host): the host of one not joined yet */
  host: string;
  nodeRequest(node: string, op: NodeOp, timeoutMs?: number): Promise<unknown>;
  /** modules whose file on disk differs from what runs */
  disk?(): Promise<DiskDrift[]>;
}

/** One node as the observer page lists it. */
export interface MemberRow {
  node: string;
  /** the address its peer endpoint is bound on: which machine it runs on */
  host: string;
  joined?: boolean;
  up: boolean;
  osPid: number | null;
  restarts: number;
}

/** `tcp://10.0.0.2:4711` -> `10.0.0.2` */
function hostOf(endpoint: string): string {
  const m = /^tcp:\/\/\[?([^\]]*?)\]?:\d+$/.exec(endpoint);
  return m ? m[1]! : endpoint;
}

/**
 * What the coordinator answers about the cluster as it is: `status` (each
 * node asked for its info), `history` (which nodes run each version) and the
 * observer page's membership. Read-only over the coordinator's tables.
 */
export class ClusterStatus {
  constructor(private readonly host: ClusterStatusHost) {}

  async status(): Promise<StatusReport> {
    const h = this.host;
    const nodes = await Promise.all(
      h.nodeNames().map(async (name): Promise<NodeStatus> => {
        const m = h.members.get(name);
        const restarts = Math.max(0, (h.joins.get(name) ?? 0) - 1);
        if (!m) return { name, pid: null, up: false, state: "down", processes: 0, modules: {}, restarts };
        const where = { host: hostOf(m.endpoint), ...(m.joined ? { joined: true } : {}) };
        const silentMs = h.silentFor(name);
        if (m.joined && silentMs !== undefined) {
          // Nothing tells whether a joined node still runs: it is down for its peers, and leaves when forgotten.
          const down = { name, ...where, pid: m.osPid, up: false, state: "down" as const, processes: 0, modules: {}, restarts };
          return { ...down, silentMs, leavesInMs: Math.max(0, h.forgetMs - silentMs) };
        }
        try {
          const info = (await h.nodeRequest(name, { op: "info" }, 3000)) as NodeInfo;
          const gaveUp = info.supervisorsGaveUp ?? [];
          return {
            name,
            ...where,
            pid: info.osPid,
            up: true,
            state: gaveUp.length ? "supervisor gave up" : "up",
            processes: info.processes,
            modules: info.modules,
            restarts,
            uptimeMs: info.uptimeMs,
            rss: info.rss,
            heapUsed: info.heapUsed,
            heapTotal: info.heapTotal,
            eventLoopDelay: info.eventLoopDelay,
            supervisorsGaveUp: gaveUp,
            ...(info.stale?.length ? { stale: info.stale } : {}),
          };
        } catch {
          return { name, ...where, pid: m.osPid, up: false, state: "not answering", processes: 0, modules: {}, restarts };
        }
      }),
    );
    const found = h.disk ? await h.disk().catch(() => undefined) : undefined;
    // A module no node runs is not "running" an old version: the nodes keep it for a first spawn.
    const runs = new Set(nodes.flatMap((n) => Object.keys(n.modules)));
    const drift = found?.map((d) => (runs.has(d.module) ? d : { ...d, kept: true }));
    return { name: h.cluster, endpoint: h.endpoint(), nodes, ...(drift ? { drift } : {}) };
  }

  /** Every version since `up` of one module (or of each), with the nodes that run each now. */
  historyReport(module?: string): HistoryReport {
    const h = this.host;
    if (module !== undefined && !h.history.of(module).length) {
      throw new ClusterError("unknown_module", `unknown module ${module} (modules: ${h.history.modules().join(", ")})`);
    }
    const names = module !== undefined ? [module] : h.history.modules();
    return {
      modules: names.map((name) => ({
        module: name,
        versions: h.history.of(name).map((e, i, all) => ({
          ...e,
          current: i === all.length - 1,
          nodes: h.nodeNames().filter((n) => h.members.get(n)?.versions[name] === e.version && h.members.get(n)!.running.has(name)),
        })),
      })),
    };
  }

  /** What the observer page shows of the membership: the same nodes as status, in its order, each with its host and how often it was restarted. */
  membership(): MemberRow[] {
    const h = this.host;
    return h.nodeNames().map((node) => {
      const m = h.members.get(node);
      return {
        node,
        host: m ? hostOf(m.endpoint) : h.host,
        ...(m?.joined ? { joined: true } : {}),
        up: m !== undefined && h.reachable(node),
        osPid: m?.osPid ?? null,
        restarts: Math.max(0, (h.joins.get(node) ?? 0) - 1),
      };
    });
  }
}
