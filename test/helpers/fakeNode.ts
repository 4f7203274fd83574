import { EventEmitter } from "node:events";
import pino from "pino";
import { Pid } from "../../wire/pid";
import type { From, PeerMessage, WireError } from "../../wire/protocol";
import { Processes, selfProc, type ModuleSource, type Proc, type ProcessHost, type Reply } from "../../runtime/process/process";
import { Signals } from "../../runtime/process/signals";
import { Timers } from "../../runtime/process/timers";

type Exports = Record<string, unknown>;
type Version = { version: string; exports: Exports };

/** A module table reduced to what the process layer reads: a current and an old version per name. */
export class FakeModules implements ModuleSource {
  private readonly mods = new Map<string, { current: Version; old?: Version }>();

  /** Installs a version as current (the previous one becomes old) and returns the change a commit would report. */
  load(name: string, version: string, exports: Exports): { name: string; from?: string; to: string } {
    const prev = this.mods.get(name);
    this.mods.set(name, { current: { version, exports }, ...(prev ? { old: prev.current } : {}) });
    return { name, ...(prev ? { from: prev.current.version } : {}), to: version };
  }

  has(name: string): boolean {
    return this.mods.has(name);
  }

  current(name: string): Version | undefined {
    return this.mods.get(name)?.current;
  }

  old(name: string): Version | undefined {
    return this.mods.get(name)?.old;
  }

  versions(): Record<string, string> {
    return Object.fromEntries([...this.mods].map(([n, m]) => [n, m.current.version]));
  }
}

/** Rejects with a message naming `what` unless `p` settles within `ms`. */
export async function within<T>(p: Promise<T>, what: string, ms = 2000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms}ms`)), ms)));
  try {
    return await Promise.race([p, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

export class CallError extends Error {
  constructor(readonly wire: WireError) {
    super(wire.message);
  }
  get code(): string {
    return this.wire.code;
  }
}

/**
 * One node's process layer (Processes, Signals, Timers) wired the way
 * runtime/node/node.ts wires it, with no sockets: replies land in a map,
 * messages to peers in `peerMessages`, and `connected` says which peers are up.
 * The `probe` module records every info message it gets on `events` ("info", pid, msg).
 */
export class FakeNode {
  readonly modules = new FakeModules();
  readonly events = new EventEmitter();
  readonly peerMessages: { node: string; msg: PeerMessage }[] = [];
  readonly connected = new Set<string>();
  readonly exits: { pid: Pid; reason: unknown }[] = [];
  readonly procs: Processes;
  readonly signals: Signals;
  readonly timers: Timers;
  /** what the node gives the process layer; `host.reply` is how the runtime answers a deferred call */
  readonly host: ProcessHost;
  private readonly pending = new Map<number, (r: Reply) => void>();
  private nextRef = 1;

  constructor(
    readonly node = "n1",
    table?: ModuleSource,
  ) {
    const log = pino({ level: "silent" });
    this.host = {
      node,
      log,
      reply: (from, reply) => {
        this.procs.replied(from);
        this.pending.get(from.ref)?.(reply);
        this.pending.delete(from.ref);
      },
      exited: (proc, reason) => {
        this.exits.push({ pid: proc.pid, reason });
        this.timers.cancelAll(proc);
        this.signals.exited(proc, reason);
        this.events.emit("exit", proc.pid, reason);
      },
    };
    this.procs = new Processes(table ?? this.modules, this.host);
    this.signals = new Signals({
      node,
      procs: this.procs,
      log,
      toPeer: (to, msg) => {
        if (!this.connected.has(to)) return false;
        this.peerMessages.push({ node: to, msg });
        return true;
      },
      connected: (to) => this.connected.has(to),
      makeRef: () => this.makeRef(),
    });
    this.timers = new Timers(() => this.makeRef());
    this.modules.load("probe", "p1", {
      init: (args: unknown) => ({ inbox: [], ...(args as object) }),
      handleInfo: (msg: unknown, state: { inbox: unknown[] }) => {
        state.inbox.push(msg);
        this.events.emit("info", selfProc()!.pid, msg);
        return state;
      },
      handleCall: (msg: unknown, _from: From, state: unknown) => ({ reply: msg, state }),
    });
  }

  makeRef(): string {
    return `#Ref<${this.node}.${this.nextRef++}>`;
  }

  proc(pid: Pid): Proc {
    const p = this.procs.get(pid.id);
    if (!p) throw new Error(`${pid} is not alive`);
    return p;
  }

  /** A call as a caller sees it: the reply value, or a CallError with the reply's code. */
  call(pid: Pid, msg: unknown, ms = 2000): Promise<unknown> {
    const ref = this.nextRef++;
    const from: From = { node: "caller", ref };
    const answer = new Promise<unknown>((resolve, reject) => {
      this.pending.set(ref, (r) => (r.ok ? resolve(r.value) : reject(new CallError(r.error))));
    });
    if (!this.procs.deliver(pid.id, { kind: "call", msg, from })) {
      this.pending.delete(ref);
      return Promise.reject(new CallError({ code: "noproc", message: `${pid} is not alive` }));
    }
    return within(answer, `reply from ${pid} to ${JSON.stringify(msg)}`, ms);
  }

  /** Resolves once everything already in `pid`'s mailbox has been handled (a system message runs even while it is suspended). */
  barrier(pid: Pid, ms = 2000): Promise<void> {
    const ran = new Promise<void>((resolve, reject) => {
      if (!this.procs.deliver(pid.id, { kind: "system", run: () => resolve(), abandon: () => reject(new Error(`${pid} ended`)) }))
        reject(new Error(`${pid} is not alive`));
    });
    return within(ran, `barrier at ${pid}`, ms);
  }

  cast(pid: Pid, msg: unknown): boolean {
    return this.procs.deliver(pid.id, { kind: "cast", msg });
  }

  send(pid: Pid, msg: unknown): boolean {
    return this.procs.deliver(pid.id, { kind: "info", msg });
  }

  /** Resolves with the exit reason of `pid`; register before causing the exit. */
  exitOf(pid: Pid, ms = 2000): Promise<unknown> {
    const done = new Promise<unknown>((resolve) => {
      const on = (p: Pid, reason: unknown): void => {
        if (!p.equals(pid)) return;
        this.events.off("exit", on);
        resolve(reason);
      };
      this.events.on("exit", on);
    });
    return within(done, `exit of ${pid}`, ms);
  }

  /** What a probe process has handled as info messages so far, markers left out. */
  inbox(pid: Pid): unknown[] {
    return (this.proc(pid).state as { inbox: unknown[] }).inbox.filter((m) => !isMarker(m));
  }

  /** Resolves with the probe's inbox once `pred` holds for it (checked now and after each info message it handles). */
  waitInbox(pid: Pid, pred: (inbox: unknown[]) => boolean, ms = 2000): Promise<unknown[]> {
    const ready = new Promise<unknown[]>((resolve) => {
      const check = (): boolean => {
        const p = this.procs.get(pid.id);
        const inbox = p ? this.inbox(pid) : [];
        if (!pred(inbox)) return false;
        this.events.off("info", check);
        resolve(inbox);
        return true;
      };
      if (!check()) this.events.on("info", check);
    });
    return within(ready, `inbox of ${pid}`, ms);
  }

  /**
   * The probe's inbox once a marker sent now has been handled: messages are
   * handled in order, so whatever was in its mailbox before is in the list.
   */
  async inboxAfterMarker(pid: Pid, ms = 2000): Promise<unknown[]> {
    const marker = { marker: this.nextRef++ };
    const all = () => (this.proc(pid).state as { inbox: unknown[] }).inbox;
    const seen = new Promise<void>((resolve) => {
      const on = (): void => {
        if (!all().includes(marker)) return;
        this.events.off("info", on);
        resolve();
      };
      this.events.on("info", on);
    });
    this.send(pid, marker);
    await within(seen, `marker at ${pid}`, ms);
    return this.inbox(pid);
  }

  close(): void {
    this.timers.close();
  }
}

function isMarker(m: unknown): boolean {
  return m !== null && typeof m === "object" && "marker" in m;
}

export function remotePid(node: string, id: number): Pid {
  return new Pid(node, id);
}
