import { ModuleTable } from "../code/loader";
import { createApi, type Api, type Runtime } from "../api";
import * as ops from "./nodeOps";
import type { Logger } from "../../wire/log";
import { Pid } from "../../wire/pid";
import { Processes, noproc, selfProc, type Envelope, type Proc, type Reply } from "../process/process";
import { checkSendable } from "../../wire/sendable";
import { Signals } from "../process/signals";
import { SUPERVISOR, type ChildInfo, type ChildSpec, type SupervisorSpec } from "../process/supervisor";
import { Supervision } from "./supervision";
import { runSys } from "../process/sys";
import { Timers } from "../process/timers";
import type { Ownable } from "../process/resources";
import {
  PROTOCOL_VERSION,
  encodePeer,
  encodeChecked,
  toWireError,
  type Bundle,
  type ControlMessage,
  type From,
  type NodeInfo,
  type ProcessInfo,
  type PeerMessage,
  type SysOp,
  type WireError,
} from "../../wire/protocol";
import type { ClusterKeys } from "../../wire/security";
import { PeerLinks } from "./peers";
import { Calls, DEFAULT_CALL_TIMEOUT_MS } from "./calls";
import { Names } from "./names";
import { Reloads } from "../code/reloads";
import { LiveEdit } from "../code/liveEdit";
import { ControlLink, type Welcome } from "./control";
import { NodeStats } from "./stats";
import { CatchUpHold } from "./catchUpHold";
import { ClusterError } from "../../wire/errors";
import type { ObserverOp } from "../../wire/observer";
import { runObserverOp } from "./observe";
import { Tracer } from "./trace";

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
}

/**
 * One node of the cluster: its module table and processes, its link to the
 * coordinator, and a DEALER to every peer (each node receives on its own
 * ROUTER, so a message's route never depends on who connected first).
 */
export class ClusterNode implements Runtime {
  readonly name: string;
  readonly srcDir: string;
  readonly log: Logger;
  readonly table: ModuleTable;
  readonly procs: Processes;
  readonly signals: Signals;
  readonly timers: Timers;
  /** what `require("devcluster")` gives this node's modules (each adds its own `hot`) */
  readonly api: Api;
  private readonly stats: NodeStats;
  private readonly liveEdit: LiveEdit;
  /** tracing of messages and calls; `tracer.on` is the one check the message path pays */
  readonly tracer: Tracer;
  private readonly refPrefix = `${process.pid.toString(36)}${Date.now().toString(36)}`;
  private readonly control: ControlLink;
  private readonly links: PeerLinks;
  readonly calls: Calls;
  private readonly supervision: Supervision;
  private readonly names: Names;
  private readonly reloads: Reloads;
  private nextRef = 1;
  private closed = false;
  private welcomed?: { resolve(msg: Welcome): void; reject(err: Error): void };
  /** entry started: a later welcome is an adoption, not a start */
  private running = false;
  /** peer messages held while this node catches up with the cluster's code (catchUpHold.ts) */
  private readonly hold: CatchUpHold;
  cluster = "";
  entry = "";
  nodes: string[] = [];
  endpoint = "";

  constructor(private readonly opts: NodeOptions) {
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
      toPeer: (node, msg) => this.toPeer(node, msg),
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
    this.hold = new CatchUpHold(opts.log, (msg, from) => this.onPeer(msg, from));
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
  }

  /** Joins the cluster: keeps every module's current version, loads the entry and what it imports, then runs the entry's start(ctx). */
  async start(): Promise<void> {
    this.stats.start();
    this.endpoint = await this.links.bind(this.opts.host);
    const welcome = new Promise<Welcome>((resolve, reject) => (this.welcomed = { resolve, reject }));
    this.control.open(this.opts.coordinator, (msg) => this.onControl(msg), { lost: () => this.coordinatorLost(), back: () => this.coordinatorBack() });
    this.toCoordinator(this.hello());
    const w = await welcome;
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
    this.running = true;
    await start({ node: this.name, nodes: [...this.nodes] });
    this.toCoordinator({ type: "started", node: this.name, ms: performance.now() - t0 });
    // The first enable of the debugger is the slow one; pay it now rather than in the first reload's commit.
    setImmediate(() => this.liveEdit.warm());
  }

  /** Who this node is, to a coordinator; a running node adds what it runs and the names its processes hold. */
  private hello(running: { versions: Record<string, string>; names: Record<string, Pid> } | Record<string, never> = {}): ControlMessage {
    return {
      type: "hello",
      protocol: PROTOCOL_VERSION,
      node: this.name,
      osPid: process.pid,
      endpoint: this.endpoint,
      ...(this.opts.joined ? { joined: true } : {}),
      ...running,
    };
  }

  // ---- losing the coordinator, and being adopted by the next one -------------

  private coordinatorLost(): void {
    if (!this.running || this.closed) return;
    this.log.warn(
      {},
      this.opts.joined
        ? "lost the coordinator: this node keeps running and serving, and rejoins when a coordinator is back"
        : "lost the coordinator link: rejoining when it is back",
    );
    this.hold.coordinatorLost();
  }

  /** Says hello again, as a node that runs: the coordinator adopts it and sends what it is behind on. */
  private coordinatorBack(): void {
    if (!this.running || this.closed) return;
    this.hold.coordinatorBack();
    // What it has, evaluated or kept: the coordinator sends only what differs.
    this.toCoordinator(this.hello({ versions: this.reloads.path.versions(), names: this.names.own() }));
  }

  /** The coordinator's welcome to a node that already runs: load what it is behind on, then handle what was held. */
  private async adopted(w: Welcome): Promise<void> {
    this.nodes = [...new Set([...this.nodes, ...w.nodes])];
    this.links.set(w.peers);
    // A catch-up transaction may have brought some of these already (it raced this welcome): load only what still differs.
    const has = this.reloads.path.versions();
    const behind = w.bundles.filter((b) => has[b.name] !== b.version);
    try {
      const changed = await this.reloads.adopt(behind);
      if (changed.length > 0) this.log.info({ modules: changed.map((c) => `${c.name}@${c.to}`) }, "caught up with the cluster's code");
    } catch (err) {
      this.log.error({ err }, "could not load the cluster's current code after rejoining; running the code it had");
    }
    // The new coordinator knows nothing of what runs here until told.
    this.toCoordinator({ type: "loaded", node: this.name, modules: Object.keys(this.table.versions()) });
    this.hold.synced();
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

  private toCoordinator(msg: ControlMessage): void {
    this.control.send(msg);
  }

  // ---- control link -------------------------------------------------------

  private async onControl(msg: ControlMessage): Promise<void> {
    switch (msg.type) {
      case "welcome":
        if (this.welcomed) {
          this.welcomed.resolve(msg);
          this.welcomed = undefined;
        } else if (this.running) await this.adopted(msg);
        return;
      case "refused":
        if (this.welcomed) {
          this.welcomed.reject(new ClusterError("join_refused", `the coordinator refused this node: ${msg.reason}`));
          this.welcomed = undefined;
        } else this.log.error({ reason: msg.reason }, `the coordinator refused this node: ${msg.reason}`);
        return;
      case "peers":
        this.nodes = [...new Set([...this.nodes, ...msg.peers.map((p) => p.name)])];
        return this.links.set(msg.peers);
      case "prepare":
        return this.reloads.prepare(msg);
      case "commit":
        return this.reloads.commit(msg);
      case "abort":
        return this.reloads.abort(msg);
      case "names":
        return this.names.update(msg);
      case "nameReply":
        return this.calls.settle(msg.ref, msg.error ? { ok: false, error: msg.error } : { ok: true, value: msg.pid });
      case "ping":
        this.toCoordinator({ type: "pong", node: this.name });
        return;
      case "nodeRequest":
        // Not awaited: an op may itself wait for the coordinator (spawn of a process whose init registers a name, whereis in evalOn), and those answers come through this same loop.
        void ops.answerNodeRequest(this, msg).then((frame) => this.control.sendFrame(frame));
        return;
      case "hello":
      case "started":
      case "startFailed":
      case "ready":
      case "failed":
      case "committed":
      case "closures":
      case "loaded":
      case "register":
      case "unregister":
      case "whereis":
      case "nodeResponse":
      case "pong":
        this.log.warn({ type: msg.type }, "ignoring message meant for the coordinator");
        return;
      default: {
        const unhandled: never = msg;
        return unhandled;
      }
    }
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

  private onPeer(msg: PeerMessage, _from?: string): void {
    switch (msg.type) {
      case "deliver":
        if (!this.procs.deliver(msg.to, { kind: msg.kind, msg: msg.msg })) this.log.debug({ to: msg.to }, "message to a dead process dropped");
        return;
      case "call":
        if (!this.procs.deliver(msg.to, { kind: "call", msg: msg.msg, from: msg.from }))
          this.reply(msg.from, { ok: false, error: noproc(new Pid(this.name, msg.to)) });
        return;
      case "reply":
        return this.calls.settle(
          msg.ref,
          msg.ok ? { ok: true, value: msg.value } : { ok: false, error: msg.error ?? { code: "error", message: "remote error" } },
        );
      case "spawn":
        this.procs
          .spawnProc(msg.module, msg.args, {
            // Linked before its first message can run, so no exit of the new process goes unsignalled.
            init: (p) => (msg.link ? (p.links ??= new Map()).set(msg.link.toString(), msg.link) : undefined),
          })
          .then(
            (proc) => this.reply(msg.from, { ok: true, value: proc.pid }),
            (err: unknown) => this.reply(msg.from, { ok: false, error: toWireError(err, "spawn_failed") }),
          );
        return;
      case "link":
      case "unlink":
      case "exit":
      case "monitor":
      case "demonitor":
      case "down":
        return this.signals.onPeer(msg);
      case "sys":
        runSys(this, msg.pid, msg.op).then(
          (value) => this.reply(msg.from, { ok: true, value }),
          (err: unknown) => this.reply(msg.from, { ok: false, error: toWireError(err) }),
        );
        return;
      default: {
        const unhandled: never = msg;
        return unhandled;
      }
    }
  }

  private toPeer(node: string, msg: PeerMessage): boolean {
    return this.links.send(node, msg);
  }

  // ---- messaging API -------------------------------------------------------

  reply(from: From, reply: Reply): void {
    if (this.tracer.on) this.tracer.message("reply", selfProc()?.pid, `<reply to ${from.node}>`, reply.ok ? reply.value : reply.error);
    this.procs.replied(from);
    if (from.node === this.name) return this.calls.settle(from.ref, reply);
    let sent: boolean;
    try {
      sent = this.toPeer(from.node, { type: "reply", ref: from.ref, ...(reply.ok ? { ok: true, value: reply.value } : { ok: false, error: reply.error }) });
    } catch (err) {
      // The caller must hear why instead of waiting for its timeout.
      sent = this.toPeer(from.node, {
        type: "reply",
        ref: from.ref,
        ok: false,
        error: { code: "not_serializable", message: `the reply cannot be sent to node ${from.node}: ${(err as Error).message}` },
      });
    }
    if (!sent) this.log.warn({ to: from.node }, "reply to an unknown node dropped");
  }

  private unknownNode(node: string): Error {
    return new ClusterError("nodedown", `node ${node} is not connected (known: ${[this.name, ...this.links.names()].join(", ")})`);
  }

  self(): Pid | undefined {
    return selfProc()?.pid;
  }

  async spawn(node: string, module: string, args: unknown, opts: { link?: boolean } = {}): Promise<Pid> {
    const parent = opts.link ? this.mustSelf("spawnLink") : undefined;
    if (node === this.name) {
      const pid = await this.procs.spawn(module, args);
      if (parent) this.signals.link(parent, pid);
      return pid;
    }
    checkSendable(args, "args");
    const { ref, promise } = this.calls.expect(DEFAULT_CALL_TIMEOUT_MS, `spawn of ${module} on ${node}`, node);
    if (!this.toPeer(node, { type: "spawn", from: { node: this.name, ref }, module, args, ...(parent ? { link: parent.pid } : {}) })) {
      this.calls.settle(ref, { ok: false, error: toWireError(this.unknownNode(node)) });
    }
    const pid = (await promise) as Pid;
    if (parent) {
      if (parent.alive) (parent.links ??= new Map()).set(pid.toString(), pid);
      else this.signals.exit(parent.pid, pid, "killed");
    }
    return pid;
  }

  /**
   * Like Erlang's `!`: never fails for a dead or unreachable pid; the message
   * is dropped. A message that cannot travel throws here, before anything is
   * queued, whether the pid is local or not.
   */
  send(pid: Pid, msg: unknown, kind: "info" | "cast" = "info"): void {
    if (pid.node === this.name) {
      checkSendable(msg);
      if (this.tracer.on) this.tracer.message(kind, selfProc()?.pid, pid, msg);
      this.procs.deliver(pid.id, { kind, msg } as Envelope);
      return;
    }
    // Encoding is the sender check: one walk of the message (wire/codec.ts).
    const frame = encodeChecked({ type: "deliver", to: pid.id, kind, msg });
    if (this.tracer.on) this.tracer.message(kind, selfProc()?.pid, pid, msg);
    this.links.sendFrame(pid.node, frame);
  }

  cast(pid: Pid, msg: unknown): void {
    this.send(pid, msg, "cast");
  }

  call(pid: Pid, msg: unknown, timeoutMs = DEFAULT_CALL_TIMEOUT_MS): Promise<unknown> {
    // A remote call's message is checked as it is encoded, in request (one walk).
    if (pid.node === this.name) checkSendable(msg);
    return this.request(pid, msg, timeoutMs, true);
  }

  /**
   * A call whose message was checked by the caller, or need not be (it stays on this node).
   * `checked`: a remote message is checked as it is encoded, and throws NotSendable before anything is sent.
   */
  request(pid: Pid, msg: unknown, timeoutMs: number, checked = false): Promise<unknown> {
    const { ref, promise } = this.calls.expect(timeoutMs, `call to ${pid}`, pid.node);
    // The caller's pid, when a process calls, lets the server monitor or link to who asked (From.pid).
    const caller = selfProc()?.pid;
    const from: From = { node: this.name, ref, ...(caller ? { pid: caller } : {}) };
    if (pid.node === this.name) {
      if (this.tracer.on) this.tracer.message("call", caller, pid, msg);
      if (!this.procs.deliver(pid.id, { kind: "call", msg, from })) this.calls.settle(ref, { ok: false, error: noproc(pid) });
      return promise;
    }
    const envelope: PeerMessage = { type: "call", to: pid.id, from, msg };
    let frame: string | Buffer;
    try {
      frame = checked ? encodeChecked(envelope) : encodePeer(envelope);
    } catch (err) {
      // Nothing was sent: the pending call ends here, and the caller hears why at once.
      promise.catch(() => undefined);
      this.calls.settle(ref, { ok: false, error: toWireError(err) });
      throw err;
    }
    if (this.tracer.on) this.tracer.message("call", caller, pid, msg);
    if (!this.links.sendFrame(pid.node, frame)) this.calls.settle(ref, { ok: false, error: toWireError(this.unknownNode(pid.node)) });
    return promise;
  }

  // ---- links, monitors, timers, supervisors (see signals.ts, timers.ts, supervisor.ts) ----

  makeRef(): string {
    return `#Ref<${this.name}.${this.refPrefix}.${this.nextRef++}>`;
  }

  private mustSelf(what: string): Proc {
    const p = selfProc();
    if (!p) throw new ClusterError("not_a_process", `${what}() is called from inside a process handler (it acts for self())`);
    return p;
  }

  link(pid: Pid): void {
    this.signals.link(this.mustSelf("link"), pid);
  }

  unlink(pid: Pid): void {
    this.signals.unlink(this.mustSelf("unlink"), pid);
  }

  /** Sends an exit signal, local or remote, from self() (or from no process, e.g. the shell). */
  exit(pid: Pid, reason: unknown): void {
    this.signals.exit(selfProc()?.pid, pid, reason);
  }

  trapExit(on: boolean): boolean {
    const p = this.mustSelf("trapExit");
    const was = p.trapExit;
    p.trapExit = on;
    return was;
  }

  monitor(pid: Pid): string {
    return this.signals.monitor(this.mustSelf("monitor"), pid);
  }

  demonitor(ref: string): boolean {
    return this.signals.demonitor(this.mustSelf("demonitor"), ref);
  }

  monitorNode(node: string, on = true): void {
    this.signals.monitorNode(this.mustSelf("monitorNode"), node, on);
  }

  /** The owner is the calling process, or the destination when called outside one; the timer dies with its owner. */
  sendAfter(ms: number, pid: Pid, msg: unknown, periodic = false): string {
    checkSendable(msg);
    const owner = selfProc() ?? (pid.node === this.name ? this.procs.get(pid.id) : undefined);
    if (!owner)
      throw new ClusterError("not_a_process", `sendAfter: no owner for the timer: call it from a process, or target a live local pid (${pid} is not)`);
    return this.timers.start(owner, ms, () => this.send(pid, msg), periodic);
  }

  cancelTimer(ref: string): number | false {
    return this.timers.cancel(ref);
  }

  /** Starts a supervisor on `node`; resolves once every child has started, in order. */
  startSupervisor(node: string, spec: SupervisorSpec, opts: { link?: boolean } = {}): Promise<Pid> {
    return this.spawn(node, SUPERVISOR, spec, opts);
  }

  /** A node-level request about `pid`, answered by the node it lives on. */
  sys(pid: Pid, op: SysOp): Promise<unknown> {
    if (pid.node === this.name) return runSys(this, pid, op);
    const { ref, promise } = this.calls.expect(DEFAULT_CALL_TIMEOUT_MS, `${op.op} of ${pid}`, pid.node);
    if (!this.toPeer(pid.node, { type: "sys", from: { node: this.name, ref }, pid, op }))
      this.calls.settle(ref, { ok: false, error: toWireError(this.unknownNode(pid.node)) });
    return promise;
  }

  suspend(pid: Pid): Promise<void> {
    return this.sys(pid, { op: "suspend" }) as Promise<void>;
  }

  resume(pid: Pid): Promise<void> {
    return this.sys(pid, { op: "resume" }) as Promise<void>;
  }

  processInfo(pid: Pid): Promise<ProcessInfo> {
    return this.sys(pid, { op: "info" }) as Promise<ProcessInfo>;
  }

  whichChildren(sup: Pid): Promise<ChildInfo[]> {
    return this.supervision.whichChildren(sup);
  }

  restartChild(pid: Pid): Promise<Pid> {
    return this.supervision.restartChild(pid);
  }

  startChild(sup: Pid, spec: ChildSpec): Promise<Pid> {
    return this.supervision.startChild(sup, spec);
  }

  /** Cluster-wide names live in the coordinator (epmd's role); nodes keep a pushed cache. */
  register(name: string, pid: Pid): Promise<void> {
    return this.names.register(name, pid);
  }

  whereis(name: string): Promise<Pid | undefined> {
    return this.names.whereis(name);
  }

  namesOf(pid: Pid): string[] {
    return this.names.namesOf(pid);
  }

  /** every name this node knows of with its pid: the observer's page of processes indexes them once, not once per process */
  registeredNames(): IterableIterator<[string, Pid]> {
    return this.names.entries();
  }

  lookup(name: string): Pid | undefined {
    return this.names.lookup(name);
  }

  unregister(name: string): Promise<boolean> {
    return this.names.unregister(name);
  }

  registered(): string[] {
    return this.names.all();
  }

  /** The resource is closed when self() ends, however it ends (see process/resources.ts). */
  own(resource: Ownable): void {
    const proc = this.mustSelf("own");
    (proc.resources ??= new Set()).add(resource);
  }

  disown(resource: Ownable): boolean {
    return this.mustSelf("disown").resources?.delete(resource) ?? false;
  }

  private exited(proc: Proc, reason: unknown): void {
    this.timers.cancelAll(proc);
    this.signals.exited(proc, reason);
    this.names.exited(proc.pid);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
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
