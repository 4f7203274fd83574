import { inspect } from "node:util";
import type { NodeStatus, StatusReport } from "../dev/coordinator";
import { mergeStale } from "../dev/reports";
import { driftLines } from "./history";
import { staleLine } from "./reloadReport";
import { shortVersion, table } from "./tables";

const mb = (bytes: number | undefined): string => (bytes === undefined ? "-" : `${(bytes / 1024 / 1024).toFixed(1)}MB`);

/** 59s, 12m03s, 5h07m, 2d04h: short enough for a column, exact enough to tell a node that just restarted. */
export function formatUptime(ms: number | undefined): string {
  if (ms === undefined) return "-";
  const s = Math.floor(ms / 1000);
  const pad = (n: number): string => String(n).padStart(2, "0");
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${pad(s % 60)}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${pad(Math.floor((s % 3600) / 60))}m`;
  return `${Math.floor(s / 86400)}d${pad(Math.floor((s % 86400) / 3600))}h`;
}

/** Event-loop delay as mean / p99 in ms, since the node started. */
const loop = (n: NodeStatus): string => (n.eventLoopDelay ? `${n.eventLoopDelay.mean.toFixed(1)}/${n.eventLoopDelay.p99.toFixed(1)}ms` : "-");

/** What needs the reader's attention: nodes that run without their supervision tree, or that do not answer. */
function warnings(s: StatusReport): string[] {
  const out: string[] = [];
  for (const n of s.nodes) {
    if (n.state === "supervisor gave up") {
      const sups = (n.supervisorsGaveUp ?? []).join(", ");
      out.push(
        `warning: ${n.name} is running, but its top supervisor ${sups} gave up (reached_max_restart_intensity): ` +
          `its tree is gone and nothing restarts it. The node's log names the crashing child; fix it and restart \`devcluster up\`.`,
      );
    } else if (n.state === "down" && n.silentMs !== undefined) {
      out.push(
        `warning: ${n.name} (joined, at ${n.host ?? "?"}) has not answered for ${Math.round(n.silentMs / 1000)} s: it is down for its peers and left out of reloads; ` +
          `it leaves the cluster in ${Math.round((n.leavesInMs ?? 0) / 1000)} s unless it answers`,
      );
    } else if (n.state === "not answering") {
      out.push(`warning: ${n.name} (os pid ${n.pid}) runs but does not answer: it is left out of reloads until it does`);
    }
  }
  out.push(...driftLines(s.drift));
  out.push(...staleAcross(s));
  return out;
}

/** What each node's last reload of a module found still running old code, one line per finding with its nodes (as the reload said it). */
function staleAcross(s: StatusReport): string[] {
  const found = mergeStale(s.nodes.map((n) => [n.name, n.stale] as const));
  if (found.length === 0) return [];
  return ["warning: old code still runs (as the last reload of each module found it):", ...found.map(staleLine)];
}

/** The one rendering of the cluster's status, for `devcluster status` and the shell's status(). */
export function renderStatus(s: StatusReport): string {
  // On several machines each row says which one (the address of its peer endpoint); on one machine it would say 127.0.0.1 every time.
  const hosts = s.nodes.some((n) => n.host !== undefined && !/^(127\.|::1$|localhost$)/.test(n.host));
  const rows = [["node", ...(hosts ? ["host"] : []), "os pid", "state", "uptime", "restarts", "processes", "rss", "heap", "loop mean/p99", "modules"]];
  for (const n of s.nodes) {
    rows.push([
      n.name,
      ...(hosts ? [`${n.host ?? "-"}${n.joined ? " (joined)" : ""}`] : []),
      String(n.pid ?? "-"),
      n.state,
      formatUptime(n.uptimeMs),
      String(n.restarts),
      String(n.processes),
      mb(n.rss),
      mb(n.heapUsed),
      loop(n),
      Object.entries(n.modules)
        .map(([m, v]) => `${m}@${shortVersion(v)}`)
        .join(" "),
    ]);
  }
  return [`cluster ${s.name} at ${s.endpoint}`, table(rows), ...warnings(s)].join("\n");
}

/** What `--json` prints: every field of the report, node by node in config order (memory in bytes, times in ms). */
export function statusJson(s: StatusReport): StatusReport {
  return {
    name: s.name,
    endpoint: s.endpoint,
    nodes: s.nodes.map((n) => ({ ...n })),
    ...(s.drift ? { drift: s.drift } : {}),
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
  readonly drift?: StatusReport["drift"];
  constructor(report: StatusReport) {
    this.name = report.name;
    this.endpoint = report.endpoint;
    this.nodes = report.nodes;
    if (report.drift) this.drift = report.drift;
  }
  [inspect.custom](): string {
    return renderStatus(this);
  }
  toJSON(): StatusReport {
    return statusJson(this);
  }
}
