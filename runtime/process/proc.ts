/**
 * One process as data: its pid, mailbox, state and what it holds (links,
 * monitors, timers, resources), what a message carries to it, and which
 * process is running now. The loop that runs them is process.ts.
 */
import { AsyncLocalStorage } from "node:async_hooks";
import { Fifo } from "../../wire/fifo";
import type { Pid } from "../../wire/pid";
import type { From, ProcessInfo, WireError } from "../../wire/protocol";
import { memoryOf } from "./reasons";
import type { Behaviour } from "./behaviour";
import type { Ownable } from "./resources";

export type Envelope =
  | { kind: "call"; msg: unknown; from: From }
  | { kind: "cast"; msg: unknown }
  | { kind: "info"; msg: unknown }
  | { kind: "system"; run: (p: Proc) => Promise<void> | void; abandon?: () => void };

export type Reply = { ok: true; value: unknown } | { ok: false; error: WireError };
/**
 * A lightweight actor: pid, mailbox, state, behaviour module.
 *
 * Its links, monitors, timers, deferred calls, resources and exit hooks are
 * made on first use: most processes never use most of them, yet an empty Map
 * costs about 185 B and an empty Set about 150 B on Node 20, and seven of them
 * were most of an idle process's 1.6 KB (issue 13). Each field is still set
 * in the constructor, in one order, so every process has the same shape.
 */
export class Proc {
  readonly mailbox = new Fifo<Envelope>();
  state: unknown;
  handled = 0;
  running = false;
  alive = true;
  /** sys:suspend: ordinary messages wait in the mailbox, system messages still run */
  suspended = false;
  /** exit signals arrive as `{ exit: pid, reason }` messages instead of ending the process */
  trapExit = false;
  /** set while this process stays on the old version (codeChange pending or failed) */
  pinned: { version: string; exports: Record<string, unknown> } | undefined;
  /** linked pids by their printed form */
  links: Map<string, Pid> | undefined = undefined;
  /** monitor ref -> the pid this process watches */
  monitors: Map<string, Pid> | undefined = undefined;
  /** monitor ref -> the pid watching this process */
  watchers: Map<string, Pid> | undefined = undefined;
  /** nodes whose nodedown/nodeup this process hears about */
  nodeMonitors: Set<string> | undefined = undefined;
  /** refs of the timers it owns: they die with it, not with a module version */
  timers: Set<string> | undefined = undefined;
  /** calls answered `noreply` and not yet replied: their callers hear the exit reason if it ends */
  deferred: Map<string, From> | undefined = undefined;
  /** the supervisor that started it */
  supervisor: Pid | undefined;
  /** true while init runs: messages wait in the mailbox */
  initializing = false;
  /** sockets, servers, streams it owns (own(resource)): closed when it ends, however it ends */
  resources: Set<Ownable> | undefined = undefined;
  /** run once its exit has propagated (supervisors wait on these during shutdown) */
  exitHooks: ((reason: unknown) => void)[] | undefined = undefined;

  constructor(
    readonly pid: Pid,
    readonly module: string,
    /** what init got, so restart() can start it over */
    readonly initArgs: unknown,
  ) {}
}

export const currentProc = new AsyncLocalStorage<Proc>();
/** The process whose handler is running, also across its awaits. */
export function selfProc(): Proc | undefined {
  return currentProc.getStore();
}

/** A module's exports, as the behaviour they are meant to be (each callback is checked before it runs). */
export function asBehaviour(exports: Record<string, unknown> | undefined): Behaviour | undefined {
  return exports as Behaviour | undefined;
}

export function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof (v as { then?: unknown }).then === "function";
}

/** What `processInfo` shows of a process; names are the node's to add, `version` the module version it runs. */
export function infoOf(proc: Proc, version: string): ProcessInfo {
  return {
    pid: proc.pid,
    module: proc.module,
    version: version,
    names: [],
    mailbox: proc.mailbox.length,
    handled: proc.handled,
    status: proc.suspended ? "suspended" : proc.running ? "running" : "waiting",
    memory: memoryOf(proc.state),
    links: [...(proc.links?.values() ?? [])],
    monitors: [...(proc.monitors?.values() ?? [])],
    monitoredBy: [...(proc.watchers?.values() ?? [])],
    ...(proc.supervisor ? { supervisor: proc.supervisor } : {}),
    trapExit: proc.trapExit,
    timers: proc.timers?.size ?? 0,
    resources: proc.resources?.size ?? 0,
  };
}
