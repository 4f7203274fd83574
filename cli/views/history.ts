import { inspect } from "node:util";
import type { DiskDrift } from "../dev/diskDrift";
import type { RestartResult } from "../dev/coordinator";
import type { HistoryReport } from "../dev/versionHistory";
import { shortVersion, table } from "./tables";
import { bytes } from "./units";

/** 14:03:07, local time: history is read within one `up`, the day adds nothing. */
const clock = (iso: string): string => new Date(iso).toTimeString().slice(0, 8);

/**
 * The one rendering of `devcluster history` and the shell's history(): per
 * module, every version since `up`, oldest first, the current one marked.
 * A version is shown by its first 8 digits, what `rollback --to` takes.
 */
export function renderHistory(h: HistoryReport): string {
  const rows = [["module", "version", "time", "source", "size", "nodes"]];
  for (const m of h.modules) {
    for (const v of m.versions) {
      const source = v.by ? `${v.source} (${v.by})` : v.source;
      rows.push([m.module, `${shortVersion(v.version)}${v.current ? " *" : ""}`, clock(v.at), source, bytes(v.size), v.nodes.join(" ") || "-"]);
    }
  }
  return `${table(rows)}\n* current; roll back with \`devcluster rollback <module> --to <version>\``;
}

/** The shell's history(): prints as the table, `--json` gives the report. */
export class HistoryView {
  constructor(readonly report: HistoryReport) {}
  [inspect.custom](): string {
    return renderHistory(this.report);
  }
  toJSON(): HistoryReport {
    return this.report;
  }
}

/** One warning line per module the nodes run in another version than its file on disk, naming the file; for status and versions(). */
export function driftLines(drift: DiskDrift[] | undefined): string[] {
  const onDisk = (d: DiskDrift): string => `${d.file} as it is on disk${d.disk ? ` (${shortVersion(d.disk)})` : ""}`;
  return (drift ?? []).map((d) =>
    d.kept
      ? `warning: no node runs ${d.module}; the version a first spawn would load (${shortVersion(d.running)}) is not ${onDisk(d)}: ${d.why}`
      : `warning: ${d.module} runs ${shortVersion(d.running)}, not ${onDisk(d)}: ${d.why}`,
  );
}

/**
 * What `devcluster restart` and the shell's restartNodes() print: per node,
 * how long it was away, the processes back with their pids, and by name
 * every one that started again from init or did not come back, with why.
 */
export function renderRestart(results: RestartResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    const away = r.awayMs !== undefined ? `, away ${r.awayMs} ms` : "";
    lines.push(`${r.node} restarted (os pid ${r.osPidBefore ?? "-"} -> ${r.osPidAfter ?? "-"}), running the current code${away}`);
    if (r.notKept !== undefined || r.refused !== undefined) {
      lines.push(`  its processes were not kept (${r.refused ?? r.notKept}): they started afresh from the entry, their state is lost`);
      continue;
    }
    if (r.restored === undefined) {
      lines.push("  its processes were started afresh: their state is lost");
      continue;
    }
    const size = r.snapshot ? ` from a ${bytes(r.snapshot.bytes)} snapshot` : "";
    lines.push(`  ${r.restored === 1 ? "1 process restored with its state and pid" : `${r.restored} processes restored with their state and pids`}${size}`);
    for (const p of r.restarted ?? []) lines.push(`  started again from init (same pid, state lost): ${p.pid} ${p.module}: ${p.why}`);
    for (const p of r.lost ?? []) lines.push(`  lost: ${p.pid} ${p.module}: ${p.why}`);
    for (const p of r.partly ?? []) lines.push(`  restored without part of its mailbox: ${p.pid} ${p.module}: ${p.why}`);
  }
  return lines.join("\n");
}
