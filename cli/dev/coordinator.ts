import { EventEmitter } from "node:events";
import type { Router } from "zeromq";
import { ClusterError, type ErrorCode } from "../../wire/errors";
import type { Logger } from "../../wire/log";
import { PendingReplies } from "../../wire/pending";
import { Pid } from "../../wire/pid";
import {
  PROTOCOL_VERSION,
  decodeCoordinatorInbound,
  encode,
  toWireError,
  type ClientMessage,
  type ClientRequest,
  type ControlMessage,
  type CoordinatorInbound,
  type NodeInfo,
  type NodeOp,
  type PeerInfo,
  type ReloadSource,
  type WireError,
} from "../../wire/protocol";
import { ZapHandler, type ClusterKeys } from "../../wire/security";
import { LogThrottle } from "../../wire/throttle";
import { Outbox, bindLoopback, secureRouter } from "../../wire/transport";
import { CodeStore } from "./codeStore";
import type { CompiledModule } from "../save/compiler";
import { Liveness } from "./liveness";
import { ReloadTransactions, type ReloadReport } from "./reloadTransaction";
import { expectWithin } from "./replies";
import type { LogAnswer, LogQuery } from "./logs";
import { Traces } from "../observer/traces";
import type { DiskDrift } from "./diskDrift";
import { answerRequest, type ClientRequestsHost } from "./clientRequests";
import type { NodeStatus, StatusReport, TransactionInfo } from "./reports";
import { VersionHistory, versionSource, type HistoryReport } from "./versionHistory";

export type { NodeResult, ReloadReport } from "./reloadTransaction";

export type { NodeState, NodeStatus, RestartResult, StatusReport, TransactionInfo } from "./reports";

export interface CoordinatorOptions {
  cluster: string;
  entry: string;
  nodes: string[];
  host: string;
  port: number;
  keys: ClusterKeys;
  log: Logger;
  /** compiles modules by name for `devcluster reload <module>` */
  compile(modules: string[]): Promise<CompiledModule[]>;
  prepareTimeoutMs?: number;
  /** a silent node aborts a reload instead of being left out (cluster.config.json "reload.allOrNothing") */
  allOrNothing?: boolean;
  /** the nodes' recent log lines, for a client's `logs` request */
  logs?: { query(q: LogQuery): Promise<LogAnswer> };
  /** modules whose file on disk differs from what runs, for status */
  disk?(): Promise<DiskDrift[]>;
  /** restarts one node's OS process and resolves once it runs its entry again with the current code */
  restart?(node: string): Promise<void>;
}

interface Member {
  name: string;
  endpoint: string;
  /** joined with `devcluster node --join`: `up` neither starts nor stops it */
  joined: boolean;
  osPid: number;
  started: boolean;
  /** module -> version this member has (runs, or keeps unevaluated), as far as its commits tell: what a catch-up brings it to */
  versions: Record<string, string>;
  /** the modules it has evaluated, as it said (`loaded`): a module it only keeps runs nowhere on it */
  running: Set<string>;
}

/** `tcp://10.0.0.2:4711` -> `10.0.0.2` */
function hostOf(endpoint: string): string {
  const m = /^tcp:\/\/\[?([^\]]*?)\]?:\d+$/.exec(endpoint);
  return m ? m[1]! : endpoint;
}

function wire(code: ErrorCode, message: string): WireError {
  return { code, message };
}

/**
 * The coordinator: code store, membership, cluster-wide names, reload
 * transactions, and the control endpoint that nodes and CLI clients reach.
 * Emits "ready" once every configured node has run its entry, "stop" when a
 * client asks the cluster to stop.
 */
export class Coordinator extends EventEmitter {
  readonly store = new CodeStore();
  /** every version each module ran since `up`, for `devcluster history` and `rollback --to` */
  readonly history = new VersionHistory();
  private readonly router: Router;
  private readonly out: Outbox;
  private readonly members = new Map<string, Member>();
  private readonly names = new Map<string, Pid>();
  /** how many times each node has joined: its pids of each life are distinct */
  private readonly joins = new Map<string, number>();
  /** relayed requests by id, tagged with the node that answers them */
  private readonly nodeRequests = new PendingReplies<number, Extract<ControlMessage, { type: "nodeResponse" }>>();
  private zap?: ZapHandler;
  /** one warning per sender per interval, with a count (docs/design.md §7) */
  private readonly drops = new LogThrottle((fields, msg) => this.log.warn(fields, msg), Number(process.env.DEVCLUSTER_DROP_LOG_MS) || 10_000);
  private readonly reloads: ReloadTransactions;
  private readonly liveness = new Liveness({
    ping: (node) => this.sendTo(node, { type: "ping" }),
    lost: (node, silentMs) =>
      this.log.warn({ member: node, silentMs }, `${node} does not answer: it is left out of reloads until it is back, then it catches up`),
    back: (node) => {
      this.log.info({ member: node }, `${node} answers again: catching up`);
      void this.serial(() => this.catchUp(node));
    },
  });
  /** reloads and joins run one after another, so a joining node never misses a commit */
  private queue: Promise<unknown> = Promise.resolve();
  /** tracing of messages and calls across the nodes (cli/observer/traces.ts) */
  readonly traces = new Traces({
    nodes: () => [...this.members.keys()],
    whereis: (name) => this.names.get(name),
    nodeRequest: (node, op, timeoutMs) => this.nodeRequest(node, op, timeoutMs),
  });
  /** what client requests are answered from (cli/dev/clientRequests.ts) */
  private readonly clients: ClientRequestsHost;
  private requestSeq = 0;
  private ready = false;
  private closed = false;
  endpoint = "";

  constructor(private readonly opts: CoordinatorOptions) {
    super();
    this.reloads = new ReloadTransactions(
      {
        log: opts.log,
        store: this.store,
        members: (only) => (only ?? this.nodeNames()).filter((n) => this.members.has(n)),
        reachable: (n) => this.liveness.reachable(n),
        push: (n, frame) => this.out.push([n, frame]),
        send: (n, msg) => this.sendTo(n, msg),
        committed: (n, modules) => {
          const m = this.members.get(n);
          if (m) for (const mod of modules) m.versions[mod.name] = mod.version;
        },
        silent: (n) => this.liveness.markLost(n),
        runs: (n, module) => this.members.get(n)?.running.has(module) ?? false,
      },
      opts.prepareTimeoutMs,
      opts.allOrNothing,
    );
    this.clients = {
      log: opts.log,
      cluster: opts.cluster,
      nodes: opts.nodes,
      store: this.store,
      status: () => this.status(),
      historyReport: (module) => this.historyReport(module),
      compile: (modules) => opts.compile(modules),
      reload: (modules, opts) => this.reload(modules, opts),
      rollback: (names, opts) => this.rollback(names, opts),
      nodeRequest: (node, op, timeoutMs) => this.nodeRequest(node, op, timeoutMs),
      whereis: (name) => this.names.get(name),
      names: () => Object.fromEntries(this.names),
      osPidOf: (node) => this.members.get(node)?.osPid ?? null,
      ...(opts.restart ? { restart: opts.restart } : {}),
      ...(opts.logs ? { logs: opts.logs } : {}),
      trace: (req) => this.traces.request(req),
    };
    this.router = secureRouter(opts.keys);
    this.out = new Outbox(this.router, (err, frames) => this.opts.log.warn({ err, to: frames[0]?.toString() }, "send failed"));
  }

  get log(): Logger {
    return this.opts.log;
  }

  async start(initial: CompiledModule[]): Promise<string> {
    this.store.commit(initial);
    this.history.record(initial, "up");
    this.zap = await ZapHandler.start(this.opts.keys, this.opts.log);
    try {
      this.endpoint = await bindLoopback(this.router, this.opts.host, this.opts.port);
      this.zap.refusals.watch(this.router, this.endpoint);
    } catch (err) {
      // The message keeps the OS's reason (EADDRINUSE, EACCES); the code says what to change: the port.
      throw new ClusterError(
        "bad_port",
        `the coordinator cannot listen on ${this.opts.host}:${this.opts.port} ("coordinator" in cluster.config.json): ${(err as Error).message}. Pick another port, or 0 for any free one.`,
        { cause: err },
      );
    }
    void this.serve();
    return this.endpoint;
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private sendTo(id: string, msg: ControlMessage | ClientMessage): void {
    this.out.push([id, encode(msg)]);
  }

  private async serve(): Promise<void> {
    try {
      for await (const [id, frame] of this.router) {
        const who = id?.toString() ?? "?";
        const r = decodeCoordinatorInbound(frame);
        if (!r.ok) {
          this.drops.note(who, { from: who, reason: r.reason }, "dropped frame");
          continue;
        }
        try {
          this.onMessage(who, r.msg);
        } catch (err) {
          this.log.error({ err, from: who }, "message handling failed");
        }
      }
    } catch (err) {
      if (!this.closed) this.log.error({ err }, "control socket failed");
    }
  }

  private onMessage(from: string, msg: CoordinatorInbound): void {
    if (msg.type !== "hello") this.liveness.seen(from);
    switch (msg.type) {
      case "hello":
        void this.serial(() => this.join(from, msg));
        return;
      case "started": {
        const m = this.members.get(msg.node);
        if (m) m.started = true;
        this.log.info({ member: msg.node, ms: Math.round(msg.ms) }, `${msg.node} running its entry`);
        this.emit("nodeStarted", msg.node);
        if (!this.ready && this.opts.nodes.every((n) => this.members.get(n)?.started)) {
          this.ready = true;
          this.emit("ready");
        }
        return;
      }
      case "startFailed":
        this.log.error({ member: msg.node, error: msg.error.message }, `${msg.node}: entry start failed; the node will be restarted`);
        return;
      case "ready":
      case "failed":
      case "committed":
        this.reloads.answer(msg);
        return;
      case "closures":
        this.reloads.findings(msg);
        return;
      case "loaded": {
        const m = this.members.get(msg.node);
        if (m) for (const name of msg.modules) m.running.add(name);
        return;
      }
      case "register": {
        const holder = this.names.get(msg.name);
        if (holder && !holder.equals(msg.pid)) {
          this.sendTo(from, { type: "nameReply", ref: msg.ref, error: wire("name_taken", `name ${msg.name} is taken by ${holder}`) });
          return;
        }
        this.names.set(msg.name, msg.pid);
        this.broadcast({ type: "names", set: { [msg.name]: msg.pid }, unset: [] });
        this.sendTo(from, { type: "nameReply", ref: msg.ref, pid: msg.pid });
        return;
      }
      case "unregister":
        if (this.names.get(msg.name)?.equals(msg.pid)) {
          this.names.delete(msg.name);
          this.broadcast({ type: "names", set: {}, unset: [msg.name] });
        }
        return;
      case "whereis":
        this.sendTo(from, { type: "nameReply", ref: msg.ref, ...(this.names.has(msg.name) ? { pid: this.names.get(msg.name)! } : {}) });
        return;
      case "nodeResponse":
        this.nodeRequests.resolve(msg.id, msg);
        return;
      case "request":
        void this.answerClient(from, msg.id, msg.req);
        return;
      case "pong":
        return;
      case "ping":
      case "welcome":
      case "peers":
      case "refused":
      case "prepare":
      case "commit":
      case "abort":
      case "names":
      case "nameReply":
      case "nodeRequest":
      case "response":
        this.log.warn({ from, type: msg.type }, "ignoring message meant for a node or client");
        return;
      default: {
        const unhandled: never = msg;
        return unhandled;
      }
    }
  }

  private broadcast(msg: ControlMessage): void {
    for (const name of this.members.keys()) this.sendTo(name, msg);
  }

  /** Configured nodes in config order, then nodes that joined, in the order they joined. */
  private nodeNames(): string[] {
    return [...this.opts.nodes, ...[...this.members.values()].filter((m) => m.joined && !this.opts.nodes.includes(m.name)).map((m) => m.name)];
  }

  private refuse(from: string, reason: string, fields: Record<string, unknown>): void {
    this.log.warn({ from, ...fields, reason }, `refused ${from}'s join: ${reason}`);
    this.sendTo(from, { type: "refused", reason });
  }

  private peers(): PeerInfo[] {
    return [...this.members.values()].map((m) => ({ name: m.name, endpoint: m.endpoint }));
  }

  private async join(from: string, msg: Extract<ControlMessage, { type: "hello" }>): Promise<void> {
    if (msg.protocol !== PROTOCOL_VERSION || msg.node !== from) {
      this.refuse(from, `protocol ${msg.protocol} or name ${msg.node} does not match (this coordinator speaks protocol ${PROTOCOL_VERSION})`, {});
      return;
    }
    const configured = this.opts.nodes.includes(msg.node);
    if (msg.joined && configured) {
      this.refuse(from, `${msg.node} is one of the nodes \`up\` starts (cluster.config.json); give the joining node another --name`, { member: msg.node });
      return;
    }
    if (!msg.joined && !configured) {
      this.refuse(from, `${msg.node} is not a node of cluster.config.json (nodes: ${this.opts.nodes.join(", ")})`, { member: msg.node });
      return;
    }
    const known = this.members.get(msg.node);
    if (msg.joined && known && known.osPid !== msg.osPid && known.endpoint !== msg.endpoint && this.liveness.reachable(msg.node)) {
      this.refuse(from, `the name ${msg.node} is taken by a running node at ${known.endpoint}; give this one another --name`, { member: msg.node });
      return;
    }
    if (msg.versions) {
      this.adopt(from, msg, msg.versions);
      return;
    }
    const incarnation = this.joins.get(msg.node) ?? 0;
    this.joins.set(msg.node, incarnation + 1);
    const rejoin = incarnation > 0;
    this.addMember(msg, false);
    this.log.info({ member: msg.node, osPid: msg.osPid, endpoint: msg.endpoint, rejoin }, `${msg.node} joined`);
    this.welcome(from, this.store.bundles(), incarnation);
    this.broadcast({ type: "peers", peers: this.peers() });
  }

  /** What a node gets on joining or on being adopted: the cluster, its peers, the code it lacks, and every name. */
  private welcome(to: string, bundles: ReturnType<CodeStore["bundles"]>, incarnation: number): void {
    this.sendTo(to, {
      type: "welcome",
      cluster: this.opts.cluster,
      entry: this.opts.entry,
      nodes: this.nodeNames(),
      peers: this.peers(),
      bundles,
      incarnation,
    });
    this.sendTo(to, { type: "names", set: Object.fromEntries(this.names), unset: [] });
  }

  /** Records a node that said hello; `started`: it already runs its entry (adopted). Its versions are the store's once it has joined or caught up. */
  private addMember(msg: Extract<ControlMessage, { type: "hello" }>, started: boolean): void {
    this.members.set(msg.node, {
      name: msg.node,
      endpoint: msg.endpoint,
      joined: msg.joined === true,
      osPid: msg.osPid,
      started,
      versions: this.store.versions(),
      running: new Set(),
    });
    this.liveness.add(msg.node);
  }

  /**
   * A node that already runs says hello: it lost its coordinator (this one
   * was restarted, or the link was cut) and is adopted as it is, with no
   * restart and its processes and pids intact. The welcome carries only the
   * modules it is behind on, which it loads before it handles messages from
   * peers it lost meanwhile; the names of its processes are registered again.
   */
  private adopt(from: string, msg: Extract<ControlMessage, { type: "hello" }>, versions: Record<string, string>): void {
    const known = this.members.get(msg.node);
    if (!this.joins.has(msg.node)) this.joins.set(msg.node, 1);
    const behind = this.store.names().filter((n) => versions[n] !== this.store.get(n)!.version);
    this.addMember(msg, true);
    const set: Record<string, Pid> = {};
    for (const [name, pid] of Object.entries(msg.names ?? {})) {
      if (!(pid instanceof Pid) || pid.node !== msg.node || this.names.has(name)) continue;
      this.names.set(name, pid);
      set[name] = pid;
    }
    this.log.info(
      { member: msg.node, osPid: msg.osPid, endpoint: msg.endpoint, behind, adopted: !known },
      `${msg.node} ${known ? "is back" : "adopted"} (no restart)${behind.length ? `: catching up ${behind.join(", ")}` : ", running the current code"}`,
    );
    // incarnation -1: a running node keeps its pids
    this.welcome(
      from,
      this.store.bundles().filter((b) => behind.includes(b.name)),
      -1,
    );
    if (Object.keys(set).length) this.broadcast({ type: "names", set, unset: [] });
    this.broadcast({ type: "peers", peers: this.peers() });
    this.emit("adopted", msg.node, behind);
    if (behind.length) {
      // The welcome is this node's catch-up: `up` logs it as one, like a catch-up transaction.
      const modules = behind.map((n) => ({ name: n, version: this.store.get(n)!.version }));
      const report: ReloadReport = { ok: true, modules, nodes: [{ node: msg.node, ok: true, ms: 0 }], ms: 0 };
      this.emit("reloaded", report, { source: "catch-up", node: msg.node } satisfies TransactionInfo);
    }
  }

  /** The launcher saw a node's OS process end: forget it and the names of its processes. */
  nodeDown(name: string): void {
    if (!this.members.delete(name)) return;
    this.liveness.remove(name);
    const unset = [...this.names].filter(([, pid]) => pid.node === name).map(([n]) => n);
    for (const n of unset) this.names.delete(n);
    this.broadcast({ type: "peers", peers: this.peers() });
    if (unset.length) this.broadcast({ type: "names", set: {}, unset });
    this.reloads.nodeDown(name);
    this.failRequests((n) => n === name, "nodedown", `node ${name} went down before it answered`);
  }

  /** Requests that will get no answer fail now rather than at their timeout (which would also keep `up` alive after stop). */
  private failRequests(which: (node: string) => boolean, code: ErrorCode, message: string): void {
    this.nodeRequests.failWhere(
      (node) => node !== undefined && which(node),
      () => new ClusterError(code, message),
    );
  }

  // ---- reload transaction (docs/design.md §6) ---------------------------------------

  /** Moves a set of modules to new versions on every node, or on none. */
  reload(modules: CompiledModule[], opts: { force?: boolean; source?: ReloadSource; allOrNothing?: boolean } = {}): Promise<ReloadReport> {
    const tx = opts.allOrNothing !== undefined ? { allOrNothing: opts.allOrNothing } : undefined;
    return this.serial(() => this.transaction(modules, opts.force ?? false, tx, { source: opts.source ?? "cli" }));
  }

  /** Every transaction, whoever started it, ends in one "reloaded" event: `up` logs each one from there. */
  private async transaction(
    modules: CompiledModule[],
    force: boolean,
    opts: Parameters<ReloadTransactions["run"]>[2],
    info: TransactionInfo,
  ): Promise<ReloadReport> {
    const report = await this.reloads.run(modules, force, opts);
    // The store records a set once COMMIT went out (even when a node did not confirm): so does the history.
    const source = versionSource(info);
    if (source && report.failedIn !== "prepare" && opts?.store !== "keep") {
      this.history.record(modules, source, info.source === "save" ? undefined : info.source);
    }
    this.emit("reloaded", report, info);
    return report;
  }

  /**
   * A member that was unreachable runs what it ran then: bring it to the
   * store's versions, the way a (re)joining node is given them.
   */
  private async catchUp(node: string): Promise<void> {
    const m = this.members.get(node);
    if (!m) return;
    const behind = this.store
      .names()
      .filter((n) => m.versions[n] !== this.store.get(n)!.version)
      .map((n) => this.store.get(n)!);
    if (behind.length === 0) return;
    // A node just back may be slow for a while: its catch-up gets the longer deadline, so it is not cut off again at once.
    await this.transaction(behind, false, { only: [node], store: "keep", timeoutMs: 5000 }, { source: "catch-up", node });
  }

  /**
   * Moves modules back to the version each had before its last reload, on
   * every node; with `to`, one module to any version it ran since `up` (a
   * version prefix as `history` shows it). Going `to` a version is a new
   * step forward in the store, so a plain rollback afterwards undoes it.
   */
  rollback(names: string[], opts: { force?: boolean; source?: ReloadSource; to?: string } = {}): Promise<ReloadReport> {
    return this.serial(async () => {
      if (opts.to !== undefined) {
        if (names.length !== 1) throw new ClusterError("badarg", `rollback --to names one module, got ${names.length} (${names.join(", ")})`);
        const target = this.history.find(names[0]!, opts.to);
        return this.transaction([target], opts.force ?? false, undefined, { source: opts.source ?? "cli", rollback: true });
      }
      const missing = names.filter((n) => !this.store.previous(n));
      if (missing.length) {
        throw new ClusterError("no_history", `no earlier version of ${missing.join(", ")} to roll back to (a module has one after it has been reloaded)`);
      }
      return this.transaction(
        names.map((n) => this.store.previous(n)!),
        opts.force ?? false,
        { store: "rollback" },
        { source: opts.source ?? "cli", rollback: true },
      );
    });
  }

  // ---- clients (CLI, shell) --------------------------------------------------

  /** Relays an operation to a node and waits for its answer. */
  async nodeRequest(node: string, op: NodeOp, timeoutMs = 10_000): Promise<unknown> {
    if (!this.members.has(node)) {
      const known = this.nodeNames().join(", ");
      throw new ClusterError("nodedown", `unknown or down node ${node} (nodes: ${known})`);
    }
    const id = ++this.requestSeq;
    const answer = expectWithin(
      this.nodeRequests,
      id,
      { timeoutMs, tag: node, what: `${op.op} on node ${node}` },
      `node ${node} did not answer ${op.op} within ${timeoutMs} ms`,
    );
    this.sendTo(node, { type: "nodeRequest", id, op });
    const msg = await answer;
    if (!msg.ok) throw ClusterError.fromWire(msg.error ?? { code: "error", message: "node error" });
    return msg.value;
  }

  async status(): Promise<StatusReport> {
    const nodes = await Promise.all(
      this.nodeNames().map(async (name): Promise<NodeStatus> => {
        const m = this.members.get(name);
        const restarts = Math.max(0, (this.joins.get(name) ?? 0) - 1);
        if (!m) return { name, pid: null, up: false, state: "down", processes: 0, modules: {}, restarts };
        const where = { host: hostOf(m.endpoint), ...(m.joined ? { joined: true } : {}) };
        try {
          const info = (await this.nodeRequest(name, { op: "info" }, 3000)) as NodeInfo;
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
          };
        } catch {
          return { name, ...where, pid: m.osPid, up: false, state: "not answering", processes: 0, modules: {}, restarts };
        }
      }),
    );
    const found = this.opts.disk ? await this.opts.disk().catch(() => undefined) : undefined;
    // A module no node runs is not "running" an old version: the nodes keep it for a first spawn.
    const runs = new Set(nodes.flatMap((n) => Object.keys(n.modules)));
    const drift = found?.map((d) => (runs.has(d.module) ? d : { ...d, kept: true }));
    return { name: this.opts.cluster, endpoint: this.endpoint, nodes, ...(drift ? { drift } : {}) };
  }

  /** Every version since `up` of one module (or of each), with the nodes that run each now. */
  historyReport(module?: string): HistoryReport {
    if (module !== undefined && !this.history.of(module).length) {
      throw new ClusterError("unknown_module", `unknown module ${module} (modules: ${this.history.modules().join(", ")})`);
    }
    const names = module !== undefined ? [module] : this.history.modules();
    return {
      modules: names.map((name) => ({
        module: name,
        versions: this.history.of(name).map((e, i, all) => ({
          ...e,
          current: i === all.length - 1,
          nodes: this.opts.nodes.filter((n) => this.members.get(n)?.versions[name] === e.version && this.members.get(n)!.running.has(name)),
        })),
      })),
    };
  }

  private async answerClient(from: string, id: number, req: ClientRequest): Promise<void> {
    let response: ClientMessage;
    try {
      response = { type: "response", id, ok: true, value: await answerRequest(this.clients, req) };
    } catch (err) {
      response = { type: "response", id, ok: false, error: toWireError(err) };
    }
    this.sendTo(from, response);
    if (req.type === "stop") this.emit("stop");
  }

  /** What the observer page shows of the membership: nodes joined now, and how often each was restarted. */
  membership(): { node: string; up: boolean; osPid: number | null; restarts: number }[] {
    return this.opts.nodes.map((node) => {
      const m = this.members.get(node);
      return { node, up: m !== undefined && this.liveness.reachable(node), osPid: m?.osPid ?? null, restarts: Math.max(0, (this.joins.get(node) ?? 0) - 1) };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.traces.close();
    this.failRequests(() => true, "shutdown", "the cluster is stopping");
    this.reloads.close();
    this.liveness.close();
    // The answers of requests just failed (here, or by the nodes going down just before) travel
    // through promise chains: let them reach the outbox, so a client hears why instead of hanging.
    await new Promise((resolve) => setImmediate(resolve));
    this.out.close();
    this.router.close();
    this.drops.close();
    this.zap?.close();
  }
}
