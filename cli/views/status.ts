import { inspect } from "node:util";
import type { StatusReport } from "../dev/coordinator";
import { shortVersion, table } from "./tables";

/** The one rendering of the cluster's status, for `devcluster status` and the shell's status(). */
export function renderStatus(s: StatusReport): string {
  const rows = [["node", "os pid", "state", "processes", "modules"]];
  for (const n of s.nodes) {
    rows.push([
      n.name,
      String(n.pid ?? "-"),
      n.up ? "up" : "down",
      String(n.processes),
      Object.entries(n.modules)
        .map(([m, v]) => `${m}@${shortVersion(v)}`)
        .join(" "),
    ]);
  }
  return `cluster ${s.name} at ${s.endpoint}\n${table(rows)}`;
}

/** What `--json` prints: every field of the report, node by node in config order. */
export function statusJson(s: StatusReport): StatusReport {
  return {
    name: s.name,
    endpoint: s.endpoint,
    nodes: s.nodes.map((n) => ({ name: n.name, pid: n.pid, up: n.up, processes: n.processes, modules: n.modules })),
  };
}

/**
 * The shell's status(): prints as the table, and keeps the report's fields
 * so `(await status()).nodes` works as it did when status() returned the report.
 */
export class StatusView implements StatusReport {
  readonly name: string;
  readonly endpoint: string;
  readonly nodes: StatusReport["nodes"];
  constructor(report: StatusReport) {
    this.name = report.name;
    this.endpoint = report.endpoint;
    this.nodes = report.nodes;
  }
  [inspect.custom](): string {
    return renderStatus(this);
  }
  toJSON(): StatusReport {
    return statusJson(this);
  }
}
