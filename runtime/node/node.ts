import { ModuleTable } from "../code/loader";
import { createApi, type Api, type Runtime } from "../api";
import * as ops from "./nodeOps";
import type { Logger } from "../../wire/log";
import { Pid } from "../../wire/pid";
import { Processes, type Proc } from "../process/process";
import { Signals } from "../process/signals";
import { SUPERVISOR } from "../process/supervisor";
import { Supervision } from "./supervision";
import { Timers } from "../process/timers";
import { toWireError, type Bundle, type ControlMessage, type NodeInfo, type WireError } from "../../wire/protocol";
import type { ClusterKeys } from "../../wire/security";
import { PeerLinks } from "./peers";
import { Calls, DEFAULT_CALL_TIMEOUT_MS } from "./calls";
import { Messaging } from "./messaging";
import { Membership } from "./membership";
import { Names } from "./names";
import { Reloads } from "../code/reloads";
import { LiveEdit } from "../code/liveEdit";
import { leftRunning } from "../code/topLevelHandles";
import { ControlLink } from "./control";
import { NodeStats } from "./stats";
import { CatchUpHold } from "./catchUpHold";
import { ClusterError } from "../../wire/errors";
import type { ObserverOp } from "../../wire/observer";
import { runObserverOp } from "./observe";
import { Tracer } from "./trace";
import { ProcessApi } from "./processApi";
import { restoreOrRefuse, writeNodeSnapshot, type KeepStateHost, type Restored, type SnapshotSummary } from "./keepState";

export interface NodeOptions {
  name: string;
  coordinator: string;
  /** the address its peer endpoint binds on and advertises: one the other machines reach (default loopback) */
  host?: string;
  /** started by `devcluster node --join`: outlives its coordinator, and rejoins the next one */
  joined?: boolean;
  keys: ClusterKeys;
  srcDir: string;
  log: Logger;
  /** where peers on this host meet over ipc (`.devcluster/ipc`, 0700); tcp only without it */
  ipcDir?: string;
  /** give up joining after this long (`devcluster node --timeout`) */
  joinTimeoutMs?: number;
  /** its output goes to the coordinator, through {@link ClusterNode.shipLog} (a joined node: no `up` reads its stdout) */
  shipLogs?: boolean;
  /** a snapshot its previous life (or the cluster's `stop --keep-state`) wrote: its processes come back instead of the entry's start */
  restoreFrom?: string;
}

/**
 * One node of the cluster: its module table and processes, its link to the
 * coordinator, and a DEALER to every peer (each node receives on its own
 * ROUTER, so a message's route never depends on who connected first).
 */
export class ClusterNode extends ProcessApi implements Runtime {
  override readonly name: string;
  readonly srcDir: string;
  readonly log: Logger;
  readonly table: ModuleTable;
  override readonly procs: Processes;
  override readonly signals: Signals;
  override readonly timers: Timers;
  /** what `require("devcluster")` gives this node's modules (each adds its own `hot`) */
  readonly api: Api;
  private readonly stats: NodeStats;
  private readonly liveEdit: LiveEdit;
  /** tracing of messages and calls; `tracer.on` is the one check the message path pays */
  readonly tracer: Tracer;
  private readonly control: ControlLink;
  private readonly links: PeerLinks;
  protected override readonly messaging: Messaging;
  readonly calls: Calls;
  protected override readonly supervision: Supervision;
  protected override readonly names: Names;
  private readonly reloads: Reloads;
  private closed = false;
  /** what the restore from a snapshot did at start (null: started fresh) */
  private restoreReport: Restored | null = null;
  /** the node's side of its coordinator: join, loss, adoption, and the control messages (membership.ts) */
  private readonly membership: Membership;
  /** peer messages held while this node catches up with the cluster's code (catchUpHold.ts) */
  private readonly hold: CatchUpHold;
  cluster = "";
  entry = "";
  nodes: string[] = [];
  endpoint = "";

  constructor(private readonly opts: NodeOptions) {
    super();
    this.name = opts.name;
    this.srcDir = opts.srcDir;
    this.log = opts.log;
    this.api = createApi(this);
    this.calls = new Calls(this.name);
    this.tracer = new Tracer({ node: this.name, facade: (m) => this.traced(m) });
    this.supervision = new Supervision(this);
    this.table = new ModuleTable({
      srcDir: opts.srcDir,
      log: opts.log,
      runtimeFor: (_module, hot) => Object.freeze({ ...this.api, hot }),
      oldVersionUsers: (module) => this.procs.oldVersionUsers(module),
    });
    this.procs = new Processes(
      this.table,
      {
        node: this.name,
        log: this.log,
        reply: (from, reply) => this.reply(from, reply),
        exited: (proc, reason) => this.exited(proc, reason),
        load: (module) => this.reloads.loadOnFirstUse(module),
      },
      {
        [ops.SHELL_MAILBOX]: ops.shellMailbox(this.api),
        [SUPERVISOR]: this.supervision.behaviour,
      },
    );
    this.signals = new Signals({
      node: this.name,
      procs: this.procs,
      log: this.log,
      toPeer: (node, msg) => this.messaging.toPeer(node, msg),
      connected: (node) => this.links.connected(node),
      makeRef: () => this.makeRef(),
    });
    this.timers = new Timers(() => this.makeRef());
    this.control = new ControlLink(opts.name, opts.keys, opts.log);
    this.stats = new NodeStats({
      node: this.name,
      versions: () => this.table.versions(),
      processes: () => this.procs.count,
      timers: () => this.timers.size,
      supervisorsGaveUp: () => this.supervision.gaveUp.map(String),
      stale: () => [...this.liveEdit.stillOld(), ...leftRunning(new Map(Object.entries(this.table.versions())))],
    });
    const toCoordinator = (msg: ControlMessage): void => this.toCoordinator(msg);
    this.liveEdit = new LiveEdit({ log: this.log });
    this.names = new Names({ node: this.name, calls: this.calls, toCoordinator, alive: (id) => this.procs.get(id) !== undefined });
    this.reloads = new Reloads({
      node: this.name,
      srcDir: opts.srcDir,
      log: this.log,
      table: this.table,
      procs: this.procs,
      toCoordinator,
      liveEdit: this.liveEdit,
      compiled: (name) => this.table.compiled(name),
    });
    this.hold = new CatchUpHold(opts.log, (msg, from) => this.messaging.receive(msg, from));
    this.links = new PeerLinks(
      opts.name,
      opts.keys,
      opts.log,
      {
        message: (msg, from) => this.hold.message(msg, from),
        down: (node) => {
          this.hold.peerDown(node);
          this.lost(node);
        },
        up: (node) => {
          this.hold.peerUp(node);
          this.signals.nodeUp(node);
        },
      },
      opts.ipcDir,
    );
    this.messaging = new Messaging({
      name: this.name,
      log: this.log,
      procs: this.procs,
      calls: this.calls,
      tracer: this.tracer,
      signals: this.signals,
      links: this.links,
      namesOf: (pid) => this.namesOf(pid),
    });
    const node = this;
    this.membership = new Membership({
      name: this.name,
      log: this.log,
      joined: opts.joined === true,
      ...(opts.joinTimeoutMs !== undefined ? { joinTimeoutMs: opts.joinTimeoutMs } : {}),
      shipLogs: opts.shipLogs === true,
      get endpoint() {
        return node.endpoint;
      },
      get closed() {
        return node.closed;
      },
      get nodes() {
        return node.nodes;
      },
      set nodes(v) {
        node.nodes = v;
      },
      control: this.control,
      links: this.links,
      reloads: this.reloads,
      names: this.names,
      calls: this.calls,
      hold: this.hold,
      table: this.table,
      nodeRequest: (msg) => void ops.answerNodeRequest(this, msg).then((frame) => this.control.sendFrame(frame)),
    });
  }

  /** Joins the cluster: keeps every module's current version, loads the entry and what it imports, then runs the entry's start(ctx). */
  async start(): Promise<void> {
    this.stats.start();
    this.endpoint = await this.links.bind(this.opts.host);
    const w = await this.membership.join(this.opts.coordinator);
    this.cluster = w.cluster;
    this.entry = w.entry;
    this.nodes = w.nodes;
    this.procs.startIdsAt(Pid.of(this.name, 1, w.incarnation).id);
    this.links.set(w.peers);
    this.reloads.join(w.bundles, w.entry);
    const t0 = performance.now();
    const start = this.table.current(w.entry)?.exports.start;
    if (typeof start !== "function") {
      throw new ClusterError("bad_entry", `entry module ${w.entry} exports no start(ctx) function`);
    }
    this.membership.running = true;
    // Processes back from a snapshot are what the entry's start made: it does not run again, unless the snapshot was refused.
    if (this.opts.restoreFrom) this.restoreReport = await restoreOrRefuse(this.keepStateHost(), this.opts.restoreFrom);
    if (!this.restoreReport || this.restoreReport.refused !== undefined) await start({ node: this.name, nodes: [...this.nodes] });
    this.toCoordinator({ type: "started", node: this.name, ms: performance.now() - t0 });
    // The first enable of the debugger is the slow one; pay it now rather than in the first reload's commit.
    setImmediate(() => this.liveEdit.warm());
  }

  snapshot(file: string): Promise<SnapshotSummary> {
    return writeNodeSnapshot(this.keepStateHost(), file);
  }

  restored(): Restored | null {
    return this.restoreReport;
  }

  private keepStateHost(): KeepStateHost {
    return {
      name: this.name,
      cluster: this.cluster,
      log: this.log,
      procs: this.procs,
      timers: this.timers,
      peers: () => this.links.names(),
      toPeer: (node, msg) => this.messaging.toPeer(node, msg),
      namesOf: (pid) => this.namesOf(pid),
      register: (name, pid) => this.register(name, pid),
      send: (pid, msg) => this.send(pid, msg),
      signal: (msg) => {
        const to = msg.to.node;
        if (to === this.name) this.signals.onPeer(msg);
        else this.messaging.toPeer(to, msg);
      },
      exportsOf: async (m) => {
        const builtin = m === SUPERVISOR ? this.supervision.behaviour : m === ops.SHELL_MAILBOX ? ops.shellMailbox(this.api) : undefined;
        if (builtin) return builtin;
        await this.reloads.loadOnFirstUse(m);
        return this.table.current(m)?.exports;
      },
      currentVersion: (m) => (m === SUPERVISOR || m === ops.SHELL_MAILBOX ? "builtin" : this.table.current(m)?.version),
    };
  }

  /** The facade a call trace wraps; tracing is no use of a module, so one this node only keeps is not loaded for it (docs/design.md §4.5). */
  private traced(module: string): Record<string, unknown> {
    if (this.table.has(module)) return this.table.facade(module);
    const message = this.reloads.path.has(module)
      ? `${module} is not loaded on node ${this.name}: nothing there has used it yet, so it has no calls to trace there`
      : `no module ${module} on node ${this.name} (known: ${this.reloads.path.names().sort().join(", ") || "none"})`;
    throw new ClusterError("unknown_module", message, { module });
  }

  /** A module's first use outside a spawn (rpc): loaded from the code path with what it imports. */
  loadModule(module: string): Promise<void> {
    return this.reloads.loadOnFirstUse(module);
  }

  reportStartFailure(err: unknown): void {
    this.toCoordinator({ type: "startFailed", node: this.name, error: toWireError(err, "start_failed") });
  }

  /** One line this node wrote (shipLogs): to the coordinator, with the next batch. */
  shipLog(line: string, stream: "stdout" | "stderr"): void {
    this.membership.shipLog(line, stream);
  }

  private toCoordinator(msg: ControlMessage): void {
    this.control.send(msg);
  }

  info(): NodeInfo {
    return this.stats.info();
  }

  observe(req: ObserverOp): unknown {
    return runObserverOp(this, req);
  }

  // ---- peers ---------------------------------------------------------------

  /** Everything that waited on or watched `name`'s processes hears noconnection. */
  private lost(name: string): void {
    this.calls.nodeDown(name);
    // A node shutting down tells its own processes nothing: they end with it.
    if (!this.closed) this.signals.nodeDown(name);
  }

  private exited(proc: Proc, reason: unknown): void {
    this.timers.cancelAll(proc);
    this.signals.exited(proc, reason);
    this.names.exited(proc.pid);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.membership.leave();
    this.stats.stop();
    this.hold.close();
    this.timers.close();
    this.links.close();
    this.calls.close();
    this.control.close();
    this.liveEdit.close();
  }
}

export type { Bundle, WireError };
export { DEFAULT_CALL_TIMEOUT_MS };
