/**
 * The package entry, what a project compiles against as `from "devcluster"`.
 * Inside a node the loader gives each module the same functions bound to
 * that node (see api.ts, createApi); imported anywhere else, they throw
 * ClusterError `no_runtime`.
 */
import { createApi } from "./api";
import { ClusterError } from "../wire/errors";
import type { HotContext } from "./code/hot";

export { Pid, parsePid } from "../wire/pid";
export { ClusterError, type ErrorCode } from "../wire/errors";
export type { From, ProcessInfo, NodeInfo } from "../wire/protocol";
export type { ChildSpec, ChildInfo, SupervisorSpec, Restart, Strategy } from "./process/supervisor";
export type { Behaviour, CallResult } from "./process/behaviour";
export type { HotContext } from "./code/hot";
export type { Ownable } from "./process/resources";

/** What the entry module's `start(ctx)` receives, once per node at boot. */
export interface StartContext {
  /** this node's name, e.g. "n1" */
  node: string;
  /** every node of the cluster, in config order */
  nodes: string[];
}

const outside = createApi(undefined);

/** The pid of the process whose handler is running. `const me = self();` */
export const self = outside.self;

/** This node's name. */
export const nodeName = outside.nodeName;

/** Every node of the cluster, in config order. */
export const nodes = outside.nodes;

/**
 * Starts a process of behaviour `module` on `node`; resolves after its init.
 * `const pid = await spawn("n2", "chat/room", { name: "lobby" });`
 * Errors: unknown_module, bad_behaviour (the module exports none of init, handleCall, handleCast, handleInfo), init_failed, nodedown, timeout.
 */
export const spawn = outside.spawn;

/**
 * Sends a request and waits for the reply. `const n = await call(pid, { type: "get" });`
 * The destination of call, cast and send is a pid, its text `"<n1.4>"`, or a
 * cluster-wide name (Erlang's `{global, Name}`): `await call("room:lobby", { type: "who" })`.
 * A string that parses as a pid's text (angle brackets included) is a pid;
 * any other string is a name (register refuses names that look like pids).
 * handleCall's `from.pid` is the caller when a process called.
 * Errors: noproc, process_crashed (it crashed handling this call, or before replying), process_exited,
 * noconnection (its node went down), timeout (default 5000 ms, the message says how long it waited), nodedown, not_serializable.
 */
export const call = outside.call;

/**
 * Fire-and-forget request, handled by handleCast. `cast(pid, { type: "incr" });` or `cast("counter:n1", …)`.
 * A name is read from this node's cache of names (no round trip, so casts stay in order).
 * Errors: noproc (thrown here for a name nobody holds), not_serializable.
 */
export const cast = outside.cast;

/**
 * Plain message, handled by handleInfo; dropped if the process is gone. `send(pid, "tick");` or `send("room:lobby", …)`.
 * Errors: not_serializable (thrown here, naming the field, e.g. `msg.handler is a function`),
 * noproc (thrown here for a name nobody holds; a dead pid is not an error).
 */
export const send = outside.send;

/** Registers a cluster-wide name. `await register("room:lobby", pid);` Errors: name_taken. */
export const register = outside.register;

/** Looks up a cluster-wide name. `const room = await whereis("room:lobby");` */
export const whereis = outside.whereis;

/**
 * Drops a cluster-wide name, whichever process holds it; resolves whether it
 * was registered. A whereis or register from this node afterwards sees it gone.
 * `await unregister("room:lobby");`
 */
export const unregister = outside.unregister;

/** Every cluster-wide name, sorted, from this node's cache (global:registered_names). `registered()` → `["chat:sup:n1", "room:lobby"]` */
export const registered = outside.registered;

/**
 * self() takes ownership of a socket, server, stream or anything with
 * destroy(), close() or end() (tried in that order): it is closed when the
 * process ends for any reason, `exit(pid, "kill")` included, after terminate.
 * Returns the resource. `const socket = own(args.socket);`
 * Errors: not_a_process, badarg (nothing to close it with).
 */
export const own = outside.own;

/** self() gives up a resource it owns (to hand it to another process); returns whether it owned it. `disown(socket);` */
export const disown = outside.disown;

/**
 * Sends an exit signal to a process on any node, from self() (or from no
 * process when called outside one). It ends the target unless it traps exits
 * (then it gets `{ exit: self, reason }`) or the reason is "normal";
 * "kill" cannot be trapped and ends it as "killed".
 * `exit(pid, "shutdown");`
 */
export const exit = outside.exit;

/**
 * Links self() to `pid`, both ways: when either ends with a reason other than
 * "normal", the other gets the exit signal. `link(pid);`
 * Errors: noproc (local pid not alive; a remote one answers with an exit signal noproc), not_a_process.
 */
export const link = outside.link;

/** Removes a link; no exit signal from it is seen afterwards. `unlink(pid);` */
export const unlink = outside.unlink;

/**
 * spawn, then link to self() before the new process handles its first message.
 * `const worker = await spawnLink(nodeName(), "jobs/worker", { id: 7 });`
 * Errors: as spawn, and not_a_process.
 */
export const spawnLink = outside.spawnLink;

/**
 * With `true`, exit signals reach self() as `{ exit: pid | null, reason }` in
 * handleInfo instead of ending it ("kill" still ends it). Returns the previous setting.
 * `trapExit(true);`
 */
export const trapExit = outside.trapExit;

/**
 * Watches `pid` (any node): when it ends, self() gets one `{ down: ref, pid, reason }`
 * in handleInfo; reason "noproc" if it was not alive, "noconnection" if its node went away.
 * `const ref = monitor(pid);`
 */
export const monitor = outside.monitor;

/** Stops a monitor; its `down` is never seen, even if already sent. Returns whether it was active. `demonitor(ref);` */
export const demonitor = outside.demonitor;

/**
 * self() gets `{ nodedown: node }` when `node` leaves the cluster (at once if
 * it is not connected) and `{ nodeup: node }` when it joins again, until
 * `monitorNode(node, false)`. `monitorNode("n2");`
 */
export const monitorNode = outside.monitorNode;

/**
 * Sends `msg` to `pid` (as handleInfo) after `ms`. The timer belongs to the
 * calling process (or to `pid` when called outside a process): it is cancelled
 * when that process ends and is untouched by reloads. Returns its ref.
 * `const t = sendAfter(1000, self(), "tick");`
 * Errors: not_serializable, not_a_process, badarg.
 */
export const sendAfter = outside.sendAfter;

/** sendAfter, repeated every `ms` until cancelTimer or the owner ends. `sendInterval(5000, self(), "flush");` */
export const sendInterval = outside.sendInterval;

/** Cancels a timer; returns the ms it had left, or false if it already fired or was cancelled. `cancelTimer(t);` */
export const cancelTimer = outside.cancelTimer;

/**
 * Starts a supervisor on `node` (linked to self() when called from a process)
 * whose children start in order; resolves after all have started.
 * `const sup = await startSupervisor(nodeName(), { strategy: "one_for_one", children: [{ id: "db", module: "db" }] });`
 * Errors: init_failed (a child failed to start; the ones started are shut down), bad_child_spec (inside init_failed), nodedown.
 */
export const startSupervisor = outside.startSupervisor;

/** The children of a supervisor, in start order. `await whichChildren(sup)` → `[{ id, pid, module, restart }]` */
export const whichChildren = outside.whichChildren;

/** Adds and starts a child (a socket may be among its args only on the supervisor's own node). `await startChild(sup, { id: "s1", module: "chat/session", restart: "temporary" });` */
export const startChild = outside.startChild;

/** Has the supervisor of `pid` shut it down and start it again; resolves with the new pid. Errors: no_supervisor, noproc. */
export const restartChild = outside.restartChild;

/** sys:suspend: the process handles only system messages until resume; its mailbox keeps the rest. `await suspend(pid);` */
export const suspend = outside.suspend;

/** sys:resume. `await resume(pid);` */
export const resume = outside.resume;

/** Status, mailbox, messages handled, version, memory, links, monitors, supervisor of a process on any node. `await processInfo(pid)` */
export const processInfo = outside.processInfo;

/** Answers a call later, after handleCall returned `{ noreply: true, state }`. */
export const reply = outside.reply;

/**
 * The migration hook of a class, the class's counterpart of a process's
 * `codeChange`: an instance method under this symbol runs at COMMIT on every
 * instance that versions before the saved one made, after the new version's
 * new fields were added to it (their initializers run on it, in declaration
 * order), with the version it is leaving. It runs on each instance once per
 * commit of the class's module; an error is logged by the node with the class
 * and how many instances failed, and those keep running the new methods.
 * ```ts
 * export class Peer {
 *   retries = 0; // added to existing peers as 0
 *   [migrate](from: string) { this.addr = this.addr.toLowerCase(); }
 * }
 * ```
 */
export { MIGRATE as migrate } from "./code/classFamily";

/**
 * This module's hot context: `hot.data` survives reloads, `hot.dispose(cb)`
 * runs on the outgoing version, timers and listeners made through it are
 * cleared then. The loader gives each module its own; this one only exists
 * for the types.
 */
export const hot: HotContext = new Proxy({} as HotContext, {
  get() {
    throw new ClusterError("no_runtime", "hot is only available to modules loaded by a devcluster node");
  },
});
