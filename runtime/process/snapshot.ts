/**
 * What a node's processes become across a restart of their node: each is
 * frozen between messages and written down (state, mailbox, links, monitors,
 * timers, names, trap-exit flag), then made again with the same pid in the
 * node's next life. The file around these records is wire/snapshotFile.ts.
 */
import { decodeValue, encodeValue } from "../../wire/codec";
import { NotSendable } from "../../wire/sendable";
import { Pid, parsePid } from "../../wire/pid";
import type { From } from "../../wire/protocol";
import type { Behaviour } from "./behaviour";
import { Proc, currentProc, type Envelope } from "./proc";
import type { PendingTimer } from "./timers";

/** One process as a snapshot holds it; user values are encoded (wire/codec.ts), pids are their text. */
export interface ProcRecord {
  id: number;
  module: string;
  /** the module version it ran: codeChange runs at restore when the current one differs */
  version: string;
  /** absent when they cannot be written: the process cannot come back, for `why` */
  initArgs?: Uint8Array;
  /** absent when it could not be written: the process starts again from init, for `why` */
  state?: Uint8Array;
  why?: string;
  /** messages not yet handled; each of these is left out when empty (a snapshot of many idle processes stays small) */
  mailbox?: Uint8Array;
  trapExit?: true;
  links?: string[];
  /** [ref, pid] */
  monitors?: [string, string][];
  watchers?: [string, string][];
  nodeMonitors?: string[];
  supervisor?: string;
  names?: string[];
  timers?: Uint8Array;
  handled: number;
  /** what of it was not written (messages that could not be copied): it comes back without them, and the report says so */
  dropped?: string;
}

/** What the restore did with each process: the restart's report. */
export interface RestoreReport {
  restored: number;
  /** started again from init with its first args (same pid), and why */
  restarted: { pid: string; module: string; why: string }[];
  /** could not come back at all (its module is gone, its init failed) */
  lost: { pid: string; module: string; why: string }[];
  /** ms to read the file and make every process again (set by keepState.ts) */
  ms?: number;
  /** restored, but without part of its mailbox */
  partly?: { pid: string; module: string; why: string }[];
}

/** The node's side of freezing and restoring (node.ts). */
export interface SnapshotHost {
  readonly node: string;
  all(): Iterable<Proc>;
  versionOf(proc: Proc): string;
  namesOf(pid: Pid): string[];
  pendingTimers(proc: Proc): PendingTimer[];
}

type Written = { kind: "call" | "cast" | "info"; msg: unknown; from?: From }[];

/** How long a process still inside a handler is waited for before it is written as busy. */
const FREEZE_LIMIT_MS = 2000;

/**
 * Suspends every process and resolves once none is inside a handler, or
 * after {@link FREEZE_LIMIT_MS}: whatever still runs then is named busy.
 */
export async function freeze(procs: Iterable<Proc>): Promise<Set<Proc>> {
  const all = [...procs];
  for (const p of all) p.suspended = true;
  const deadline = Date.now() + FREEZE_LIMIT_MS;
  // A handler awaiting a call ends when its answer comes: yielding to the event loop lets it.
  const busy = (p: Proc): boolean => p.alive && (p.running || p.initializing);
  while (all.some(busy) && Date.now() < deadline) await new Promise((r) => setImmediate(r));
  return new Set(all.filter(busy));
}

/** The records of every live process of the node (after {@link freeze}). */
export function capture(host: SnapshotHost, busy: Set<Proc>): ProcRecord[] {
  const out: ProcRecord[] = [];
  for (const proc of host.all()) {
    if (!proc.alive) continue;
    const messages: Written = [];
    let dropped = 0;
    let dropWhy = "";
    // System messages (sys ops, a codeChange's turn) belong to this life of the node: their askers are gone with it.
    proc.mailbox.findIndex((env) => {
      if (env.kind === "system") return false;
      try {
        // A local send passes its value by reference: it may hold what cannot be written (a socket).
        encodeValue(env.msg, true);
      } catch (err) {
        dropped++;
        dropWhy = whyNot(err, "msg");
        return false;
      }
      messages.push(env.kind === "call" ? { kind: "call", msg: env.msg, from: env.from } : { kind: env.kind, msg: env.msg });
      return false;
    });
    const base: Omit<ProcRecord, "initArgs"> = { id: proc.pid.id, module: proc.module, version: host.versionOf(proc), handled: proc.handled };
    if (proc.trapExit) base.trapExit = true;
    if (proc.links?.size) base.links = [...proc.links.keys()];
    if (proc.monitors?.size) base.monitors = [...proc.monitors].map(([ref, pid]) => [ref, pid.toString()]);
    if (proc.watchers?.size) base.watchers = [...proc.watchers].map(([ref, pid]) => [ref, pid.toString()]);
    if (proc.nodeMonitors?.size) base.nodeMonitors = [...proc.nodeMonitors];
    if (proc.supervisor) base.supervisor = proc.supervisor.toString();
    const names = host.namesOf(proc.pid);
    if (names.length) base.names = names;
    if (messages.length) base.mailbox = encodeValue(messages);
    if (dropped)
      base.dropped = `${dropped === 1 ? "1 message of its mailbox" : `${dropped} messages of its mailbox`} could not be copied (${dropWhy}): dropped`;
    const pending = host.pendingTimers(proc);
    const timers = pending.length ? encodeOr(pending) : undefined;
    if (timers) base.timers = timers;
    let initArgs: Uint8Array;
    try {
      initArgs = encodeValue(proc.initArgs, true);
    } catch (err) {
      // Without its first args it cannot even start again: the restore names it as lost.
      out.push({ ...base, why: `its init args cannot be copied (${whyNot(err, "args")}), so it cannot start again` });
      continue;
    }
    const record: ProcRecord = { ...base, initArgs };
    const why = busy.has(proc) ? `it was still in a handler or its init after ${FREEZE_LIMIT_MS} ms` : unclonable(proc);
    if (why) record.why = why;
    else {
      try {
        // checked: a class instance would come back as a plain object, a silent change of what the code sees.
        record.state = encodeValue(proc.state, true);
      } catch (err) {
        record.why = `its state cannot be copied: ${whyNot(err, "state")}`;
      }
    }
    out.push(record);
  }
  return out;
}

/** The codec's reason, naming the field from `root`, without its advice on messages (this is no message). */
function whyNot(err: unknown, root: string): string {
  const text = (err as Error).message.split("; messages carry")[0]!;
  if (!(err instanceof NotSendable)) return text;
  const at = err.path;
  return `${root}${at === "" ? "" : at.startsWith("[") ? at : `.${at}`}${text.slice(at.length)}`;
}

/** Timers whose message cannot be written are not kept: sendAfter checked each message when it was set, so this is rare. */
function encodeOr(pending: PendingTimer[]): Uint8Array | undefined {
  const kept = pending.filter((t) => {
    try {
      encodeValue(t.msg, true);
      return true;
    } catch {
      return false;
    }
  });
  return kept.length ? encodeValue(kept) : undefined;
}

/** A process that owns sockets or servers: a restart closes them, so its state would point at closed things. */
function unclonable(proc: Proc): string | undefined {
  const n = proc.resources?.size ?? 0;
  return n ? `it owns ${n} resource${n === 1 ? "" : "s"} (a socket, server or stream), which its node's restart closes; its init opens them again` : undefined;
}

function decode(bytes: Uint8Array): unknown {
  return decodeValue(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

function pidOf(text: string): Pid {
  const pid = parsePid(text);
  if (!pid) throw new Error(`not a pid: ${text}`);
  return pid;
}

/** The node's side of a restore: where restored processes go, and what they had besides state. */
export interface RestoreHost {
  readonly node: string;
  exportsOf(module: string): Behaviour | undefined;
  currentVersion(module: string): string | undefined;
  /** puts a made process into the node's table (its id kept) */
  adopt(proc: Proc): void;
  /** takes out a process whose restart from init failed */
  discard(proc: Proc): void;
  startTimer(proc: Proc, t: PendingTimer): void;
  register(name: string, pid: Pid): Promise<void>;
  /** a process that did not come back: its links hear an exit signal, its watchers a down, as if it ended now */
  gone(pid: Pid, links: Pid[], watchers: [string, Pid][]): void;
}

/**
 * Makes every recorded process again, suspended, with its pid; returns the
 * report and the processes, which the caller resumes once all are back (so
 * a message between two restored processes finds both).
 */
export async function restore(host: RestoreHost, records: ProcRecord[]): Promise<{ report: RestoreReport; procs: Proc[] }> {
  const report: RestoreReport = { restored: 0, restarted: [], lost: [] };
  const procs: Proc[] = [];
  const gone: ProcRecord[] = [];
  for (const rec of records) {
    const pid = new Pid(host.node, rec.id);
    let outcome: Outcome;
    try {
      outcome = await restoreOne(host, rec, pid);
    } catch (err) {
      // A record that cannot be read back is one process lost (restoreOne reads all of it before adopting it).
      outcome = { lost: `it could not be read back: ${(err as Error).message}` };
    }
    if ("lost" in outcome) {
      report.lost.push({ pid: pid.toString(), module: rec.module, why: outcome.lost });
      gone.push(rec);
      continue;
    }
    if (outcome.restarted !== undefined) report.restarted.push({ pid: pid.toString(), module: rec.module, why: outcome.restarted });
    else report.restored++;
    if (rec.dropped) (report.partly ??= []).push({ pid: pid.toString(), module: rec.module, why: rec.dropped });
    procs.push(outcome.proc);
  }
  // Who linked to or monitored a process that did not come back hears that it is gone, not silence (a room's member list).
  for (const rec of gone) {
    host.gone(
      new Pid(host.node, rec.id),
      (rec.links ?? []).map(pidOf),
      (rec.watchers ?? []).map(([ref, t]) => [ref, pidOf(t)] as [string, Pid]),
    );
  }
  return { report, procs };
}

type Outcome = { lost: string } | { proc: Proc; restarted?: string };

async function restoreOne(host: RestoreHost, rec: ProcRecord, pid: Pid): Promise<Outcome> {
  if (!rec.initArgs) return { lost: rec.why ?? "its init args were not written" };
  const exports = host.exportsOf(rec.module);
  if (!exports) return { lost: `module ${rec.module} is no longer in the code` };
  const args = decode(rec.initArgs);
  const proc = new Proc(pid, rec.module, args);
  proc.suspended = true;
  proc.trapExit = rec.trapExit === true;
  if (rec.links) proc.links = new Map(rec.links.map((t) => [t, pidOf(t)]));
  if (rec.monitors) proc.monitors = new Map(rec.monitors.map(([ref, t]) => [ref, pidOf(t)]));
  if (rec.watchers) proc.watchers = new Map(rec.watchers.map(([ref, t]) => [ref, pidOf(t)]));
  if (rec.nodeMonitors) proc.nodeMonitors = new Set(rec.nodeMonitors);
  if (rec.supervisor) proc.supervisor = pidOf(rec.supervisor);
  proc.handled = rec.handled;
  const messages = rec.mailbox ? (decode(rec.mailbox) as Written) : [];
  const timers = rec.timers ? (decode(rec.timers) as PendingTimer[]) : [];
  let why = rec.why;
  if (rec.state !== undefined) {
    let state = decode(rec.state);
    const now = host.currentVersion(rec.module);
    const change = exports.codeChange;
    if (now !== undefined && now !== rec.version && typeof change === "function") {
      try {
        state = await currentProc.run(proc, async () => change(rec.version, state));
      } catch (err) {
        why = `its codeChange from ${rec.version} to ${now} threw: ${(err as Error).message}`;
      }
    }
    proc.state = state;
  }
  // In the table before init runs: what init registers or links to finds it, as at a spawn.
  host.adopt(proc);
  if (why !== undefined) {
    const init = exports.init;
    try {
      proc.initializing = true;
      proc.state = typeof init === "function" ? await currentProc.run(proc, async () => init(args)) : args;
      proc.initializing = false;
    } catch (err) {
      host.discard(proc);
      return { lost: `${why}; starting it again from init failed: ${(err as Error).message}` };
    }
  }
  for (const m of messages) proc.mailbox.push(m.kind === "call" ? { kind: "call", msg: m.msg, from: m.from! } : ({ kind: m.kind, msg: m.msg } as Envelope));
  // A process started again from init sets its own timers; the old ones were for the state it lost.
  if (why === undefined) for (const t of timers) host.startTimer(proc, t);
  for (const name of rec.names ?? []) await host.register(name, pid).catch(() => undefined);
  return why === undefined ? { proc } : { proc, restarted: why };
}
