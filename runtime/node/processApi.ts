import type { Pid } from "../../wire/pid";
import { selfProc, type Processes, type Reply } from "../process/process";
import { checkSendable } from "../../wire/sendable";
import type { Signals } from "../process/signals";
import { SUPERVISOR, type ChildInfo, type ChildSpec, type SupervisorSpec } from "../process/supervisor";
import type { Supervision } from "./supervision";
import type { Timers } from "../process/timers";
import type { Ownable } from "../process/resources";
import type { From, ProcessInfo, SysOp } from "../../wire/protocol";
import { DEFAULT_CALL_TIMEOUT_MS } from "./calls";
import { mustSelf, type Messaging } from "./messaging";
import type { Names } from "./names";
import { ClusterError } from "../../wire/errors";

/**
 * What a node's processes call (the Runtime that `require("devcluster")` wraps):
 * messaging, links, monitors, timers, supervisors, names and resources, each
 * handed to the part that does it. ClusterNode (node.ts) makes the parts.
 */
export abstract class ProcessApi {
  abstract readonly name: string;
  abstract readonly procs: Processes;
  abstract readonly signals: Signals;
  abstract readonly timers: Timers;
  protected abstract readonly messaging: Messaging;
  protected abstract readonly supervision: Supervision;
  protected abstract readonly names: Names;
  private readonly refPrefix = `${process.pid.toString(36)}${Date.now().toString(36)}`;
  private nextRef = 1;

  // ---- messaging API (messaging.ts) ------------------------------------------

  self(): Pid | undefined {
    return selfProc()?.pid;
  }

  reply(from: From, reply: Reply): void {
    this.messaging.reply(from, reply);
  }

  spawn(node: string, module: string, args: unknown, opts: { link?: boolean } = {}): Promise<Pid> {
    return this.messaging.spawn(node, module, args, opts);
  }

  /** Like Erlang's `!` (messaging.ts): a dead or unreachable pid drops the message; one that cannot travel throws. */
  send(pid: Pid, msg: unknown, kind: "info" | "cast" = "info"): void {
    this.messaging.send(pid, msg, kind);
  }

  call(pid: Pid, msg: unknown, timeoutMs = DEFAULT_CALL_TIMEOUT_MS): Promise<unknown> {
    return this.messaging.call(pid, msg, timeoutMs);
  }

  /** A call whose message was checked by the caller, or need not be (messaging.ts). */
  request(pid: Pid, msg: unknown, timeoutMs: number, checked = false): Promise<unknown> {
    return this.messaging.request(pid, msg, timeoutMs, checked);
  }

  cast(pid: Pid, msg: unknown): void {
    this.send(pid, msg, "cast");
  }

  // ---- links, monitors, timers, supervisors (see signals.ts, timers.ts, supervisor.ts) ----

  makeRef(): string {
    return `#Ref<${this.name}.${this.refPrefix}.${this.nextRef++}>`;
  }

  link(pid: Pid): void {
    this.signals.link(mustSelf("link"), pid);
  }

  unlink(pid: Pid): void {
    this.signals.unlink(mustSelf("unlink"), pid);
  }

  /** Sends an exit signal, local or remote, from self() (or from no process, e.g. the shell). */
  exit(pid: Pid, reason: unknown): void {
    this.signals.exit(selfProc()?.pid, pid, reason);
  }

  trapExit(on: boolean): boolean {
    const p = mustSelf("trapExit");
    const was = p.trapExit;
    p.trapExit = on;
    return was;
  }

  monitor(pid: Pid): string {
    return this.signals.monitor(mustSelf("monitor"), pid);
  }

  demonitor(ref: string): boolean {
    return this.signals.demonitor(mustSelf("demonitor"), ref);
  }

  monitorNode(node: string, on = true): void {
    this.signals.monitorNode(mustSelf("monitorNode"), node, on);
  }

  /** The owner is the calling process, or the destination when called outside one; the timer dies with its owner. */
  sendAfter(ms: number, pid: Pid, msg: unknown, periodic = false): string {
    checkSendable(msg);
    const owner = selfProc() ?? (pid.node === this.name ? this.procs.get(pid.id) : undefined);
    if (!owner)
      throw new ClusterError("not_a_process", `sendAfter: no owner for the timer: call it from a process, or target a live local pid (${pid} is not)`);
    return this.timers.start(owner, ms, () => this.send(pid, msg), periodic, { to: pid, msg, ms });
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
    return this.messaging.sys(pid, op);
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
    const proc = mustSelf("own");
    (proc.resources ??= new Set()).add(resource);
  }

  disown(resource: Ownable): boolean {
    return mustSelf("disown").resources?.delete(resource) ?? false;
  }
}
