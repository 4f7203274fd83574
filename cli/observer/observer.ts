/**
 * What the observer page shows, gathered in the coordinator's process: each
 * node's snapshot once a second (kept for the last minutes, so a page opened
 * late still draws its charts), the supervision trees, the reload timeline,
 * and pages of the cluster's processes, merged from the nodes' sorted tops.
 */
import { EventEmitter } from "node:events";
import type { CompileError } from "../save/compiler";
import { staleHead, staleLines } from "../views/reloadReport";
import type { Coordinator, ReloadReport } from "../dev/coordinator";
import type { TransactionInfo } from "../dev/reports";
import type { MemberRow } from "../dev/clusterStatus";
import type { ReloadSource } from "../../wire/protocol";
import type { NodeSnapshot, ProcQuery, ProcRow, SupervisorTree } from "../../wire/observer";

export const TICK_MS = 1000;
/** samples kept per node: five minutes at one a second */
export const HISTORY = 300;

/** A member (host, joined, up, os pid, restarts, as `status` has them) with its last sample. */
export interface NodeRow extends MemberRow {
  uptime: number;
  processes: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  loopDelayMs: { mean: number; p99: number; max: number };
  messagesPerSec: number;
}

/** One point of a node's charts. */
export interface Sample {
  t: number;
  rss: number;
  heapUsed: number;
  loopP99: number;
  messagesPerSec: number;
}

export interface Tick {
  t: number;
  nodes: NodeRow[];
}

export type TimelineEntry =
  | {
      seq: number;
      at: number;
      kind: "reload";
      /** who started it, as the coordinator recorded it: a save, `devcluster reload`/`rollback` ("cli"), the shell, a node catching up */
      source: ReloadSource;
      /** a rollback (plain, or `--to` a version) rather than a reload */
      rollback?: boolean;
      /** the node a catch-up brought up to date */
      member?: string;
      ok: boolean;
      modules: { name: string; version: string }[];
      ms: number;
      failedIn?: string;
      skipped?: string[];
      /** refused at COMMIT: every node went back to the previous versions */
      rolledBack?: boolean;
      /** modules no node runs: checked, nothing evaluated (docs/design.md §4.5) */
      kept?: string[];
      nodes: { node: string; ok: boolean; ms: number; error?: string }[];
      /** processes whose codeChange threw: they stay on the old version */
      codeChangeFailures?: { node: string; pid: string; error: string }[];
      /** what still runs old code after the commit, one line each, in the words of `up`'s log and the shell */
      stale?: string[];
    }
  | {
      seq: number;
      at: number;
      kind: "compile";
      files: string[];
      errors: { file: string; line: number; column: number; lineText: string; text: string }[];
      /** modules of the same save that compiled and went to the nodes without the broken files (empty: nothing was sent) */
      sent: string[];
    }
  | {
      seq: number;
      at: number;
      kind: "back";
      /** held-back files saved back to the version the nodes run, in `up`'s words: the warning before no longer stands */
      text: string;
      modules: { name: string; version: string }[];
    };

const TIMELINE = 200;

/** Emits "tick" (Tick), "trees" (SupervisorTree[]) when they change, "timeline" (TimelineEntry). */
export class Observer extends EventEmitter {
  private readonly history = new Map<string, Sample[]>();
  private readonly last = new Map<string, { t: number; handled: number }>();
  private readonly timeline: TimelineEntry[] = [];
  private trees: SupervisorTree[] = [];
  private treesKey = "";
  private latest: Tick = { t: Date.now(), nodes: [] };
  private timer?: NodeJS.Timeout;
  private ticking = false;
  private seq = 0;
  private readonly onReload = (r: ReloadReport, info: TransactionInfo): void => this.reloaded(r, info);
  /**
   * Whether a page shows the supervision trees: only then does each node read
   * all its processes to find its supervisors (the server sets it from the
   * tabs its pages say they show).
   */
  wantTrees = true;

  constructor(private readonly coordinator: Coordinator) {
    super();
    this.setMaxListeners(0);
  }

  start(): void {
    this.coordinator.on("reloaded", this.onReload);
    this.timer = setInterval(() => void this.tick(), TICK_MS);
    this.timer.unref();
    void this.tick();
  }

  close(): void {
    clearInterval(this.timer);
    this.coordinator.off("reloaded", this.onReload);
  }

  /** Everything a page needs on connecting; later changes come as events. */
  initial(): { tick: Tick; history: Record<string, Sample[]>; trees: SupervisorTree[]; timeline: TimelineEntry[] } {
    return { tick: this.latest, history: Object.fromEntries(this.history), trees: this.trees, timeline: this.timeline };
  }

  /** A sample now, not at the next second (a page just opened the supervision tab). */
  refresh(): void {
    void this.tick();
  }

  private async tick(): Promise<void> {
    if (this.ticking) return; // a slow node delays the next sample instead of piling up requests
    this.ticking = true;
    try {
      const members = this.coordinator.membership();
      const trees = this.wantTrees;
      const got = await Promise.all(
        members.map(async (m) => {
          if (!m.up) return undefined;
          try {
            return (await this.coordinator.nodeRequest(m.node, { op: "observer", req: { op: "snapshot", trees } }, 2000)) as NodeSnapshot;
          } catch {
            return undefined;
          }
        }),
      );
      const t = Date.now();
      const nodes: NodeRow[] = members.map((m, i) => {
        const s = got[i];
        const prev = this.last.get(m.node);
        let rate = 0;
        if (s) {
          // A restarted node counts from zero again: its first sample has no rate.
          if (prev && s.handledTotal >= prev.handled) rate = ((s.handledTotal - prev.handled) * 1000) / Math.max(1, t - prev.t);
          this.last.set(m.node, { t, handled: s.handledTotal });
        }
        return {
          node: m.node,
          host: m.host,
          ...(m.joined ? { joined: true } : {}),
          up: s !== undefined,
          osPid: s?.osPid ?? m.osPid,
          restarts: m.restarts,
          uptime: s?.uptime ?? 0,
          processes: s?.processes ?? 0,
          rss: s?.rss ?? 0,
          heapUsed: s?.heapUsed ?? 0,
          heapTotal: s?.heapTotal ?? 0,
          loopDelayMs: s?.eventLoopDelay ?? { mean: 0, p99: 0, max: 0 },
          messagesPerSec: Math.round(rate),
        };
      });
      for (const n of nodes) {
        if (!n.up) continue;
        let h = this.history.get(n.node);
        if (!h) this.history.set(n.node, (h = []));
        h.push({ t, rss: n.rss, heapUsed: n.heapUsed, loopP99: n.loopDelayMs.p99, messagesPerSec: n.messagesPerSec });
        if (h.length > HISTORY) h.shift();
      }
      this.latest = { t, nodes };
      this.emit("tick", this.latest);
      if (!trees) return; // the last trees stand until a page shows them again
      const now = got.flatMap((s) => s?.supervisors ?? []);
      const key = JSON.stringify(now);
      if (key !== this.treesKey) {
        this.treesKey = key;
        this.trees = now;
        this.emit("trees", now);
      }
    } finally {
      this.ticking = false;
    }
  }

  private push(entry: TimelineEntry): void {
    this.timeline.push(entry);
    if (this.timeline.length > TIMELINE) this.timeline.shift();
    this.emit("timeline", entry);
  }

  private reloaded(r: ReloadReport, info: TransactionInfo): void {
    this.push({
      seq: ++this.seq,
      at: Date.now(),
      kind: "reload",
      source: info.source,
      ...(info.rollback ? { rollback: true } : {}),
      ...(info.node ? { member: info.node } : {}),
      ok: r.ok,
      modules: r.modules,
      ms: r.ms,
      ...(r.failedIn ? { failedIn: r.failedIn } : {}),
      ...(r.skipped?.length ? { skipped: r.skipped } : {}),
      ...(r.rolledBack ? { rolledBack: true } : {}),
      ...(r.kept?.length ? { kept: r.kept } : {}),
      nodes: r.nodes.map((n) => ({ node: n.node, ok: n.ok, ms: n.ms, ...(n.error ? { error: n.error.message } : {}) })),
      ...(r.codeChangeFailures?.length ? { codeChangeFailures: r.codeChangeFailures.map((f) => ({ node: f.node, pid: f.pid, error: f.error.message })) } : {}),
      ...(r.stale?.length || r.staleUnknown?.length ? { stale: [staleHead(r).replace(/^; /, ""), ...staleLines(r).map((l) => l.trim())] } : {}),
    });
  }

  /** A save with files that did not compile: the timeline shows where, and what of the save was sent without them. */
  compileFailed(files: string[], err: CompileError, sent: string[] = []): void {
    this.push({
      seq: ++this.seq,
      at: Date.now(),
      kind: "compile",
      files,
      errors: err.diagnostics.map((d) => ({ file: d.file, line: d.line, column: d.column, lineText: d.lineText, text: d.text })),
      sent,
    });
  }

  /** Held-back files saved back to the running version: the timeline's last word on them is not their error. */
  savedBack(text: string, back: { module: string; version: string }[]): void {
    this.push({ seq: ++this.seq, at: Date.now(), kind: "back", text, modules: back.map((b) => ({ name: b.module, version: b.version })) });
  }

  /**
   * One page of the cluster's processes: each node sorts and filters its own
   * and sends its top offset+limit; the merge keeps the page. The browser
   * gets `limit` rows, whatever the cluster holds. By pid (node, then number)
   * a deep page needs no merge: each node's count says which nodes hold the
   * page, and those send only their share of it.
   */
  async procs(query: ProcQuery & { offset: number }): Promise<{ total: number; rows: ProcRow[]; errors: string[] }> {
    const members = this.coordinator.membership().filter((m) => m.up);
    const errors: string[] = [];
    const ask = (node: string, q: ProcQuery): Promise<{ total: number; rows: ProcRow[] }> =>
      (this.coordinator.nodeRequest(node, { op: "observer", req: { op: "procs", query: q } }, 5000) as Promise<{ total: number; rows: ProcRow[] }>).catch(
        (err: Error) => {
          errors.push(`${node}: ${err.message}`);
          return { total: 0, rows: [] as ProcRow[] };
        },
      );
    const dir = query.desc ? -1 : 1;
    if (query.sort === "pid" && query.offset > 0) {
      const ordered = [...members].sort((a, b) => (a.node < b.node ? -dir : a.node > b.node ? dir : 0));
      const counts = await Promise.all(ordered.map((m) => ask(m.node, { ...query, offset: 0, limit: 0 })));
      let skip = query.offset;
      let left = query.limit;
      const shares: Promise<{ total: number; rows: ProcRow[] }>[] = [];
      ordered.forEach((m, i) => {
        const total = counts[i]!.total;
        if (left <= 0 || skip >= total) return void (skip -= Math.min(skip, total));
        const n = Math.min(left, total - skip);
        shares.push(ask(m.node, { ...query, offset: skip, limit: n }));
        left -= n;
        skip = 0;
      });
      const parts = await Promise.all(shares);
      return { total: counts.reduce((n, c) => n + c.total, 0), rows: parts.flatMap((p) => p.rows).slice(0, query.limit), errors };
    }
    const limit = query.offset + query.limit;
    const parts = await Promise.all(members.map((m) => ask(m.node, { ...query, offset: 0, limit })));
    const all = parts.flatMap((p) => p.rows);
    const key = query.sort;
    const pidKey = (s: string): [string, number] => [s.slice(1, s.lastIndexOf(".")), Number(s.slice(s.lastIndexOf(".") + 1, -1))];
    all.sort((a, b) => {
      if (key === "pid") {
        const [an, ai] = pidKey(a.pid);
        const [bn, bi] = pidKey(b.pid);
        return (an < bn ? -1 : an > bn ? 1 : ai - bi) * dir;
      }
      const x = a[key];
      const y = b[key];
      return (x < y ? -1 : x > y ? 1 : 0) * dir;
    });
    return { total: parts.reduce((n, p) => n + p.total, 0), rows: all.slice(query.offset, limit), errors };
  }
}
