import { inspect } from "node:util";
import type { StaleCode } from "../../wire/protocol";
import { FINDINGS_WAIT_MS, type ReloadReport } from "../dev/reloadTransaction";
import { shortVersion, table } from "./tables";

/**
 * The one rendering of a reload report, for `devcluster reload`/`rollback`,
 * the shell's reload()/rollback() and the line `devcluster up` logs on save:
 * the same headline, per-node words and versions wherever a reload is shown.
 */
export interface ReloadViewOptions {
  /** the modules went back to their previous versions */
  rollback?: boolean;
}

const named = (mods: ReloadReport["modules"]): string => mods.map((m) => `${m.name}@${shortVersion(m.version)}`).join(", ");
const modules = (r: ReloadReport): string => named(r.modules);

/** "reloaded" names only what now runs: a module no node has evaluated was checked, and waits for its first spawn (docs/design.md §4.5). */
function okHeadline(r: ReloadReport, opts: ReloadViewOptions): string {
  const kept = new Set(r.kept ?? []);
  const running = r.modules.filter((m) => !kept.has(m.name));
  const idle = r.modules.filter((m) => kept.has(m.name));
  const on = `on ${r.nodes.length} nodes in ${r.ms.toFixed(1)} ms`;
  const verb = opts.rollback ? "rolled back to" : "reloaded";
  const noNode = `no node runs ${idle.length === 1 ? "it" : "them"}, so nothing was evaluated`;
  if (running.length === 0) return `${opts.rollback ? verb : "checked"} ${named(idle)} ${on}: ${noNode} (a module loads where it is first spawned)`;
  const head = `${verb} ${named(running)} ${on}`;
  return idle.length ? `${head}; ${opts.rollback ? "also" : "checked"} ${named(idle)}: ${noNode}` : head;
}

const skippedLine = (r: ReloadReport): string | undefined => {
  const parts: string[] = [];
  if (r.skipped?.length) parts.push(`not answering, will catch up when back: ${r.skipped.join(", ")}`);
  // Nodes that went silent in this very reload: named, with what the others did.
  if (r.silent?.length)
    parts.push(`silent within ${r.decideMs} ms: ${r.silent.join(", ")} (${r.ok ? "left out; catches up when back" : "so no node switched"})`);
  return parts.length ? parts.join("; ") : undefined;
};

/** What happened, in one line: reloaded, aborted with no node switched, or committed but not confirmed. */
export function reloadHeadline(r: ReloadReport, opts: ReloadViewOptions = {}): string {
  if (r.alreadyRunning) return r.modules.map((m) => `${m.name} already runs ${m.name}@${shortVersion(m.version)}; nothing was sent`).join("\n");
  if (r.ok) return `${okHeadline(r, opts)}${staleHead(r)}`;
  const what = opts.rollback ? "rollback" : "reload";
  if (r.failedIn === "commit" && !r.rolledBack) return `${what} of ${modules(r)} committed, but not every node confirmed`;
  return r.rolledBack
    ? `${what} of ${modules(r)} refused at commit: every node is back on the previous version`
    : `${what} of ${modules(r)} aborted: no node switched`;
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/** The headline's tail when something still runs old code: the report never says only "reloaded" then. */
export function staleHead(r: ReloadReport): string {
  const parts: string[] = [];
  if (r.staleUnknown?.length) parts.push(`${r.staleUnknown.join(", ")} did not say within ${FINDINGS_WAIT_MS} ms whether old code still runs there`);
  // Last, so its colon leads into the lines that name them.
  if (r.stale?.length) parts.push(`${plural(r.stale.length, "function still runs", "functions still run")} the old code:`);
  return parts.length ? `; ${parts.join("; ")}` : "";
}

/** One line per finding of liveEdit (runtime/code/liveEdit.ts): what, where, how many, and what to do. */
export function staleLines(r: ReloadReport): string[] {
  return (r.stale ?? []).map(staleLine);
}

/** What one finding says, on every node that reported it. */
export function staleLine(s: StaleCode & { nodes: string[] }): string {
  const where = s.at ? ` (${s.at})` : "";
  const on = `on ${s.nodes.join(", ")}`;
  switch (s.kind) {
    case "kept":
      return `  ${s.module}: ${s.fn}${where} changed, but ${plural(s.count, "closure", "closures")} made earlier ${on} keep the old body (V8 could not patch them: a function around them gained, lost or renamed a variable they could capture, or the edit reached across their edges): restart ${s.nodes.join(", ")}, or make them again`;
    case "removed":
      return `  ${s.module}: ${s.fn}${where} is gone from the source, but ${plural(s.count, "closure", "closures")} made from it ${on} still run: unregister them in hot.dispose, or restart ${s.nodes.join(", ")}`;
    case "refused":
      return `  ${s.module}: ${s.fn}${where} keeps its old body in ${plural(s.count, "closure", "closures")} ${on}: V8 refused to patch the earlier version (${s.status}${s.status === "BlockedByActiveGenerator" ? ": one of its async functions or generators is suspended" : ""}): run \`devcluster reload ${s.module}\` once it has resumed (saving the same text again sends nothing), or restart ${s.nodes.join(", ")}`;
    case "toplevel":
      return `  ${s.module}: ${s.fn}${where} that an earlier version's top level started still runs beside this version's (${s.count} ${on}): each save adds one more; start it with hot.${s.fn === "setInterval" ? "setInterval" : "on"}(...), or stop it in hot.dispose(...)`;
    case "constructor":
      // An async loop the constructor started (`this.run()`) has not finished: it still runs, with the old body.
      return s.suspends
        ? `  ${s.module}: ${s.fn}${where} changed; the constructor of ${plural(s.count, "live instance", "live instances")} ${on} started it, and a call still suspended in it (an async loop) goes on with the old body until it returns: restart them, or have each turn of the loop call a method (\`await this.tick()\`)`
        : `  ${s.module}: ${s.fn}${where} changed; it ran in the constructor of ${plural(s.count, "live instance", "live instances")} ${on} and will not run again: restart them, or register routes through a method`;
    default: {
      const unhandled: never = s.kind;
      return unhandled;
    }
  }
}

/** A node's word in the table: a node that was ready when another refused did not switch. */
function result(r: ReloadReport, ok: boolean): string {
  if (!ok) return "error";
  return r.ok || (r.failedIn === "commit" && !r.rolledBack) ? "ok" : "ready";
}

/** The headline, a table per node, processes left on the old version, nodes left out. */
export function renderReload(r: ReloadReport, opts: ReloadViewOptions = {}): string {
  const errors = r.nodes.some((n) => n.error);
  const rows = r.nodes.map((n) => [
    n.node,
    result(r, n.ok),
    n.ok ? n.ms.toFixed(2) : "-",
    ...(errors ? [n.error ? `${n.error.code}: ${n.error.message}` : ""] : []),
  ]);
  const failures = (r.codeChangeFailures ?? []).map((f) => `  ${f.pid} on ${f.node} stays on the old version: ${f.error.message}`);
  const skipped = skippedLine(r);
  if (r.alreadyRunning) return reloadHeadline(r, opts);
  return [
    reloadHeadline(r, opts),
    ...staleLines(r),
    table([["node", "result", "ms", ...(errors ? ["error"] : [])], ...rows]),
    ...failures,
    ...(skipped ? [skipped] : []),
  ].join("\n");
}

/**
 * One log line for `devcluster up`: the headline, then why each failing node
 * failed (nodes failing alike share one entry: the same load error on three
 * nodes is said once) and who was left out.
 */
export function reloadLogLine(r: ReloadReport, opts: ReloadViewOptions = {}): string {
  const byError = new Map<string, string[]>();
  for (const n of r.nodes.filter((x) => x.error)) {
    const text = `${n.error!.code}: ${n.error!.message}`;
    byError.set(text, [...(byError.get(text) ?? []), n.node]);
  }
  const why = [...byError].map(([text, nodes]) => `${nodes.join(", ")}: ${text}`);
  const skipped = skippedLine(r);
  // What still runs old code: one line each, under the headline that announces them.
  return [[reloadHeadline(r, opts), ...why, ...(skipped ? [skipped] : [])].join("; "), ...staleLines(r)].join("\n");
}

/** Milliseconds to 0.01 ms: finer than the table shows, and without the float noise of performance.now() (11.634917000000001). */
const roundMs = (ms: number): number => Math.round(ms * 100) / 100;

/** What `--json` prints: the report without the benchmark's phase timings, times rounded to 0.01 ms. */
export function reloadJson(
  r: ReloadReport,
): Pick<ReloadReport, "ok" | "modules" | "nodes" | "ms" | "skipped" | "silent" | "kept" | "stale" | "staleUnknown" | "alreadyRunning"> {
  const { ok, modules: mods, nodes, ms, skipped, silent, kept, stale, staleUnknown, alreadyRunning } = r;
  return {
    ok,
    modules: mods,
    nodes: nodes.map((n) => ({ ...n, ms: roundMs(n.ms) })),
    ms: roundMs(ms),
    ...(skipped ? { skipped } : {}),
    ...(silent ? { silent } : {}),
    ...(kept ? { kept } : {}),
    ...(stale ? { stale } : {}),
    ...(staleUnknown ? { staleUnknown } : {}),
    ...(alreadyRunning ? { alreadyRunning } : {}),
  };
}

/** A reload report as the shell shows it (the rendering above) and as --json prints it. */
export class ReloadView {
  constructor(
    readonly report: ReloadReport,
    readonly opts: ReloadViewOptions = {},
  ) {}
  [inspect.custom](): string {
    return renderReload(this.report, this.opts);
  }
  toJSON(): unknown {
    return reloadJson(this.report);
  }
}
