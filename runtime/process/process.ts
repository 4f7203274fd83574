import type { Logger } from "../../wire/log";
import { Pid } from "../../wire/pid";
import type { From, ProcessInfo, WireError } from "../../wire/protocol";
import { toWireError } from "../../wire/protocol";
import { ClusterError } from "../../wire/errors";
import { exitedError, noproc } from "./reasons";
export { crashReason, noproc, type CrashReason } from "./reasons";
import type { Behaviour } from "./behaviour";
import { crashed, handle, type HandleHost } from "./handle";
import { release } from "./resources";
import { CodeChange } from "./codeChange";
import { Proc, asBehaviour, currentProc, infoOf, isThenable, type Envelope, type Reply } from "./proc";
export { Proc, selfProc, type Envelope, type Reply } from "./proc";

/** The slice of the module table the process layer reads on every message. */
export interface ModuleSource {
  has(name: string): boolean;
  current(name: string): { version: string; exports: Record<string, unknown> } | undefined;
  old(name: string): { version: string; exports: Record<string, unknown> } | undefined;
  versions(): Record<string, string>;
}

export interface ProcessHost {
  readonly node: string;
  readonly log: Logger;
  /** answers a call, local or remote */
  reply(from: From, reply: Reply): void;
  /** a process ended: drop its names, cancel its timers, signal its links and monitors */
  exited(proc: Proc, reason: unknown): void;
  /** loads a module the node keeps but has not evaluated, at its first spawn (docs/design.md §4.5) */
  load?(module: string): Promise<void>;
}

/** Behaviours whose code lives in the runtime (e.g. `devcluster/supervisor`), not in a user module. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- each builtin has its own state and args
export type Builtins = Record<string, Behaviour<any, any>>;

/** A module that exports none of these is not a behaviour: spawn refuses it (bad_behaviour). */
const BEHAVIOUR_CALLBACKS = ["init", "handleCall", "handleCast", "handleInfo"] as const;

/** terminate of a user module may not hold up its exit signals for longer than this */
const TERMINATE_LIMIT_MS = 5000;

/** messages a process handles in a row before it lets other microtasks run (handlers that return no promise) */
const YIELD_EVERY = 64;

/**
 * The processes of one node. Each message is dispatched through the module
 * table at the moment it is handled, so a reload reaches every process of a
 * behaviour in O(1) without touching its state.
 */
export class Processes {
  private readonly procs = new Map<number, Proc>();
  private readonly byModule = new Map<string, Set<Proc>>();
  /** processes pinned to an old version while their codeChange waits, or after it threw */
  private readonly oldVersions: CodeChange;
  private nextId = 1;
  /** messages handled by every process of this node since it started (the observer's messages/s) */
  handledTotal = 0;

  private readonly deferredCalls = new Map<string, Proc>();
  /** what handling one message needs of this node (handle.ts) */
  private readonly handling: HandleHost;

  constructor(
    private readonly table: ModuleSource,
    private readonly host: ProcessHost,
    private readonly builtins: Builtins = {},
  ) {
    const h = this.host;
    this.oldVersions = new CodeChange({
      get log() {
        return h.log;
      },
      current: (name) => this.table.current(name),
      old: (name) => this.table.old(name),
      ofModule: (name) => this.byModule.get(name) ?? [],
      deliver: (id, env, front) => this.deliver(id, env, front),
      exit: (proc, reason) => this.exit(proc, reason),
    });
    this.handling = {
      get log() {
        return h.log;
      },
      exportsOf: (proc) => this.exportsOf(proc),
      reply: (from, reply) => this.host.reply(from, reply),
      deferred: (key, proc) => this.deferredCalls.set(key, proc),
    };
  }

  /**
   * The callbacks a message of `proc` runs: a user module's exports are only
   * assumed to be a {@link Behaviour}, so each callback is checked to be a
   * function where it is used.
   */
  private exportsOf(proc: Proc): Behaviour | undefined {
    return this.builtins[proc.module] ?? asBehaviour(proc.pinned?.exports ?? this.table.current(proc.module)?.exports);
  }

  /** A deferred call was answered: its caller no longer needs the exit reason. */
  replied(from: From): void {
    const key = `${from.node}:${from.ref}`;
    this.deferredCalls.get(key)?.deferred?.delete(key);
    this.deferredCalls.delete(key);
  }

  all(): IterableIterator<Proc> {
    return this.procs.values();
  }

  /**
   * A restarted node must not hand out the pids of its previous life: a stale
   * `<n2.1>` held elsewhere would reach an unrelated process. Each incarnation
   * of a node numbers its processes from its own block (Erlang's creation).
   */
  startIdsAt(first: number): void {
    if (this.procs.size === 0) this.nextId = first;
  }

  /** A process made again from a snapshot (snapshot.ts), its pid kept: later spawns of this life number after it. */
  adopt(proc: Proc): void {
    this.procs.set(proc.pid.id, proc);
    let set = this.byModule.get(proc.module);
    if (!set) this.byModule.set(proc.module, (set = new Set()));
    set.add(proc);
    if (proc.pid.id >= this.nextId) this.nextId = proc.pid.id + 1;
  }

  /** Takes out an adopted process that could not start again (its init failed): nothing has seen it run. */
  discard(proc: Proc): void {
    proc.alive = false;
    this.procs.delete(proc.pid.id);
    this.byModule.get(proc.module)?.delete(proc);
  }

  get(id: number): Proc | undefined {
    return this.procs.get(id);
  }

  get count(): number {
    return this.procs.size;
  }

  /** Runs init to completion before the pid is handed out, as gen_server:start does. */
  async spawn(module: string, args: unknown, opts: { supervisor?: Pid; init?: (proc: Proc) => void } = {}): Promise<Pid> {
    return (await this.spawnProc(module, args, opts)).pid;
  }

  async spawnProc(module: string, args: unknown, opts: { supervisor?: Pid; init?: (proc: Proc) => void } = {}): Promise<Proc> {
    if (!this.builtins[module] && !this.table.has(module)) await this.host.load?.(module);
    const behaviour = this.builtins[module] ?? asBehaviour(this.table.current(module)?.exports);
    if (!behaviour) {
      const known = Object.keys(this.table.versions()).sort().join(", ");
      throw new ClusterError("unknown_module", `no module ${module} on node ${this.host.node} (known: ${known || "none"})`);
    }
    // A module with none of the callbacks (a library, the entry) would start and then fail at its first message, far
    // from the mistake: refuse it here, on the node that has the code, so every caller (API, remote, shell) hears why.
    if (!BEHAVIOUR_CALLBACKS.some((cb) => typeof (behaviour as Record<string, unknown>)[cb] === "function")) {
      const fns = Object.keys(behaviour).filter((k) => typeof (behaviour as Record<string, unknown>)[k] === "function");
      throw new ClusterError(
        "bad_behaviour",
        `${module} is not a behaviour: it exports none of ${BEHAVIOUR_CALLBACKS.join(", ")} (it exports: ${fns.sort().join(", ") || "no functions"}); spawn a module that exports gen_server-style callbacks, or use rpc to run a plain function`,
        { module },
      );
    }
    const proc = new Proc(new Pid(this.host.node, this.nextId++), module, args);
    proc.supervisor = opts.supervisor;
    opts.init?.(proc);
    // It exists from the start of init: what init sends itself, or what arrives for a name it registers,
    // waits in its mailbox until init is done, and a failed init is an exit like any other (names, timers, links cleaned).
    proc.initializing = true;
    this.procs.set(proc.pid.id, proc);
    let set = this.byModule.get(module);
    if (!set) this.byModule.set(module, (set = new Set()));
    set.add(proc);
    const init = behaviour.init;
    try {
      proc.state = typeof init === "function" ? await currentProc.run(proc, async () => init(args)) : args;
    } catch (err) {
      this.host.log.error({ proc: proc.pid.toString(), module, err }, "init failed");
      const failure = new ClusterError("init_failed", `${module}.init failed on ${this.host.node}: ${(err as Error)?.message ?? String(err)}`, { cause: err });
      await this.exit(proc, failure);
      throw failure;
    }
    proc.initializing = false;
    if (!proc.alive) throw new ClusterError("init_failed", `${module} on ${this.host.node} ended during its init`);
    if (proc.mailbox.length > 0 && !proc.running) {
      proc.running = true;
      void currentProc.run(proc, () => this.drain(proc));
    }
    return proc;
  }

  /** false when there is no such process (the caller answers noproc). */
  deliver(id: number, env: Envelope, front = false): boolean {
    const proc = this.procs.get(id);
    if (!proc || !proc.alive) return false;
    if (front) proc.mailbox.unshift(env);
    else proc.mailbox.push(env);
    if (!proc.running && !proc.initializing) {
      proc.running = true;
      void currentProc.run(proc, () => this.drain(proc));
    }
    return true;
  }

  private async drain(proc: Proc): Promise<void> {
    let turn = 0;
    while (proc.alive && proc.mailbox.length > 0) {
      let at = 0;
      if (proc.suspended) {
        at = proc.mailbox.findIndex((e) => e.kind === "system");
        if (at < 0) break;
      }
      const env = proc.mailbox.take(at)!;
      try {
        // A handler that returns no promise is handled without one: a promise and a microtask per message was most of a local cast.
        const pending = handle(this.handling, proc, env);
        if (pending) await pending;
        proc.handled++;
        this.handledTotal++;
      } catch (err) {
        this.crash(proc, env, err);
      }
      // Without an await a long mailbox would be handled in one go, holding back every other process's microtasks.
      if (++turn === YIELD_EVERY) {
        turn = 0;
        await undefined;
      }
    }
    proc.running = false;
  }

  /** A handler threw: this process ends, the node goes on (gen_server's crash report, handle.ts). */
  private crash(proc: Proc, env: Envelope, err: unknown): void {
    if (!proc.alive) return;
    void this.exit(proc, crashed(this.handling, proc, env, err));
  }

  /**
   * Ends a process. Calls still in its mailbox are answered noproc and
   * deferred calls hear the reason, so no caller waits for a timeout. Its
   * exit signals go out after terminate has finished (a supervisor's
   * terminate shuts its children down first, as OTP's does). A process
   * killed with "kill" does not run terminate.
   */
  exit(proc: Proc, reason: unknown): Promise<void> {
    if (!proc.alive) return Promise.resolve();
    proc.alive = false;
    proc.suspended = false;
    this.procs.delete(proc.pid.id);
    this.byModule.get(proc.module)?.delete(proc);
    // A process still on the old version ends with the old version's terminate, which knows its state's shape.
    const exports = this.exportsOf(proc);
    this.oldVersions.unpin(proc);
    for (const env of proc.mailbox.drain()) {
      if (env.kind === "call") this.host.reply(env.from, { ok: false, error: noproc(proc.pid) });
      else if (env.kind === "system") env.abandon?.();
    }
    for (const [key, from] of proc.deferred ?? []) {
      this.deferredCalls.delete(key);
      this.host.reply(from, { ok: false, error: exitedError(proc, reason) });
    }
    proc.deferred = undefined;
    const finish = (): void => {
      // After terminate (which may still write a goodbye on its socket), before links and monitors hear of the exit:
      // whoever is told it ended may rely on its port being free again.
      if (proc.resources) release(proc.resources, (err) => this.host.log.warn({ proc: proc.pid.toString(), err }, "closing an owned resource failed"));
      this.host.exited(proc, reason);
      const hooks = proc.exitHooks;
      proc.exitHooks = undefined;
      for (const hook of hooks ?? []) hook(reason);
    };
    const terminate = reason === "killed" || proc.initializing ? undefined : exports?.terminate;
    if (typeof terminate !== "function") {
      finish();
      return Promise.resolve();
    }
    let r: unknown;
    try {
      r = currentProc.run(proc, () => terminate(reason, proc.state));
    } catch (err) {
      this.host.log.warn({ proc: proc.pid.toString(), err }, "terminate failed");
    }
    if (!isThenable(r)) {
      finish();
      return Promise.resolve();
    }
    const limit = this.builtins[proc.module] ? Infinity : TERMINATE_LIMIT_MS;
    let timer: NodeJS.Timeout | undefined;
    const capped = limit === Infinity ? Promise.resolve(r) : Promise.race([Promise.resolve(r), new Promise((resolve) => (timer = setTimeout(resolve, limit)))]);
    return capped
      .catch((err: unknown) => this.host.log.warn({ proc: proc.pid.toString(), err }, "terminate failed"))
      .finally(() => {
        if (timer) clearTimeout(timer);
        finish();
      }) as Promise<void>;
  }

  /** Resolves once `id` has exited (at once if it is not alive). */
  awaitExit(id: number): Promise<unknown> {
    const proc = this.procs.get(id);
    if (!proc) return Promise.resolve("noproc");
    return new Promise((resolve) => (proc.exitHooks ??= []).push(resolve));
  }

  kill(id: number, reason: unknown): boolean {
    const proc = this.procs.get(id);
    if (!proc) return false;
    void this.exit(proc, reason);
    return true;
  }

  suspend(id: number): boolean {
    const proc = this.procs.get(id);
    if (!proc) return false;
    proc.suspended = true;
    return true;
  }

  resume(id: number): boolean {
    const proc = this.procs.get(id);
    if (!proc) return false;
    proc.suspended = false;
    if (!proc.running && !proc.initializing && proc.mailbox.length > 0) {
      proc.running = true;
      void currentProc.run(proc, () => this.drain(proc));
    }
    return true;
  }

  /** pids still running the old version of a module: they block a third version. */
  oldVersionUsers(module: string): string[] {
    return this.oldVersions.users(module);
  }

  /** A forced load purges the oldest version: its remaining processes are killed. */
  purge(module: string): void {
    this.oldVersions.purge(module);
  }

  /** After a commit: each process of a changed module runs its codeChange, first in its mailbox (codeChange.ts). */
  codeChange(changed: { name: string; from?: string; to: string }[]): Promise<{ pid: Pid; error: WireError }[]> {
    return this.oldVersions.codeChange(changed);
  }

  /** The version of its module a process runs: the old one while pinned to it. */
  versionOf(proc: Proc): string {
    return this.builtins[proc.module] ? "builtin" : (proc.pinned?.version ?? this.table.current(proc.module)?.version ?? "?");
  }

  info(proc: Proc): ProcessInfo {
    return infoOf(proc, this.versionOf(proc));
  }

  list(): ProcessInfo[] {
    return [...this.procs.values()].map((p) => this.info(p));
  }
}
