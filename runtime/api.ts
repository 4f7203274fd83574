/**
 * The API user modules import as `from "devcluster"`. Inside a node the
 * loader hands every module this API bound to the node's own runtime (plus
 * the module's `hot` context), whether or not the project has devcluster in
 * its node_modules. Each function checks its arguments and forwards to the
 * node, as Erlang's `code` module forwards to the code server.
 */
import type { ClusterNode } from "./node";
import { Pid, parsePid } from "./pid";

export { Pid, parsePid } from "./pid";
export type { From } from "./protocol";
export type { HotContext } from "./hot";

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
  handleCall?(msg: unknown, from: import("./protocol").From, state: State): CallResult<State> | Promise<CallResult<State>>;
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
    throw Object.assign(new Error("the devcluster API works inside a node started by `devcluster up`"), { code: "no_runtime" });
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
  throw Object.assign(new TypeError(`${what}: expected a pid like <n1.42>, got ${String(pid)}`), { code: "badarg" });
}

/** The pid of the process whose handler is running. `const me = self();` */
export function self(): Pid {
  const pid = rt().self();
  if (!pid) throw Object.assign(new Error("self() called outside a process handler"), { code: "not_a_process" });
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
 * Errors: noproc, process_crashed, timeout (default 5000 ms), nodedown.
 */
export function call<T = unknown>(pid: Pid | string, msg: unknown, timeoutMs?: number): Promise<T> {
  return rt().call(toPid(pid, "call"), msg, timeoutMs) as Promise<T>;
}

/** Fire-and-forget request, handled by handleCast. `cast(pid, { type: "incr" });` */
export function cast(pid: Pid | string, msg: unknown): void {
  rt().cast(toPid(pid, "cast"), msg);
}

/** Plain message, handled by handleInfo; dropped if the process is gone. `send(pid, "tick");` */
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

/** Ends a process on this node (links and remote exit signals come with supervisors). */
export function exit(pid: Pid | string, reason: unknown = "killed"): boolean {
  const p = toPid(pid, "exit");
  if (p.node !== rt().name) throw Object.assign(new Error(`exit: ${p} lives on ${p.node}; only local processes can be ended yet`), { code: "not_local" });
  return rt().procs.kill(p.id, reason);
}

/** Answers a call later, after handleCall returned `{ noreply: true, state }`. */
export function reply(from: import("./protocol").From, value: unknown): void {
  rt().reply(from, { ok: true, value });
}

/**
 * This module's hot context: `hot.data` survives reloads, `hot.dispose(cb)`
 * runs on the outgoing version, timers and listeners made through it are
 * cleared then. The loader gives each module its own; this one only exists
 * for the types.
 */
export const hot: import("./hot").HotContext = new Proxy({} as import("./hot").HotContext, {
  get() {
    throw Object.assign(new Error("hot is only available to modules loaded by a devcluster node"), { code: "no_runtime" });
  },
});
