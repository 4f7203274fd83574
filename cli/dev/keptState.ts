/**
 * `up`'s side of keeping processes across node restarts: asks a node to
 * write its processes before it stops, hands the snapshot to its next start,
 * and reads back what came back (runtime/node/keepState.ts is the node's
 * side). `stop --keep-state` writes every node's; the next `up` checks them
 * all before any node starts and restores all or none.
 */
import { existsSync, readdirSync, rmSync } from "node:fs";
import * as path from "node:path";
import type { Logger } from "../../wire/log";
import type { NodeOp } from "../../wire/protocol";
import { ensureOwnedDir } from "../../wire/ownedFiles";
import { readSnapshot, snapshotPath } from "../../wire/snapshotFile";
import { stateDir } from "../project/stateDir";
import type { KeptRestart } from "./reports";

export interface KeptStateHost {
  readonly projectDir: string;
  readonly log: Logger;
  nodeRequest(node: string, op: NodeOp, timeoutMs?: number): Promise<unknown>;
}

/** A snapshot of many processes takes a while to freeze and write; the node answers when it is on disk. */
const SNAPSHOT_TIMEOUT_MS = 120_000;

interface Written {
  processes: number;
  bytes: number;
  ms: number;
}

/** Asks `node` to write its processes; the file its next start restores from, or why it could not (then its processes are lost). */
export async function writeNodeState(
  host: KeptStateHost,
  node: string,
  kind: "restart" | "stop",
): Promise<{ file: string; written: Written } | { error: string }> {
  const file = snapshotPath(stateDir(host.projectDir), node, kind);
  try {
    ensureOwnedDir(path.dirname(file), "the kept-state folder");
    const written = (await host.nodeRequest(node, { op: "snapshot", file }, SNAPSHOT_TIMEOUT_MS)) as Written;
    return { file, written };
  } catch (err) {
    rmSync(file, { force: true });
    return { error: (err as Error).message };
  }
}

/**
 * One node's restart with its processes kept: `restart` stops it and starts
 * it with DEVCLUSTER_RESTORE set to `env`, resolving once its entry (or
 * restore) is done. The report's time away runs from the freeze to the
 * node's being back.
 */
export async function restartKeepingState(
  host: KeptStateHost,
  node: string,
  restart: (env: Record<string, string>) => Promise<void>,
  fresh = false,
): Promise<KeptRestart> {
  const t0 = performance.now();
  if (fresh) {
    await restart({});
    return { awayMs: Math.round(performance.now() - t0), notKept: "restarted with --fresh" };
  }
  const snap = await writeNodeState(host, node, "restart");
  if ("error" in snap) {
    host.log.warn({ member: node, error: snap.error }, `${node}: its processes could not be written (${snap.error}); they start afresh`);
    await restart({});
    return { awayMs: Math.round(performance.now() - t0), notKept: snap.error };
  }
  await restart({ DEVCLUSTER_RESTORE: snap.file });
  const awayMs = Math.round(performance.now() - t0);
  const back = (await host.nodeRequest(node, { op: "restored" }).catch(() => null)) as (Omit<KeptRestart, "awayMs" | "snapshot"> & { ms?: number }) | null;
  if (!back) return { awayMs, snapshot: snap.written, notKept: "the node did not say what it restored" };
  const { ms, ...rest } = back;
  return { awayMs, snapshot: snap.written, ...rest, ...(ms !== undefined ? { restoreMs: ms } : {}) };
}

/**
 * The snapshots `stop --keep-state` left, when every one is sound: node ->
 * file. One refused (another cluster or devcluster version, damaged, written
 * by another user) refuses them all, with the reason logged, and removes
 * them: nodes start fresh rather than half the cluster coming back.
 */
export function keptSnapshots(projectDir: string, cluster: string, nodes: string[], log: Logger): Map<string, string> {
  const dir = path.dirname(snapshotPath(stateDir(projectDir), "x"));
  const found = new Map<string, string>();
  if (!existsSync(dir)) return found;
  // A restart's snapshot its node never read (it failed to start, up stopped) is stale now: it restores nothing.
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".restart.snapshot"))) rmSync(path.join(dir, f), { force: true });
  const files = readdirSync(dir).filter((f) => f.endsWith(".snapshot"));
  try {
    for (const f of files) {
      const node = f.slice(0, -".snapshot".length);
      if (!nodes.includes(node))
        throw new Error(`snapshot ${path.join(dir, f)} refused: it is of node ${node}, which is not in this cluster (nodes: ${nodes.join(", ")})`);
      const file = snapshotPath(stateDir(projectDir), node);
      readSnapshot(file, { cluster, node });
      found.set(node, file);
    }
  } catch (err) {
    log.error({ err }, `the kept state is refused, every node starts fresh: ${(err as Error).message}`);
    for (const f of files) rmSync(path.join(dir, f), { force: true });
    found.clear();
  }
  if (found.size) log.info({ nodes: [...found.keys()] }, `restoring the processes \`stop --keep-state\` kept on ${[...found.keys()].join(", ")}`);
  return found;
}

/** What `stop --keep-state` wrote, per node; when one failed, none is kept. */
export interface KeptStop {
  kept: boolean;
  nodes: { node: string; processes?: number; bytes?: number; error?: string }[];
}

/** Every node writes its processes before the cluster stops; a failure on one removes them all (restored all or none). */
export async function keepAll(host: KeptStateHost, nodes: string[]): Promise<KeptStop> {
  const written = await Promise.all(nodes.map(async (node) => ({ node, snap: await writeNodeState(host, node, "stop") })));
  const kept = written.every((w) => !("error" in w.snap));
  if (!kept) for (const w of written) if (!("error" in w.snap)) rmSync(w.snap.file, { force: true });
  return {
    kept,
    nodes: written.map(({ node, snap }) =>
      "error" in snap ? { node, error: snap.error } : { node, processes: snap.written.processes, bytes: snap.written.bytes },
    ),
  };
}
