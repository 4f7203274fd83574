/**
 * A node's processes across its own restart: written to a snapshot before it
 * stops (`devcluster restart`, a dependency change, `stop --keep-state`) and
 * made again, same pids, when it is back (process/snapshot.ts holds the
 * records, wire/snapshotFile.ts the file).
 */
import { rmSync } from "node:fs";
import type { Logger } from "../../wire/log";
import type { Pid } from "../../wire/pid";
import type { PeerMessage } from "../../wire/protocol";
import { readSnapshot, writeSnapshot } from "../../wire/snapshotFile";
import type { Behaviour } from "../process/behaviour";
import type { Processes } from "../process/process";
import { asBehaviour } from "../process/proc";
import { capture, freeze, restore, type ProcRecord, type RestoreReport } from "../process/snapshot";
import type { Timers } from "../process/timers";

export interface KeepStateHost {
  readonly name: string;
  readonly cluster: string;
  readonly log: Logger;
  readonly procs: Processes;
  readonly timers: Timers;
  /** the peers this node is connected to, told it is away before it goes */
  peers(): string[];
  toPeer(node: string, msg: PeerMessage): boolean;
  namesOf(pid: Pid): string[];
  register(name: string, pid: Pid): Promise<void>;
  send(pid: Pid, msg: unknown): void;
  /** a signal to a pid here or on a peer (links, monitors) */
  signal(msg: Extract<PeerMessage, { type: "exit" | "down" }>): void;
  /** a builtin behaviour (supervisor, shell mailbox) or a user module's current exports, loaded on first use */
  exportsOf(module: string): Promise<Behaviour | undefined>;
  currentVersion(module: string): string | undefined;
}

/** What `snapshot` wrote: the restart's report shows it beside what came back. */
export interface SnapshotSummary {
  processes: number;
  bytes: number;
  /** ms to freeze and write */
  ms: number;
}

/**
 * Freezes every process between messages and writes them to `file`. The node
 * is about to stop: nothing runs here after this, its timers are cancelled
 * (their time left is in the file) and its peers hold their links to it.
 */
export async function writeNodeSnapshot(host: KeepStateHost, file: string): Promise<SnapshotSummary> {
  const t0 = performance.now();
  for (const peer of host.peers()) host.toPeer(peer, { type: "away", node: host.name });
  const busy = await freeze(host.procs.all());
  const records = capture(
    {
      node: host.name,
      all: () => host.procs.all(),
      versionOf: (p) => host.procs.versionOf(p),
      namesOf: (pid) => host.namesOf(pid),
      pendingTimers: (p) => host.timers.pendingOf(p),
    },
    busy,
  );
  host.timers.close();
  const bytes = writeSnapshot(file, { cluster: host.cluster, node: host.name, takenAt: new Date().toISOString(), processes: records.length }, records);
  return { processes: records.length, bytes, ms: Math.round(performance.now() - t0) };
}

/**
 * Makes the processes of `file` again, then removes it (a snapshot is used
 * once). A refused file (another cluster or version, damaged) restores
 * nothing: throws bad_snapshot before any process is made.
 */
export async function restoreNodeSnapshot(host: KeepStateHost, file: string): Promise<RestoreReport> {
  const t0 = performance.now();
  const { records } = readSnapshot(file, { cluster: host.cluster, node: host.name });
  rmSync(file, { force: true });
  const exports = new Map<string, Behaviour | undefined>();
  for (const rec of records as ProcRecord[]) {
    if (!exports.has(rec.module)) exports.set(rec.module, await host.exportsOf(rec.module).catch(() => undefined));
  }
  const { report, procs } = await restore(
    {
      node: host.name,
      exportsOf: (m) => asBehaviour(exports.get(m) as Record<string, unknown> | undefined),
      currentVersion: (m) => host.currentVersion(m),
      adopt: (p) => host.procs.adopt(p),
      discard: (p) => host.procs.discard(p),
      startTimer: (p, t) => void host.timers.start(p, t.left, () => host.send(t.to, t.msg), t.periodic, { to: t.to, msg: t.msg, ms: t.ms }, t.left),
      register: (name, pid) => host.register(name, pid),
      gone: (pid, links, watchers) => {
        for (const to of links) host.signal({ type: "exit", from: pid, to, reason: "noproc", link: true });
        for (const [ref, to] of watchers) host.signal({ type: "down", to, ref, pid, reason: "noproc" });
      },
    },
    records as ProcRecord[],
  );
  for (const p of procs) host.procs.resume(p.pid.id);
  return { ...report, ms: Math.round(performance.now() - t0) };
}

/** What a node's start did with its snapshot: the restore's report, or why the file was refused (then nothing was made). */
export type Restored = RestoreReport & { refused?: string };

/** Restores from `file`, or says in the log why it was refused; the node then starts fresh. */
export async function restoreOrRefuse(host: KeepStateHost, file: string): Promise<Restored> {
  try {
    const r = await restoreNodeSnapshot(host, file);
    host.log.info(
      { restored: r.restored, restarted: r.restarted, lost: r.lost },
      `processes back from the snapshot: ${r.restored} restored, ${r.restarted.length} started again from init, ${r.lost.length} lost`,
    );
    return r;
  } catch (err) {
    host.log.error({ err }, "the snapshot was refused; the node starts fresh");
    return { restored: 0, restarted: [], lost: [], refused: (err as Error).message };
  }
}
