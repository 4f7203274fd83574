import { EventEmitter } from "node:events";
import type { Logger } from "../../wire/log";
import type { Pid } from "../../wire/pid";
import { encode, type ClientMessage, type ControlMessage, type CoordinatorInbound, type NodeOp, type ReloadSource } from "../../wire/protocol";
import type { ClusterKeys } from "../../wire/security";
import { ControlEndpoint } from "./controlEndpoint";
import { CodeStore } from "./codeStore";
import { Admission, nodeOf, type Member } from "./admission";
import { ClusterStatus, type MemberRow } from "./clusterStatus";
import type { CompiledModule } from "../save/compiler";
import { forgetMs, memberLiveness } from "./liveness";
import { ReloadTransactions, type ReloadReport } from "./reloadTransaction";
import { NodeRequests } from "./nodeRequests";
import { NameRegistry } from "./nameRegistry";
import type { LogAnswer, LogQuery } from "./logs";
import { Traces } from "../observer/traces";
import type { DiskDrift } from "./diskDrift";
import { answerClient, type ClientRequestsHost } from "./clientRequests";
import type { KeptRestart, StatusReport } from "./reports";
import type { KeptStop } from "./keptState";
import { VersionHistory, type HistoryReport } from "./versionHistory";
import { VersionMoves } from "./versionMoves";

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
  restart?(node: string, fresh: boolean): Promise<KeptRestart>;
  /** `stop --keep-state`: every node writes its processes before the cluster stops (keptState.ts) */
  keepState?(): Promise<KeptStop>;
}

/**
 * The coordinator: code store, membership, cluster-wide names, reload
 * transactions, and the control endpoint that nodes and CLI clients reach.
 * It holds the tables and routes each message; its parts (admission,
 * nameRegistry, versionMoves, nodeRequests, clusterStatus) get them by host.
 * Emits "ready" once every configured node has run its entry, "stop" when a
 * client asks the cluster to stop.
 */
export class Coordinator extends EventEmitter {
  readonly store = new CodeStore();
  /** every version each module ran since `up`, for `devcluster history` and `rollback --to` */
  readonly history = new VersionHistory();
  /** the ROUTER nodes and clients reach, and its send queue (cli/dev/controlEndpoint.ts) */
  private readonly socket: ControlEndpoint;
  private readonly members = new Map<string, Member>();
  private readonly names = new Map<string, Pid>();
  /** register, unregister, whereis (cli/dev/nameRegistry.ts) */
  private readonly registry = new NameRegistry({
    names: this.names,
    sendTo: (id, msg) => this.sendTo(id, msg),
    broadcast: (msg) => this.broadcast(msg),
  });
  /** how many times each node has joined: its pids of each life are distinct */
  private readonly joins = new Map<string, number>();
  /** operations relayed to nodes, and their answers (cli/dev/nodeRequests.ts) */
  private readonly nodeRequests = new NodeRequests({
    has: (node) => this.members.has(node),
    nodeNames: () => this.admission.nodeNames(),
    sendTo: (node, msg) => this.sendTo(node, msg),
  });
  private readonly reloads: ReloadTransactions;
  private readonly liveness = memberLiveness({
    log: () => this.log,
    members: this.members,
    ping: (node) => this.sendTo(node, { type: "ping" }),
    catchUp: (node) => void this.serial(() => this.moves.catchUp(node)),
    leave: (node, why) => this.leave(node, why),
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
  /** hellos: refused, joined or adopted (cli/dev/admission.ts) */
  private readonly admission: Admission;
  /** status, history and membership as reports (cli/dev/clusterStatus.ts) */
  private readonly reports: ClusterStatus;
  /** reload, rollback and catch-up, one at a time, recorded and announced (cli/dev/versionMoves.ts) */
  private readonly moves: VersionMoves;
  private ready = false;
  private closed = false;
  endpoint = "";

  constructor(private readonly opts: CoordinatorOptions) {
    super();
    this.reloads = new ReloadTransactions(
      {
        log: opts.log,
        store: this.store,
        members: (only) => (only ?? this.admission.nodeNames()).filter((n) => this.members.has(n)),
        reachable: (n) => this.liveness.reachable(n),
        push: (n, frame) => this.socket.send(this.route(n), frame),
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
      ...(opts.keepState ? { keepState: opts.keepState } : {}),
      ...(opts.logs ? { logs: opts.logs } : {}),
      trace: (req) => this.traces.request(req),
    };
    this.admission = new Admission({
      cluster: opts.cluster,
      entry: opts.entry,
      nodes: opts.nodes,
      log: opts.log,
      store: this.store,
      members: this.members,
      names: this.names,
      joins: this.joins,
      reachable: (n) => this.liveness.reachable(n),
      watch: (n) => this.liveness.add(n),
      sendTo: (id, msg) => this.sendTo(id, msg),
      broadcast: (msg) => this.broadcast(msg),
      emit: (event, ...args) => this.emit(event, ...args),
    });
    this.reports = new ClusterStatus({
      cluster: opts.cluster,
      endpoint: () => this.endpoint,
      nodes: opts.nodes,
      members: this.members,
      joins: this.joins,
      history: this.history,
      nodeNames: () => this.admission.nodeNames(),
      reachable: (n) => this.liveness.reachable(n),
      silentFor: (n) => this.liveness.silentFor(n),
      forgetMs: forgetMs(),
      host: opts.host,
      nodeRequest: (node, op, timeoutMs) => this.nodeRequest(node, op, timeoutMs),
      ...(opts.disk ? { disk: () => opts.disk!() } : {}),
    });
    this.moves = new VersionMoves({
      store: this.store,
      history: this.history,
      members: this.members,
      serial: (task) => this.serial(task),
      run: (modules, force, tx) => this.reloads.run(modules, force, tx),
      emit: (event, report, info) => this.emit(event, report, info),
    });
    this.socket = new ControlEndpoint(opts.keys, opts.log);
  }

  get log(): Logger {
    return this.opts.log;
  }

  async start(initial: CompiledModule[]): Promise<string> {
    this.store.commit(initial);
    this.history.record(initial, "up");
    this.endpoint = await this.socket.start(this.opts.host, this.opts.port, (route, msg) => this.inbound(route, msg));
    return this.endpoint;
  }

  private serial<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** A member's name is sent to on its control link's routing id; anything else (a client, a node being refused) is a routing id already. */
  private route(id: string): string {
    return this.members.get(id)?.route ?? id;
  }

  private sendTo(id: string, msg: ControlMessage | ClientMessage): void {
    this.socket.send(this.route(id), encode(msg));
  }

  private inbound(route: string, msg: CoordinatorInbound): void {
    const who = nodeOf(route);
    // A second process under a member's name is only ever answered its refusal: nothing else it says counts as that member's.
    const member = this.members.get(who);
    if (msg.type !== "hello" && member && member.route !== route && route !== who) return;
    this.onMessage(who, msg, route);
  }

  private onMessage(from: string, msg: CoordinatorInbound, route: string): void {
    if (msg.type !== "hello") this.liveness.seen(from);
    switch (msg.type) {
      case "hello":
        void this.serial(() => this.admission.join(route, msg));
        return;
      case "goodbye":
        if (!this.members.get(from)?.joined) return;
        this.leave(from, "it stopped");
        // After every peer was told: the node closes its links once it has this, so no peer takes that for a lost link.
        this.socket.send(route, encode(this.admission.peersMessage()));
        return;
      case "logs":
        if (!this.members.get(from)?.joined) return;
        for (const l of msg.lines) {
          if (l && typeof l.line === "string") this.emit("nodeLog", from, l.line, l.stream === "stderr" ? "stderr" : "stdout");
        }
        return;
      case "started":
        this.emit("nodeStarted", msg.node);
        if (this.admission.started(msg) && !this.ready) {
          this.ready = true;
          this.emit("ready");
        }
        return;
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
      case "loaded":
        return this.admission.loaded(msg);
      case "register":
        this.registry.register(from, msg);
        return;
      case "unregister":
        this.registry.unregister(msg);
        return;
      case "whereis":
        this.registry.whereis(from, msg);
        return;
      case "nodeResponse":
        this.nodeRequests.answer(msg);
        return;
      case "request":
        void answerClient(this.clients, msg.id, msg.req).then((response) => {
          this.sendTo(route, response);
          if (msg.req.type === "stop") this.emit("stop");
        });
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

  /** A joined node leaves: it said goodbye, or it was silent for DEVCLUSTER_FORGET_MS (liveness.ts). Its peers hear nodedown (if they had not yet) and drop it. */
  private leave(name: string, why: string): void {
    this.admission.left(name, why);
    this.nodeDown(name);
  }

  /** The launcher saw a node's OS process end (or a joined node left): forget it and the names of its processes. */
  nodeDown(name: string): void {
    if (!this.members.delete(name)) return;
    this.liveness.remove(name);
    this.socket.forget(name);
    const unset = this.registry.forget(name);
    this.broadcast(this.admission.peersMessage());
    if (unset.length) this.broadcast({ type: "names", set: {}, unset });
    this.reloads.nodeDown(name);
    this.nodeRequests.fail((n) => n === name, "nodedown", `node ${name} went down before it answered`);
  }

  // ---- reload transaction (docs/design.md §6) ---------------------------------------

  /** Moves a set of modules to new versions on every node, or on none. */
  reload(modules: CompiledModule[], opts: { force?: boolean; source?: ReloadSource; allOrNothing?: boolean } = {}): Promise<ReloadReport> {
    return this.moves.reload(modules, opts);
  }

  /** Moves modules back to the version each had before its last reload, or with `to` to one it ran since `up` (cli/dev/versionMoves.ts). */
  rollback(names: string[], opts: { force?: boolean; source?: ReloadSource; to?: string } = {}): Promise<ReloadReport> {
    return this.moves.rollback(names, opts);
  }

  // ---- clients (CLI, shell) --------------------------------------------------

  /** Relays an operation to a node and waits for its answer. */
  nodeRequest(node: string, op: NodeOp, timeoutMs = 10_000): Promise<unknown> {
    return this.nodeRequests.request(node, op, timeoutMs);
  }

  status(): Promise<StatusReport> {
    return this.reports.status();
  }

  /** Every version since `up` of one module (or of each), with the nodes that run each now. */
  historyReport(module?: string): HistoryReport {
    return this.reports.historyReport(module);
  }

  /** What the observer page shows of the membership: nodes joined now, and how often each was restarted. */
  membership(): MemberRow[] {
    return this.reports.membership();
  }

  /** `up` is stopping its nodes: members going silent or away are expected, and said nothing of. */
  stopping(): void {
    this.liveness.close();
    this.socket.mute();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.traces.close();
    this.nodeRequests.fail(() => true, "shutdown", "the cluster is stopping");
    this.reloads.close();
    this.liveness.close();
    // The answers of requests just failed (here, or by the nodes going down just before) travel
    // through promise chains: let them reach the outbox, so a client hears why instead of hanging.
    await new Promise((resolve) => setImmediate(resolve));
    this.socket.close();
  }
}
