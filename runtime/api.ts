/**
 * The API user modules import as `from "devcluster"`. Inside a node the
 * loader hands every module this API bound to the node's own runtime (plus
 * the module's `hot` context), whether or not the project has devcluster in
 * its node_modules. Each function checks its arguments and forwards to the
 * node, as Erlang's `code` module forwards to the code server.
 */
import type { ClusterNode } from "./node/node";
import { Pid, parsePid } from "../wire/pid";

export { Pid, parsePid } from "../wire/pid";
export type { From, ProcessInfo, NodeInfo } from "../wire/protocol";
export type { ChildSpec, ChildInfo, SupervisorSpec, Restart, Strategy } from "./process/supervisor";
import type { ProcessInfo } from "../wire/protocol";
import type { ChildInfo, ChildSpec, SupervisorSpec } from "./process/supervisor";
import { ClusterError } from "../wire/errors";
export type { HotContext } from "./code/hot";

/** What the entry module's `start(ctx)` receives, once per node at boot. */
export interface StartContext {
  /** this node's name, e.g. "n1" */
  node: string;
  /** every node of the cluster, in config order */
  nodes: string[];
}

/** A gen_server-style behaviour: export these callbacks by name. Any may return a Promise. */
export interface Behaviour<State = unknown, Args = unknown> {
  init?(args: Args): State | Promise<State>;
  handleCall?(msg: unknown, from: import("../wire/protocol").From, state: State): CallResult<State> | Promise<CallResult<State>>;
  handleCast?(msg: unknown, state: State): State | Promise<State>;
  handleInfo?(msg: unknown, state: State): State | Promise<State>;
  codeChange?(oldVersion: string, state: State): State | Promise<State>;
  terminate?(reason: unknown, state: State): void | Promise<void>;
}

export type CallResult<State> = { reply: unknown; state: State } | { noreply: true; state: State };

let node: ClusterNode | undefined;

/** @internal the node main binds the API to its runtime */
export function bindRuntime(n: ClusterNode | undefined): void {
  node = n;
}

function rt(): ClusterNode {
  if (!node) {
    throw new ClusterError("no_runtime", "the devcluster API works inside a node started by `devcluster up`");
  }
  return node;
}

/** Accepts a pid or its printed form `<n1.42>`. */
function toPid(pid: Pid | string, what: string): Pid {
  if (pid instanceof Pid) return pid;
  if (typeof pid === "string") {
    const parsed = parsePid(pid);
    if (parsed) return parsed;
  }
  throw new ClusterError("badarg", `${what}: expected a pid like <n1.42>, got ${String(pid)}`);
}

/** The pid of the process whose handler is running. `const me = self();` */
export function self(): Pid {
  const pid = rt().self();
  if (!pid) throw new ClusterError("not_a_process", "self() called outside a process handler");
  return pid;
}

/** This node's name. */
export function nodeName(): string {
  return rt().name;
}

/** Every node of the cluster, in config order. */
export function nodes(): string[] {
  return [...rt().nodes];
}

/**
 * Starts a process of behaviour `module` on `node`; resolves after its init.
 * `const pid = await spawn("n2", "chat/room", { name: "lobby" });`
 * Errors: unknown_module, init_failed, nodedown, timeout.
 */
export function spawn(node: string, module: string, args?: unknown): Promise<Pid> {
  if (typeof node !== "string" || typeof module !== "string") throw new TypeError("spawn(node, module, args): node and module are strings");
  return rt().spawn(node, module, args);
}

/**
 * Sends a request and waits for the reply. `const n = await call(pid, { type: "get" });`
 * Errors: noproc, process_crashed (it crashed handling this call, or before replying), process_exited,
 * noconnection (its node went down), timeout (default 5000 ms, the message says how long it waited), nodedown, not_serializable.
 */
export function call<T = unknown>(pid: Pid | string, msg: unknown, timeoutMs?: number): Promise<T> {
  return rt().call(toPid(pid, "call"), msg, timeoutMs) as Promise<T>;
}

/** Fire-and-forget request, handled by handleCast. `cast(pid, { type: "incr" });` */
export function cast(pid: Pid | string, msg: unknown): void {
  rt().cast(toPid(pid, "cast"), msg);
}

/**
 * Plain message, handled by handleInfo; dropped if the process is gone. `send(pid, "tick");`
 * Errors: not_serializable (thrown here, naming the field, e.g. `msg.handler is a function`).
 */
export function send(pid: Pid | string, msg: unknown): void {
  rt().send(toPid(pid, "send"), msg);
}

/** Registers a cluster-wide name. `await register("room:lobby", pid);` Errors: name_taken. */
export function register(name: string, pid: Pid | string): Promise<void> {
  if (typeof name !== "string" || name === "") throw new TypeError("register(name, pid): name is a non-empty string");
  return rt().register(name, toPid(pid, "register"));
}

/** Looks up a cluster-wide name. `const room = await whereis("room:lobby");` */
export function whereis(name: string): Promise<Pid | undefined> {
  return rt().whereis(name);
}

/**
 * Sends an exit signal to a process on any node, from self() (or from no
 * process when called outside one). It ends the target unless it traps exits
 * (then it gets `{ exit: self, reason }`) or the reason is "normal";
 * "kill" cannot be trapped and ends it as "killed".
 * `exit(pid, "shutdown");`
 */
export function exit(pid: Pid | string, reason: unknown = "killed"): void {
  rt().exit(toPid(pid, "exit"), reason);
}

/**
 * Links self() to `pid`, both ways: when either ends with a reason other than
 * "normal", the other gets the exit signal. `link(pid);`
 * Errors: noproc (local pid not alive; a remote one answers with an exit signal noproc), not_a_process.
 */
export function link(pid: Pid | string): void {
  rt().link(toPid(pid, "link"));
}

/** Removes a link; no exit signal from it is seen afterwards. `unlink(pid);` */
export function unlink(pid: Pid | string): void {
  rt().unlink(toPid(pid, "unlink"));
}

/**
 * spawn, then link to self() before the new process handles its first message.
 * `const worker = await spawnLink(nodeName(), "jobs/worker", { id: 7 });`
 * Errors: as spawn, and not_a_process.
 */
export function spawnLink(node: string, module: string, args?: unknown): Promise<Pid> {
  if (typeof node !== "string" || typeof module !== "string") throw new TypeError("spawnLink(node, module, args): node and module are strings");
  return rt().spawn(node, module, args, { link: true });
}

/**
 * With `true`, exit signals reach self() as `{ exit: pid | null, reason }` in
 * handleInfo instead of ending it ("kill" still ends it). Returns the previous setting.
 * `trapExit(true);`
 */
export function trapExit(on: boolean): boolean {
  return rt().trapExit(on === true);
}

/**
 * Watches `pid` (any node): when it ends, self() gets one `{ down: ref, pid, reason }`
 * in handleInfo; reason "noproc" if it was not alive, "noconnection" if its node went away.
 * `const ref = monitor(pid);`
 */
export function monitor(pid: Pid | string): string {
  return rt().monitor(toPid(pid, "monitor"));
}

/** Stops a monitor; its `down` is never seen, even if already sent. Returns whether it was active. `demonitor(ref);` */
export function demonitor(ref: string): boolean {
  return rt().demonitor(ref);
}

/**
 * self() gets `{ nodedown: node }` when `node` leaves the cluster (at once if
 * it is not connected) and `{ nodeup: node }` when it joins again, until
 * `monitorNode(node, false)`. `monitorNode("n2");`
 */
export function monitorNode(node: string, on = true): void {
  if (typeof node !== "string") throw new TypeError("monitorNode(node): node is a string");
  rt().monitorNode(node, on);
}

function checkMs(ms: number, what: string): void {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) throw new ClusterError("badarg", `${what}: ms must be a finite number >= 0, got ${String(ms)}`);
}

/**
 * Sends `msg` to `pid` (as handleInfo) after `ms`. The timer belongs to the
 * calling process (or to `pid` when called outside a process): it is cancelled
 * when that process ends and is untouched by reloads. Returns its ref.
 * `const t = sendAfter(1000, self(), "tick");`
 * Errors: not_serializable, not_a_process, badarg.
 */
export function sendAfter(ms: number, pid: Pid | string, msg: unknown): string {
  checkMs(ms, "sendAfter");
  return rt().sendAfter(ms, toPid(pid, "sendAfter"), msg);
}

/** sendAfter, repeated every `ms` until cancelTimer or the owner ends. `sendInterval(5000, self(), "flush");` */
export function sendInterval(ms: number, pid: Pid | string, msg: unknown): string {
  checkMs(ms, "sendInterval");
  if (ms === 0) throw new ClusterError("badarg", "sendInterval: ms must be > 0");
  return rt().sendAfter(ms, toPid(pid, "sendInterval"), msg, true);
}

/** Cancels a timer; returns the ms it had left, or false if it already fired or was cancelled. `cancelTimer(t);` */
export function cancelTimer(ref: string): number | false {
  return rt().cancelTimer(ref);
}

/**
 * Starts a supervisor on `node` (linked to self() when called from a process)
 * whose children start in order; resolves after all have started.
 * `const sup = await startSupervisor(nodeName(), { strategy: "one_for_one", children: [{ id: "db", module: "db" }] });`
 * Errors: init_failed (a child failed to start; the ones started are shut down), bad_child_spec (inside init_failed), nodedown.
 */
export function startSupervisor(node: string, spec: SupervisorSpec): Promise<Pid> {
  return rt().startSupervisor(node, spec, { link: rt().self() !== undefined });
}

/** The children of a supervisor, in start order. `await whichChildren(sup)` → `[{ id, pid, module, restart }]` */
export function whichChildren(sup: Pid | string): Promise<ChildInfo[]> {
  return rt().whichChildren(toPid(sup, "whichChildren"));
}

/** Adds and starts a child (a socket may be among its args only on the supervisor's own node). `await startChild(sup, { id: "s1", module: "chat/session", restart: "temporary" });` */
export function startChild(sup: Pid | string, spec: ChildSpec): Promise<Pid> {
  return rt().startChild(toPid(sup, "startChild"), spec);
}

/** Has the supervisor of `pid` shut it down and start it again; resolves with the new pid. Errors: no_supervisor, noproc. */
export function restartChild(pid: Pid | string): Promise<Pid> {
  return rt().restartChild(toPid(pid, "restartChild"));
}

/** sys:suspend: the process handles only system messages until resume; its mailbox keeps the rest. `await suspend(pid);` */
export function suspend(pid: Pid | string): Promise<void> {
  return rt().suspend(toPid(pid, "suspend"));
}

/** sys:resume. `await resume(pid);` */
export function resume(pid: Pid | string): Promise<void> {
  return rt().resume(toPid(pid, "resume"));
}

/** Status, mailbox, messages handled, version, memory, links, monitors, supervisor of a process on any node. `await processInfo(pid)` */
export function processInfo(pid: Pid | string): Promise<ProcessInfo> {
  return rt().processInfo(toPid(pid, "processInfo"));
}

/** Answers a call later, after handleCall returned `{ noreply: true, state }`. */
export function reply(from: import("../wire/protocol").From, value: unknown): void {
  rt().reply(from, { ok: true, value });
}

/**
 * This module's hot context: `hot.data` survives reloads, `hot.dispose(cb)`
 * runs on the outgoing version, timers and listeners made through it are
 * cleared then. The loader gives each module its own; this one only exists
 * for the types.
 */
export const hot: import("./code/hot").HotContext = new Proxy({} as import("./code/hot").HotContext, {
  get() {
    throw new ClusterError("no_runtime", "hot is only available to modules loaded by a devcluster node");
  },
});
