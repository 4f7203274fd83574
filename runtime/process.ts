import { AsyncLocalStorage } from "node:async_hooks";
import { inspect } from "node:util";
import type { Logger } from "./log";
import { Pid } from "./pid";
import type { From, ProcessInfo, WireError } from "./protocol";
import { toWireError } from "./protocol";

/** The slice of the module table the process layer reads on every message. */
export interface ModuleSource {
  has(name: string): boolean;
  current(name: string): { version: string; exports: Record<string, unknown> } | undefined;
  old(name: string): { version: string; exports: Record<string, unknown> } | undefined;
  versions(): Record<string, string>;
}

export type Envelope =
  | { kind: "call"; msg: unknown; from: From }
  | { kind: "cast"; msg: unknown }
  | { kind: "info"; msg: unknown }
  | { kind: "system"; run: (p: Proc) => Promise<void> | void };

export type Reply = { ok: true; value: unknown } | { ok: false; error: WireError };

export interface ProcessHost {
  readonly node: string;
  readonly log: Logger;
  /** answers a call, local or remote */
  reply(from: From, reply: Reply): void;
  /** a process ended: drop its names */
  exited(proc: Proc, reason: unknown): void;
}

/** A lightweight actor: pid, mailbox, state, behaviour module. */
export class Proc {
  readonly mailbox: Envelope[] = [];
  state: unknown;
  handled = 0;
  running = false;
  alive = true;
  /** set while this process stays on the old version (codeChange pending or failed) */
  pinned: { version: string; exports: Record<string, unknown> } | undefined;

  constructor(
    readonly pid: Pid,
    readonly module: string,
    /** what init got, so restart() can start it over */
    readonly initArgs: unknown,
    /** a behaviour the runtime itself provides (the shell's mailbox); never reloaded */
    readonly builtin?: Record<string, unknown>,
  ) {}
}

const currentProc = new AsyncLocalStorage<Proc>();

/** The process whose handler is running, also across its awaits. */
export function selfProc(): Proc | undefined {
  return currentProc.getStore();
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof (v as { then?: unknown }).then === "function";
}

function describe(value: unknown, depth = 3): string {
  const text = inspect(value, { depth, breakLength: Infinity, maxArrayLength: 10, maxStringLength: 200 });
  return text.length > 500 ? text.slice(0, 500) + "…" : text;
}

function errorWith(code: string, message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code });
}

/**
 * The processes of one node. Each message is dispatched through the module
 * table at the moment it is handled, so a reload reaches every process of a
 * behaviour in O(1) without touching its state.
 */
export class Processes {
  private readonly procs = new Map<number, Proc>();
  private readonly byModule = new Map<string, Set<Proc>>();
  /** processes still on an old version, per module: checked at every prepare, so kept rather than scanned */
  private readonly pinnedByModule = new Map<string, Set<Proc>>();
  private nextId = 1;

  constructor(
    private readonly table: ModuleSource,
    private readonly host: ProcessHost,
  ) {}

  /**
   * A restarted node must not hand out the pids of its previous life: a stale
   * `<n2.1>` held elsewhere would reach an unrelated process. Each incarnation
   * of a node numbers its processes from its own block (Erlang's creation).
   */
  startIdsAt(first: number): void {
    if (this.procs.size === 0) this.nextId = first;
  }

  get(id: number): Proc | undefined {
    return this.procs.get(id);
  }

  get count(): number {
    return this.procs.size;
  }

  /** Runs init to completion before the pid is handed out, as gen_server:start does. */
  async spawn(module: string, args: unknown, builtin?: Record<string, unknown>): Promise<Pid> {
    const mod = builtin ? { exports: builtin } : this.table.current(module);
    if (!mod) {
      const known = Object.keys(this.table.versions()).sort().join(", ");
      throw errorWith("unknown_module", `no module ${module} on node ${this.host.node} (known: ${known || "none"})`);
    }
    const proc = new Proc(new Pid(this.host.node, this.nextId++), module, args, builtin);
    const init = mod.exports.init;
    try {
      proc.state = typeof init === "function" ? await currentProc.run(proc, async () => init(args)) : args;
    } catch (err) {
      this.host.log.error({ proc: proc.pid.toString(), module, err }, "init failed");
      throw Object.assign(errorWith("init_failed", `${module}.init failed on ${this.host.node}: ${(err as Error)?.message ?? String(err)}`), { cause: err });
    }
    this.procs.set(proc.pid.id, proc);
    let set = this.byModule.get(module);
    if (!set) this.byModule.set(module, (set = new Set()));
    set.add(proc);
    return proc.pid;
  }

  /** false when there is no such process (the caller answers noproc). */
  deliver(id: number, env: Envelope, front = false): boolean {
    const proc = this.procs.get(id);
    if (!proc || !proc.alive) return false;
    if (front) proc.mailbox.unshift(env);
    else proc.mailbox.push(env);
    if (!proc.running) {
      proc.running = true;
      void currentProc.run(proc, () => this.drain(proc));
    }
    return true;
  }

  private async drain(proc: Proc): Promise<void> {
    while (proc.alive && proc.mailbox.length > 0) {
      const env = proc.mailbox.shift()!;
      try {
        await this.handle(proc, env);
        proc.handled++;
      } catch (err) {
        this.crash(proc, env, err);
      }
    }
    proc.running = false;
  }

  private async handle(proc: Proc, env: Envelope): Promise<void> {
    if (env.kind === "system") return env.run(proc);
    const exports = proc.builtin ?? proc.pinned?.exports ?? this.table.current(proc.module)?.exports ?? {};
    switch (env.kind) {
      case "call": {
        const fn = exports.handleCall;
        if (typeof fn !== "function") throw errorWith("bad_behaviour", `${proc.module} exports no handleCall`);
        let r = fn(env.msg, env.from, proc.state);
        if (isThenable(r)) r = await r;
        if (r === null || typeof r !== "object" || !("state" in r)) {
          throw errorWith("bad_return", `${proc.module}.handleCall must return { reply, state } or { noreply: true, state }, got ${describe(r, 1)}`);
        }
        const result = r as { reply?: unknown; noreply?: boolean; state: unknown };
        proc.state = result.state;
        if (!result.noreply) this.host.reply(env.from, { ok: true, value: result.reply });
        return;
      }
      case "cast":
      case "info": {
        const name = env.kind === "cast" ? "handleCast" : "handleInfo";
        const fn = exports[name];
        if (typeof fn !== "function") {
          // OTP's gen_server logs an unexpected info and goes on; a cast to a process without handleCast is a bug in the sender.
          if (env.kind === "info") {
            this.host.log.warn({ proc: proc.pid.toString(), module: proc.module, msg: describe(env.msg) }, "unhandled message");
            return;
          }
          throw errorWith("bad_behaviour", `${proc.module} exports no handleCast`);
        }
        let s = fn(env.msg, proc.state);
        if (isThenable(s)) s = await s;
        proc.state = s;
        return;
      }
      default: {
        const unhandled: never = env;
        return unhandled;
      }
    }
  }

  /** A handler threw: this process ends, the node goes on (gen_server's crash report). */
  private crash(proc: Proc, env: Envelope, err: unknown): void {
    this.host.log.error(
      {
        proc: proc.pid.toString(),
        module: proc.module,
        lastMessage: env.kind === "system" ? "(code change)" : describe((env as { msg: unknown }).msg),
        state: describe(proc.state),
        err,
      },
      "process crashed",
    );
    if (env.kind === "call") {
      const wire = toWireError(err, "process_crashed");
      this.host.reply(env.from, {
        ok: false,
        error: { ...wire, code: "process_crashed", message: `process ${proc.pid} (${proc.module}) crashed: ${wire.message}` },
      });
    }
    this.exit(proc, err);
  }

  /** Ends a process; calls still in its mailbox are answered so no caller waits for a timeout. */
  exit(proc: Proc, reason: unknown): void {
    if (!proc.alive) return;
    proc.alive = false;
    this.procs.delete(proc.pid.id);
    this.byModule.get(proc.module)?.delete(proc);
    this.unpin(proc);
    for (const env of proc.mailbox.splice(0)) {
      if (env.kind === "call") this.host.reply(env.from, { ok: false, error: noproc(proc.pid) });
    }
    const terminate = (proc.builtin ?? proc.pinned?.exports ?? this.table.current(proc.module)?.exports)?.terminate;
    if (typeof terminate === "function") {
      try {
        const r = terminate(reason, proc.state);
        if (isThenable(r)) Promise.resolve(r).catch((err: unknown) => this.host.log.warn({ proc: proc.pid.toString(), err }, "terminate failed"));
      } catch (err) {
        this.host.log.warn({ proc: proc.pid.toString(), err }, "terminate failed");
      }
    }
    this.host.exited(proc, reason);
  }

  kill(id: number, reason: unknown): boolean {
    const proc = this.procs.get(id);
    if (!proc) return false;
    this.exit(proc, reason);
    return true;
  }

  /** pids still running the old version of a module: they block a third version. */
  oldVersionUsers(module: string): string[] {
    return [...(this.pinnedByModule.get(module) ?? [])].map((p) => p.pid.toString());
  }

  /** A forced load purges the oldest version: its remaining processes are killed. */
  purge(module: string): void {
    for (const p of [...(this.pinnedByModule.get(module) ?? [])]) this.exit(p, "purged");
  }

  private pin(proc: Proc, to: { version: string; exports: Record<string, unknown> }): void {
    proc.pinned = to;
    let set = this.pinnedByModule.get(proc.module);
    if (!set) this.pinnedByModule.set(proc.module, (set = new Set()));
    set.add(proc);
  }

  private unpin(proc: Proc): void {
    proc.pinned = undefined;
    this.pinnedByModule.get(proc.module)?.delete(proc);
  }

  /**
   * After a commit: processes of a module whose new version exports
   * codeChange stay pinned to the old code until their codeChange has run,
   * first in their mailbox; one that throws keeps its state on the old version.
   */
  codeChange(changed: { name: string; from?: string; to: string }[]): Promise<{ pid: Pid; error: WireError }[]> {
    const waits: Promise<{ pid: Pid; error: WireError } | undefined>[] = [];
    for (const { name, from } of changed) {
      const next = this.table.current(name)?.exports;
      const prev = this.table.old(name);
      const fn = next?.codeChange;
      if (from === undefined || !prev || typeof fn !== "function") continue;
      for (const proc of this.byModule.get(name) ?? []) {
        if (proc.builtin) continue;
        this.pin(proc, prev);
        waits.push(
          new Promise((resolve) => {
            const run = async (p: Proc): Promise<void> => {
              try {
                let s = fn(from, p.state);
                if (isThenable(s)) s = await s;
                p.state = s;
                this.unpin(p);
                resolve(undefined);
              } catch (err) {
                this.host.log.error({ proc: p.pid.toString(), module: name, err }, "codeChange failed; process stays on the old version");
                resolve({ pid: p.pid, error: toWireError(err, "code_change_failed") });
              }
            };
            this.deliver(proc.pid.id, { kind: "system", run }, true);
          }),
        );
      }
    }
    return Promise.all(waits).then((r) => r.filter((x): x is { pid: Pid; error: WireError } => x !== undefined));
  }

  info(proc: Proc): ProcessInfo {
    return {
      pid: proc.pid,
      module: proc.module,
      version: proc.builtin ? "builtin" : (proc.pinned?.version ?? this.table.current(proc.module)?.version ?? "?"),
      names: [],
      mailbox: proc.mailbox.length,
      handled: proc.handled,
      status: proc.running ? "running" : "waiting",
    };
  }

  list(): ProcessInfo[] {
    return [...this.procs.values()].map((p) => this.info(p));
  }
}

export function noproc(pid: Pid): WireError {
  return { code: "noproc", message: `process ${pid} is not alive (it lived on node ${pid.node})` };
}
