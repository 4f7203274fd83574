import { ClusterError, type ErrorCode } from "../../wire/errors";
import type { Logger } from "../../wire/log";
import { PendingReplies } from "../../wire/pending";
import { encode, type ControlMessage, type StaleCode, type WireError } from "../../wire/protocol";
import { toBundle, type CodeStore } from "./codeStore";
import type { CompiledModule } from "../save/compiler";
import { expectWithin } from "./replies";
import { mergeStale } from "./reports";

export interface NodeResult {
  node: string;
  ok: boolean;
  /** this node's prepare + commit, as it measured them */
  ms: number;
  error?: WireError;
}

/** What `devcluster reload --json` prints. */
export interface ReloadReport {
  ok: boolean;
  modules: { name: string; version: string }[];
  nodes: NodeResult[];
  ms: number;
  /** first to last commit acknowledged, as the coordinator saw them */
  skewMs?: number;
  /** members left out because they do not answer; each catches up when it is back */
  skipped?: string[];
  /**
   * members that did not answer this reload within `decideMs` (cut off, frozen): by default the others
   * commit and these catch up when back; with all-or-nothing the reload aborts instead
   */
  silent?: string[];
  /** how long the coordinator waited for each phase's answers before deciding */
  decideMs?: number;
  /** when not ok: "prepare" (no node switched) or "commit" (every ready node was told to switch; some did not confirm) */
  failedIn?: "prepare" | "commit";
  /** failed in commit because a node refused it there (a top level that runs at COMMIT threw): every node is back on the previous versions */
  rolledBack?: boolean;
  /**
   * modules of this reload that no node that switched has evaluated: compiled and checked there, kept for
   * their first use (a spawn by name), run nowhere (docs/design.md §4.5)
   */
  kept?: string[];
  /** per phase, for the benchmark */
  phases?: { prepareMs: number; commitMs: number };
  /** `rollback --to` the version the cluster already runs: no transaction ran, nothing was sent, and the report says so */
  alreadyRunning?: boolean;
  codeChangeFailures?: { node: string; pid: string; error: WireError }[];
  /**
   * what still runs an earlier version after the commit, as the nodes found it (runtime/code/liveEdit.ts);
   * a finding made alike on several nodes is one entry with those nodes and its count summed
   */
  stale?: (StaleCode & { nodes: string[] })[];
  /** committed nodes that did not say within {@link FINDINGS_WAIT_MS} whether old code still runs */
  staleUnknown?: string[];
  /** per committed node: earlier versions' scripts patched in place, the patch's ms (part of the commit) and the heap scan's (after it) */
  liveEdit?: { node: string; patched: number; patchMs: number; scanMs: number }[];
}

/**
 * How long a report waits, after the commit, for each node to say what still runs old code:
 * the patch is done by then, the heap walk takes tens of ms. `ms` stays the commit's (docs/design.md §6).
 */
export const FINDINGS_WAIT_MS = 3000;

type Findings = Extract<ControlMessage, { type: "closures" }>;

/** the least the commit phase waits: codeChange runs between messages, after a handler under way */
const COMMIT_TIMEOUT_MS = 5000;

type Answer = Extract<ControlMessage, { type: "ready" | "failed" | "committed" }>;

function wire(code: ErrorCode, message: string): WireError {
  return { code, message };
}

/** What a reload transaction needs from the coordinator. */
export interface TransactionHost {
  readonly log: Logger;
  readonly store: CodeStore;
  /** connected members in config order (or those of `only`) */
  members(only?: string[]): string[];
  reachable(node: string): boolean;
  /** an encoded message, shared by every node */
  push(node: string, frame: Buffer): void;
  send(node: string, msg: ControlMessage): void;
  /** a member acknowledged the commit of these modules */
  committed(node: string, modules: CompiledModule[]): void;
  /** a member did not answer within the deadline: it counts as unreachable until it answers, then catches up */
  silent?(node: string): void;
  /** whether a member has evaluated a module (it keeps the others unevaluated); told before the member's `committed` */
  runs?(node: string, module: string): boolean;
}

export interface TransactionOptions {
  only?: string[];
  store?: "commit" | "rollback" | "keep";
  /** a silent member aborts the reload, instead of being left out to catch up later */
  allOrNothing?: boolean;
  /** this transaction's deadline per phase */
  timeoutMs?: number;
}

/**
 * The reload transaction of docs/design.md §6: a set of modules moves to new
 * versions on every node, or on none. Answers from nodes arrive through
 * {@link answer}; the coordinator runs one transaction at a time.
 */
export class ReloadTransactions {
  /** by `${reload}:${node}`, tagged with the node, so a node going down fails its waiter at once */
  private readonly answers = new PendingReplies<string, Answer>();
  /** each node's `closures`, sent after its `committed` */
  private readonly found = new PendingReplies<string, Findings>();
  private seq = 0;

  constructor(
    private readonly host: TransactionHost,
    /** how long each phase waits for answers before deciding (docs/design.md §6): a cut-off node costs this, never more */
    private readonly timeoutMs = 1000,
    private readonly allOrNothing = false,
  ) {}

  /** A node's ready, failed or committed. */
  answer(msg: Answer): void {
    this.answers.resolve(`${msg.reload}:${msg.node}`, msg);
  }

  /** A node's findings after a commit: what it patched and what still runs old code. */
  findings(msg: Findings): void {
    this.found.resolve(`${msg.reload}:${msg.node}`, msg);
  }

  /** Stopping: a transaction under way ends now, as failed on the nodes it waits for. */
  close(): void {
    this.answers.failAll(() => new ClusterError("shutdown", "the cluster is stopping"));
    this.found.failAll(() => new ClusterError("shutdown", "the cluster is stopping"));
  }

  /** A node whose process ended fails the phase it was in, at once rather than by timeout. */
  nodeDown(name: string): void {
    this.answers.failWhere(
      (node) => node === name,
      () => new ClusterError("noconnection", `node ${name} went down`),
    );
    this.found.failWhere(
      (node) => node === name,
      () => new ClusterError("noconnection", `node ${name} went down`),
    );
  }

  /**
   * Starts waiting for the findings of `nodes` (before the commit goes out, so none is missed);
   * the returned function, given the nodes that committed, waits at most {@link FINDINGS_WAIT_MS}
   * more and folds them into the report's fields.
   */
  private awaitFindings(reload: number, nodes: string[]): (switched: string[]) => Promise<Pick<ReloadReport, "stale" | "staleUnknown" | "liveEdit">> {
    const got = new Map<string, Findings>();
    const waits = nodes.map((n) =>
      this.found.expect(`${reload}:${n}`, { tag: n, what: `findings of node ${n}` }).then(
        (f) => void got.set(n, f),
        () => undefined,
      ),
    );
    return async (switched) => {
      const drop = (n: string): boolean => this.found.reject(`${reload}:${n}`, new ClusterError("timeout", `node ${n} did not send its findings`));
      for (const n of nodes) if (!switched.includes(n)) drop(n);
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([Promise.all(waits), new Promise((resolve) => (timer = setTimeout(resolve, FINDINGS_WAIT_MS)))]);
      clearTimeout(timer);
      const unknown = switched.filter((n) => !got.has(n));
      for (const n of unknown) drop(n);
      const stale = mergeStale(switched.map((n) => [n, got.get(n)?.stale] as const));
      const liveEdit = switched.flatMap((n) => {
        const f = got.get(n);
        return f ? [{ node: n, patched: f.patched, patchMs: f.patchMs, scanMs: f.scanMs }] : [];
      });
      return {
        ...(stale.length ? { stale } : {}),
        ...(unknown.length ? { staleUnknown: unknown } : {}),
        ...(liveEdit.length ? { liveEdit } : {}),
      };
    };
  }

  /**
   * Each node's answer to `phase`, or a `failed` standing in for it: at the
   * deadline, or at once when the node goes down or the cluster stops. Never
   * rejects: a phase's outcome is decided per node, in the report.
   * `onAnswer` sees each real answer as it arrives (the commit skew window).
   */
  private async collect(reload: number, nodes: string[], timeoutMs: number, phase: string, onAnswer?: (node: string) => void): Promise<Map<string, Answer>> {
    const answers = await Promise.all(
      nodes.map((n) =>
        expectWithin(
          this.answers,
          `${reload}:${n}`,
          { timeoutMs, tag: n, what: `${phase} on node ${n}` },
          `node ${n} did not answer ${phase} within ${timeoutMs} ms`,
        ).then(
          (a): Answer => (onAnswer?.(n), a),
          (err: ClusterError): Answer => ({ type: "failed", reload, node: n, error: { code: err.code, message: err.message } }),
        ),
      ),
    );
    return new Map(nodes.map((n, i) => [n, answers[i]!]));
  }

  /**
   * PREPARE on every reachable member, then COMMIT when all are ready or
   * ABORT when any is not. `store` says what the code store records:
   * the new versions, a rollback to the previous ones, or nothing (a
   * member catching up to what the store already has).
   */
  async run(modules: CompiledModule[], force: boolean, opts: TransactionOptions = {}): Promise<ReloadReport> {
    const t0 = performance.now();
    const reload = ++this.seq;
    const list = modules.map((m) => ({ name: m.name, version: m.version }));
    // Config order, not join order: reports read the same whichever node started first.
    const members = this.host.members(opts.only);
    const skipped = members.filter((n) => !this.host.reachable(n));
    let nodes = members.filter((n) => this.host.reachable(n));
    const timeout = opts.timeoutMs ?? this.timeoutMs;
    const allOrNothing = opts.allOrNothing ?? this.allOrNothing;
    // A node that did not answer in time, as opposed to one that answered with an error.
    const isSilent = (a: Answer | undefined): boolean => a?.type === "failed" && a.error.code === "timeout";
    if (allOrNothing && skipped.length > 0) {
      // Every member or none: one that does not answer already means none, without waiting for it again.
      return { ok: false, modules: list, nodes: [], ms: performance.now() - t0, failedIn: "prepare", skipped, silent: skipped, decideMs: timeout };
    }
    const bundles = modules.map(toBundle);
    // One node is the whole reload: it commits as soon as it is ready, saving a round trip. PREPARE
    // refuses just what it refuses in two phases, and a refusal still switches nothing.
    const onePhase = nodes.length === 1;
    const prepareMsg = encode({ type: "prepare", reload, bundles, force, ...(onePhase ? { commit: true } : {}) });
    // One encoding for every node: the bundles are the bulk of the bytes.
    for (const n of nodes) this.host.push(n, prepareMsg);
    if (onePhase) return this.onePhase(reload, nodes[0]!, modules, opts.store ?? "commit", t0, skipped, timeout, this.awaitFindings(reload, nodes));
    const prepared = await this.collect(reload, nodes, timeout, "prepare");
    const t1 = performance.now();
    const silent = nodes.filter((n) => isSilent(prepared.get(n)));
    const failed = [...prepared.values()].filter((a): a is Extract<Answer, { type: "failed" }> => a.type === "failed" && !isSilent(a));
    const silentInfo = silent.length ? { silent, decideMs: timeout } : {};
    if (failed.length > 0 || (silent.length > 0 && (allOrNothing || silent.length === nodes.length))) {
      for (const n of nodes) this.host.send(n, { type: "abort", reload });
      const report: ReloadReport = {
        ok: false,
        modules: list,
        nodes: nodes.map((n) => {
          const a = prepared.get(n)!;
          return a.type === "failed" ? { node: n, ok: false, ms: 0, error: a.error } : { node: n, ok: true, ms: a.type === "ready" ? a.ms : 0 };
        }),
        ms: performance.now() - t0,
        failedIn: "prepare",
        ...(skipped.length ? { skipped } : {}),
        ...silentInfo,
      };
      for (const n of silent) this.host.silent?.(n);
      // Not logged here: `up` logs each transaction once, with who started it (devServer).
      return report;
    }
    // The nodes that answered commit; a silent one is told to abort (it reads that when back) and catches up then.
    for (const n of silent) {
      this.host.send(n, { type: "abort", reload });
      this.host.silent?.(n);
    }
    nodes = nodes.filter((n) => !silent.includes(n));
    const commitAt = new Map<string, number>();
    const findings = this.awaitFindings(reload, nodes);
    for (const n of nodes) this.host.send(n, { type: "commit", reload });
    // The decision is made: a commit answers after codeChange has run between the processes' messages, which a
    // slow handler delays, so this phase waits longer (a node that froze right after its ready costs this once).
    const committed = await this.collect(reload, nodes, Math.max(timeout, COMMIT_TIMEOUT_MS), "commit", (n) => commitAt.set(n, performance.now()));
    const t2 = performance.now();
    const switched = nodes.filter((n) => committed.get(n)?.type === "committed");
    // A node answers `failed` to COMMIT when a module whose top level waits for COMMIT threw there; it has put its
    // previous versions back (docs/design.md §6). The set is then not recorded, and the nodes that did switch go back too.
    // Only real answers count (commitAt): a node that went down or timed out has not refused anything.
    const refused = nodes.some((n) => commitAt.has(n) && committed.get(n)?.type === "failed");
    if (!refused) {
      if ((opts.store ?? "commit") === "commit") this.host.store.commit(modules);
      else if (opts.store === "rollback") this.host.store.rollback(modules);
    }
    for (const n of switched) this.host.committed(n, modules);
    if (refused && switched.length > 0 && (opts.store ?? "commit") === "commit") {
      const previous = modules.map((m) => this.host.store.get(m.name)).filter((m): m is CompiledModule => m !== undefined);
      if (previous.length > 0) {
        const back = await this.run(previous, false, { only: switched, store: "keep" });
        this.host.log.warn(
          { modules: list.map((m) => m.name), nodes: switched, ok: back.ok },
          "commit failed on some nodes; the others went back to the previous versions",
        );
      }
    }
    const times = [...commitAt.values()];
    const failures: { node: string; pid: string; error: WireError }[] = [];
    // Silent at commit: by default it is left out like one silent at prepare (its rejoin says what it runs).
    const silentAtCommit = allOrNothing ? [] : nodes.filter((n) => isSilent(committed.get(n)));
    for (const n of silentAtCommit) this.host.silent?.(n);
    const allSilent = [...silent, ...silentAtCommit];
    nodes = nodes.filter((n) => !silentAtCommit.includes(n));
    const results: NodeResult[] = nodes.map((n) => {
      const prep = prepared.get(n)!;
      const com = committed.get(n)!;
      if (com.type === "committed") {
        for (const f of com.codeChangeFailures) failures.push({ node: n, pid: f.pid.toString(), error: f.error });
        return { node: n, ok: true, ms: (prep.type === "ready" ? prep.ms : 0) + com.ms };
      }
      return { node: n, ok: false, ms: 0, error: com.type === "failed" ? com.error : wire("error", "unexpected answer") };
    });
    const ok = results.every((r) => r.ok);
    const kept = this.kept(list, switched);
    const report: ReloadReport = {
      ok,
      ...(kept.length ? { kept } : {}),
      ...(ok ? {} : { failedIn: "commit" as const }),
      ...(refused ? { rolledBack: true } : {}),
      modules: list,
      nodes: results,
      ms: t2 - t0,
      skewMs: times.length ? Math.max(...times) - Math.min(...times) : 0,
      phases: { prepareMs: t1 - t0, commitMs: t2 - t1 },
      ...(skipped.length ? { skipped } : {}),
      ...(allSilent.length ? { silent: allSilent, decideMs: timeout } : {}),
      ...(failures.length ? { codeChangeFailures: failures } : {}),
      // After `ms` is taken: the findings come after the commit and do not count in its time.
      ...(await findings(switched.filter((n) => nodes.includes(n)))),
    };
    return report;
  }

  /** The modules no node of `switched` runs: a reload checked them and evaluated nothing. */
  private kept(list: { name: string }[], switched: string[]): string[] {
    const runs = this.host.runs;
    if (!runs || switched.length === 0) return [];
    return list.filter((m) => !switched.some((n) => runs(n, m.name))).map((m) => m.name);
  }

  /** The answer of the one node of a one-phase reload: `committed`, or `failed` in prepare or (atCommit) in commit. */
  private async onePhase(
    reload: number,
    node: string,
    modules: CompiledModule[],
    store: "commit" | "rollback" | "keep",
    t0: number,
    skipped: string[],
    timeoutMs: number,
    findings: (switched: string[]) => Promise<Pick<ReloadReport, "stale" | "staleUnknown" | "liveEdit">>,
  ): Promise<ReloadReport> {
    // The one answer comes after the commit, and a commit waits for codeChange between the processes' messages
    // (a busy handler delays it): the commit's deadline applies, not the 1 s decision of a silent member among many.
    const a = (await this.collect(reload, [node], Math.max(timeoutMs, COMMIT_TIMEOUT_MS), "prepare and commit")).get(node)!;
    const t1 = performance.now();
    const list = modules.map((m) => ({ name: m.name, version: m.version }));
    const rest = skipped.length ? { skipped } : {};
    if (a.type === "committed") {
      if (store === "commit") this.host.store.commit(modules);
      else if (store === "rollback") this.host.store.rollback(modules);
      this.host.committed(node, modules);
      const failures = a.codeChangeFailures.map((f) => ({ node, pid: f.pid.toString(), error: f.error }));
      const kept = this.kept(list, [node]);
      return {
        ok: true,
        ...(kept.length ? { kept } : {}),
        modules: list,
        nodes: [{ node, ok: true, ms: a.ms }],
        ms: t1 - t0,
        skewMs: 0,
        phases: { prepareMs: t1 - t0, commitMs: 0 },
        ...rest,
        ...(failures.length ? { codeChangeFailures: failures } : {}),
        ...(await findings([node])),
      };
    }
    void findings([]);
    const atCommit = a.type === "failed" && a.atCommit === true;
    return {
      ok: false,
      failedIn: atCommit ? "commit" : "prepare",
      // refused at commit: the node put its previous versions back itself
      ...(atCommit ? { rolledBack: true } : {}),
      modules: list,
      nodes: [{ node, ok: false, ms: 0, error: a.type === "failed" ? a.error : wire("error", "unexpected answer") }],
      ms: t1 - t0,
      ...rest,
    };
  }
}
