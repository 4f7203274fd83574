import type { Logger } from "../../wire/log";
import type { ErrorCode } from "../../wire/errors";
import { encode, type ControlMessage, type WireError } from "../../wire/protocol";
import { toBundle, type CodeStore } from "./codeStore";
import type { CompiledModule } from "./compiler";

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
  /** when not ok: "prepare" (no node switched) or "commit" (every ready node was told to switch; some did not confirm) */
  failedIn?: "prepare" | "commit";
  /** per phase, for the benchmark */
  phases?: { prepareMs: number; commitMs: number };
  codeChangeFailures?: { node: string; pid: string; error: WireError }[];
}

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
}

/**
 * The reload transaction of DESIGN §6: a set of modules moves to new
 * versions on every node, or on none. Answers from nodes arrive through
 * {@link answer}; the coordinator runs one transaction at a time.
 */
export class ReloadTransactions {
  private readonly answers = new Map<string, (msg: Answer) => void>();
  private seq = 0;

  constructor(
    private readonly host: TransactionHost,
    private readonly timeoutMs = 5000,
  ) {}

  /** A node's ready, failed or committed. */
  answer(msg: Answer): void {
    this.answers.get(`${msg.reload}:${msg.node}`)?.(msg);
  }

  /** Stopping: a transaction under way ends now, as failed on the nodes it waits for. */
  close(): void {
    for (const [key, resolve] of [...this.answers]) {
      const [reload, node] = key.split(":");
      resolve({ type: "failed", reload: Number(reload), node: node!, error: wire("shutdown", "the cluster is stopping") });
    }
  }

  /** A node whose process ended fails the phase it was in, at once rather than by timeout. */
  nodeDown(name: string): void {
    for (const [key, resolve] of this.answers) {
      const [reload, node] = key.split(":");
      if (node === name) resolve({ type: "failed", reload: Number(reload), node: name, error: wire("nodedown", `node ${name} went down`) });
    }
  }

  private collect(reload: number, nodes: string[], timeoutMs: number, phase: string): Promise<Map<string, Answer>> {
    return new Promise((resolve) => {
      const got = new Map<string, Answer>();
      const finish = (): void => {
        clearTimeout(timer);
        for (const n of nodes) this.answers.delete(`${reload}:${n}`);
        resolve(got);
      };
      const timer = setTimeout(() => {
        for (const n of nodes) {
          if (!got.has(n)) got.set(n, { type: "failed", reload, node: n, error: wire("timeout", `node ${n} did not answer ${phase} within ${timeoutMs} ms`) });
        }
        finish();
      }, timeoutMs);
      if (nodes.length === 0) return finish();
      for (const n of nodes) {
        this.answers.set(`${reload}:${n}`, (msg) => {
          got.set(n, msg);
          if (got.size === nodes.length) finish();
        });
      }
    });
  }

  /**
   * PREPARE on every reachable member, then COMMIT when all are ready or
   * ABORT when any is not. `store` says what the code store records:
   * the new versions, a rollback to the previous ones, or nothing (a
   * member catching up to what the store already has).
   */
  async run(
    modules: CompiledModule[],
    force: boolean,
    opts: { only?: string[]; store?: "commit" | "rollback" | "keep" } = {},
  ): Promise<ReloadReport> {
    const t0 = performance.now();
    const reload = ++this.seq;
    const list = modules.map((m) => ({ name: m.name, version: m.version }));
    // Config order, not join order: reports read the same whichever node started first.
    const members = this.host.members(opts.only);
    const skipped = members.filter((n) => !this.host.reachable(n));
    const nodes = members.filter((n) => this.host.reachable(n));
    const timeout = this.timeoutMs;
    const bundles = modules.map(toBundle);
    const prepareMsg = encode({ type: "prepare", reload, bundles, force });
    // One encoding for every node: the bundles are the bulk of the bytes.
    for (const n of nodes) this.host.push(n, prepareMsg);
    const prepared = await this.collect(reload, nodes, timeout, "prepare");
    const t1 = performance.now();
    const failed = [...prepared.values()].filter((a): a is Extract<Answer, { type: "failed" }> => a.type === "failed");
    if (failed.length > 0) {
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
      };
      this.host.log.error({ modules: list.map((m) => m.name), errors: failed.map((f) => `${f.node}: ${f.error.message}`) }, "reload aborted; no node switched");
      return report;
    }
    const commitAt = new Map<string, number>();
    for (const n of nodes) this.host.send(n, { type: "commit", reload });
    const committedP = this.collect(reload, nodes, timeout, "commit");
    // Record acknowledgement times as they arrive, for the skew window.
    for (const n of nodes) {
      const key = `${reload}:${n}`;
      const inner = this.answers.get(key);
      if (inner) this.answers.set(key, (msg) => (commitAt.set(n, performance.now()), inner(msg)));
    }
    const committed = await committedP;
    const t2 = performance.now();
    if ((opts.store ?? "commit") === "commit") this.host.store.commit(modules);
    else if (opts.store === "rollback") this.host.store.rollback(modules);
    for (const n of nodes) if (committed.get(n)?.type === "committed") this.host.committed(n, modules);
    const times = [...commitAt.values()];
    const failures: { node: string; pid: string; error: WireError }[] = [];
    const results: NodeResult[] = nodes.map((n) => {
      const prep = prepared.get(n)!;
      const com = committed.get(n)!;
      if (com.type === "committed") {
        for (const f of com.codeChangeFailures) failures.push({ node: n, pid: f.pid.toString(), error: f.error });
        return { node: n, ok: true, ms: (prep.type === "ready" ? prep.ms : 0) + com.ms };
      }
      return { node: n, ok: false, ms: 0, error: com.type === "failed" ? com.error : wire("protocol", "unexpected answer") };
    });
    const ok = results.every((r) => r.ok);
    const report: ReloadReport = {
      ok,
      ...(ok ? {} : { failedIn: "commit" as const }),
      modules: list,
      nodes: results,
      ms: t2 - t0,
      skewMs: times.length ? Math.max(...times) - Math.min(...times) : 0,
      phases: { prepareMs: t1 - t0, commitMs: t2 - t1 },
      ...(skipped.length ? { skipped } : {}),
      ...(failures.length ? { codeChangeFailures: failures } : {}),
    };
    return report;
  }
}
