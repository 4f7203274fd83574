/**
 * The API user modules import as `from "devcluster"`, made per node by
 * {@link createApi}: inside a node the loader hands every module this API
 * bound to the node's own runtime (plus the module's `hot` context), whether
 * or not the project has devcluster in its node_modules. Each function checks
 * its arguments and forwards to the runtime, as Erlang's `code` module
 * forwards to the code server. The package entry (index.ts) documents each
 * function and exports the same API bound to no runtime.
 */
import { Pid, parsePid } from "../wire/pid";
import { ClusterError } from "../wire/errors";
import type { From, ProcessInfo } from "../wire/protocol";
import type { ChildInfo, ChildSpec, SupervisorSpec } from "./process/supervisor";
import { checkOwnable, type Ownable } from "./process/resources";
import { MIGRATE } from "./code/classFamily";

/**
 * @internal What the API needs from the node it runs in (ClusterNode
 * implements it); a test can hand in its own.
 */
export interface Runtime {
  readonly name: string;
  readonly nodes: readonly string[];
  self(): Pid | undefined;
  spawn(node: string, module: string, args: unknown, opts?: { link?: boolean }): Promise<Pid>;
  call(pid: Pid, msg: unknown, timeoutMs?: number): Promise<unknown>;
  cast(pid: Pid, msg: unknown): void;
  send(pid: Pid, msg: unknown): void;
  register(name: string, pid: Pid): Promise<void>;
  whereis(name: string): Promise<Pid | undefined>;
  /** the node's pushed cache only: no round trip, so send and cast by name stay synchronous and ordered */
  lookup(name: string): Pid | undefined;
  unregister(name: string): Promise<boolean>;
  registered(): string[];
  own(resource: Ownable): void;
  disown(resource: Ownable): boolean;
  exit(pid: Pid, reason: unknown): void;
  link(pid: Pid): void;
  unlink(pid: Pid): void;
  trapExit(on: boolean): boolean;
  monitor(pid: Pid): string;
  demonitor(ref: string): boolean;
  monitorNode(node: string, on: boolean): void;
  sendAfter(ms: number, pid: Pid, msg: unknown, periodic?: boolean): string;
  cancelTimer(ref: string): number | false;
  startSupervisor(node: string, spec: SupervisorSpec, opts: { link?: boolean }): Promise<Pid>;
  whichChildren(sup: Pid): Promise<ChildInfo[]>;
  startChild(sup: Pid, spec: ChildSpec): Promise<Pid>;
  restartChild(pid: Pid): Promise<Pid>;
  suspend(pid: Pid): Promise<void>;
  resume(pid: Pid): Promise<void>;
  processInfo(pid: Pid): Promise<ProcessInfo>;
  reply(from: From, reply: { ok: true; value: unknown }): void;
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

/**
 * A destination: a pid, a pid's printed form, or a cluster-wide name
 * (Erlang's `{global, Name}`). Text that parses as a pid (`<n1.4>`, angle
 * brackets included) is a pid; any other string is a name. register refuses
 * names that parse as pids, so the two never meet.
 */
type Target = { pid: Pid } | { name: string };

function toTarget(target: Pid | string, what: string): Target {
  if (target instanceof Pid) return { pid: target };
  if (typeof target === "string" && target !== "") {
    const parsed = parsePid(target);
    return parsed ? { pid: parsed } : { name: target };
  }
  throw new ClusterError("badarg", `${what}: expected a pid, its text <n1.42>, or a registered name, got ${String(target)}`);
}

function unregistered(name: string, what: string): ClusterError {
  const hint = /^[A-Za-z][\w-]*\.\d+$/.test(name) ? ` (a pid is written <${name}>)` : "";
  return new ClusterError("noproc", `${what}: no process is registered as ${name}${hint}`);
}

function checkMs(ms: number, what: string): void {
  if (typeof ms !== "number" || !Number.isFinite(ms) || ms < 0) throw new ClusterError("badarg", `${what}: ms must be a finite number >= 0, got ${String(ms)}`);
}

/**
 * @internal The devcluster API bound to `runtime`; with none, every function
 * that needs one throws `no_runtime` (the package entry outside a node).
 * See index.ts for each function's contract.
 */
export function createApi(runtime: Runtime | undefined) {
  const rt = (): Runtime => {
    if (!runtime) throw new ClusterError("no_runtime", "the devcluster API works inside a node started by `devcluster up`");
    return runtime;
  };
  /** send and cast stay synchronous (and so in order): a name is read from the node's cache, as whereis reads it first. */
  const byCache = (t: Target, what: string): Pid => {
    if ("pid" in t) return t.pid;
    const pid = rt().lookup(t.name);
    if (!pid) throw unregistered(t.name, what);
    return pid;
  };
  return {
    Pid,
    parsePid,
    // The class every devcluster error is, so user code can match `err instanceof ClusterError && err.code === "noproc"`.
    ClusterError,
    migrate: MIGRATE,
    self(): Pid {
      const pid = rt().self();
      if (!pid) throw new ClusterError("not_a_process", "self() called outside a process handler");
      return pid;
    },
    nodeName(): string {
      return rt().name;
    },
    nodes(): string[] {
      return [...rt().nodes];
    },
    spawn(node: string, module: string, args?: unknown): Promise<Pid> {
      if (typeof node !== "string" || typeof module !== "string") throw new ClusterError("badarg", "spawn(node, module, args): node and module are strings");
      return rt().spawn(node, module, args);
    },
    call<T = unknown>(to: Pid | string, msg: unknown, timeoutMs?: number): Promise<T> {
      const t = toTarget(to, "call");
      const runtime = rt();
      if ("pid" in t) return runtime.call(t.pid, msg, timeoutMs) as Promise<T>;
      // A name missing from the node's cache may have been registered a moment ago elsewhere: ask the coordinator.
      return runtime.whereis(t.name).then((pid) => {
        if (!pid) throw unregistered(t.name, "call");
        return runtime.call(pid, msg, timeoutMs) as Promise<T>;
      });
    },
    cast(to: Pid | string, msg: unknown): void {
      rt().cast(byCache(toTarget(to, "cast"), "cast"), msg);
    },
    send(to: Pid | string, msg: unknown): void {
      rt().send(byCache(toTarget(to, "send"), "send"), msg);
    },
    register(name: string, pid: Pid | string): Promise<void> {
      if (typeof name !== "string" || name === "") throw new ClusterError("badarg", "register(name, pid): name is a non-empty string");
      if (parsePid(name)) throw new ClusterError("badarg", `register(name, pid): ${name} reads as a pid; a name must not look like <node.id>`);
      return rt().register(name, toPid(pid, "register"));
    },
    whereis(name: string): Promise<Pid | undefined> {
      return rt().whereis(name);
    },
    unregister(name: string): Promise<boolean> {
      if (typeof name !== "string" || name === "") throw new ClusterError("badarg", "unregister(name): name is a non-empty string");
      return rt().unregister(name);
    },
    registered(): string[] {
      return rt().registered();
    },
    own<R extends Ownable>(resource: R): R {
      checkOwnable(resource, "own");
      rt().own(resource);
      return resource;
    },
    disown(resource: Ownable): boolean {
      return rt().disown(resource);
    },
    exit(pid: Pid | string, reason: unknown = "killed"): void {
      rt().exit(toPid(pid, "exit"), reason);
    },
    link(pid: Pid | string): void {
      rt().link(toPid(pid, "link"));
    },
    unlink(pid: Pid | string): void {
      rt().unlink(toPid(pid, "unlink"));
    },
    spawnLink(node: string, module: string, args?: unknown): Promise<Pid> {
      if (typeof node !== "string" || typeof module !== "string")
        throw new ClusterError("badarg", "spawnLink(node, module, args): node and module are strings");
      return rt().spawn(node, module, args, { link: true });
    },
    trapExit(on: boolean): boolean {
      return rt().trapExit(on === true);
    },
    monitor(pid: Pid | string): string {
      return rt().monitor(toPid(pid, "monitor"));
    },
    demonitor(ref: string): boolean {
      return rt().demonitor(ref);
    },
    monitorNode(node: string, on = true): void {
      if (typeof node !== "string") throw new ClusterError("badarg", "monitorNode(node): node is a string");
      rt().monitorNode(node, on);
    },
    sendAfter(ms: number, pid: Pid | string, msg: unknown): string {
      checkMs(ms, "sendAfter");
      return rt().sendAfter(ms, toPid(pid, "sendAfter"), msg);
    },
    sendInterval(ms: number, pid: Pid | string, msg: unknown): string {
      checkMs(ms, "sendInterval");
      if (ms === 0) throw new ClusterError("badarg", "sendInterval: ms must be > 0");
      return rt().sendAfter(ms, toPid(pid, "sendInterval"), msg, true);
    },
    cancelTimer(ref: string): number | false {
      return rt().cancelTimer(ref);
    },
    startSupervisor(node: string, spec: SupervisorSpec): Promise<Pid> {
      return rt().startSupervisor(node, spec, { link: rt().self() !== undefined });
    },
    whichChildren(sup: Pid | string): Promise<ChildInfo[]> {
      return rt().whichChildren(toPid(sup, "whichChildren"));
    },
    startChild(sup: Pid | string, spec: ChildSpec): Promise<Pid> {
      return rt().startChild(toPid(sup, "startChild"), spec);
    },
    restartChild(pid: Pid | string): Promise<Pid> {
      return rt().restartChild(toPid(pid, "restartChild"));
    },
    suspend(pid: Pid | string): Promise<void> {
      return rt().suspend(toPid(pid, "suspend"));
    },
    resume(pid: Pid | string): Promise<void> {
      return rt().resume(toPid(pid, "resume"));
    },
    processInfo(pid: Pid | string): Promise<ProcessInfo> {
      return rt().processInfo(toPid(pid, "processInfo"));
    },
    reply(from: From, value: unknown): void {
      rt().reply(from, { ok: true, value });
    },
  };
}

/** @internal The API of one runtime, without the per-module `hot`. */
export type Api = ReturnType<typeof createApi>;
