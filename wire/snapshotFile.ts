/**
 * The file a node's kept state is written to across a restart or a
 * `stop --keep-state` (`.devcluster/state/<node>.snapshot`, 0600): a header
 * line naming the cluster, node and devcluster version with the body's
 * SHA-256, then the records as V8's serialization. Read and written through
 * ownedFiles.ts, so a file another user planted, or a link, is refused.
 */
import { createHash } from "node:crypto";
import { closeSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { deserialize, serialize } from "node:v8";
import { ClusterError } from "./errors";
import { openOwned, writeOwned } from "./ownedFiles";

const MAGIC = "devcluster-snapshot 1";

/** The devcluster that wrote a snapshot: another one may lay out processes differently. */
export const DEVCLUSTER_VERSION = (require("../../package.json") as { version: string }).version;

export interface SnapshotHeader {
  cluster: string;
  node: string;
  devcluster: string;
  /** ISO time it was written */
  takenAt: string;
  processes: number;
  sha256: string;
}

/**
 * Where `node`'s snapshot lives under a project's state folder: one for a
 * restart (read by the node's next start), one `stop --keep-state` leaves for
 * the next `up`; a restart's that was never read is not taken for the other.
 */
export function snapshotPath(stateDir: string, node: string, kind: "restart" | "stop" = "stop"): string {
  return path.join(stateDir, "state", kind === "restart" ? `${node}.restart.snapshot` : `${node}.snapshot`);
}

/** Writes the records; returns the file's size in bytes. */
export function writeSnapshot(file: string, head: Omit<SnapshotHeader, "sha256" | "devcluster">, records: unknown[]): number {
  const body = serialize(records);
  const header: SnapshotHeader = { ...head, devcluster: DEVCLUSTER_VERSION, sha256: createHash("sha256").update(body).digest("hex") };
  const bytes = Buffer.concat([Buffer.from(`${MAGIC}\n${JSON.stringify(header)}\n`), body]);
  writeOwned(file, bytes);
  return bytes.length;
}

/**
 * The header and body of a snapshot, checked against what is expected of it:
 * throws bad_snapshot naming what is wrong (another cluster, node or
 * devcluster version, a damaged body), never a partial result.
 */
export function readSnapshot(file: string, expect: { cluster: string; node: string }): { header: SnapshotHeader; records: unknown[] } {
  const { fd } = openOwned(file, "the kept-state snapshot");
  let bytes: Buffer;
  try {
    bytes = readFileSync(fd);
  } finally {
    closeSync(fd);
  }
  const bad = (why: string): ClusterError => new ClusterError("bad_snapshot", `snapshot ${file} refused: ${why}`);
  const first = bytes.indexOf(10);
  const second = first < 0 ? -1 : bytes.indexOf(10, first + 1);
  if (second < 0 || bytes.toString("utf8", 0, first) !== MAGIC) throw bad("it is not a devcluster snapshot (damaged, or not written by devcluster)");
  let header: SnapshotHeader;
  try {
    header = JSON.parse(bytes.toString("utf8", first + 1, second)) as SnapshotHeader;
  } catch {
    throw bad("its header is damaged");
  }
  if (header.cluster !== expect.cluster) throw bad(`it was written by cluster ${JSON.stringify(header.cluster)}, this is ${JSON.stringify(expect.cluster)}`);
  if (header.node !== expect.node) throw bad(`it holds node ${header.node}'s processes, not ${expect.node}'s`);
  if (header.devcluster !== DEVCLUSTER_VERSION) throw bad(`it was written by devcluster ${header.devcluster}, this is ${DEVCLUSTER_VERSION}`);
  const body = bytes.subarray(second + 1);
  if (createHash("sha256").update(body).digest("hex") !== header.sha256)
    throw bad("its contents do not match their checksum (the file is damaged or was cut short)");
  let records: unknown;
  try {
    records = deserialize(body);
  } catch (err) {
    throw bad(`its contents cannot be read: ${(err as Error).message}`);
  }
  if (!Array.isArray(records) || records.length !== header.processes) throw bad("its contents are not the processes its header names");
  return { header, records };
}
