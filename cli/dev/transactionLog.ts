import type { Logger } from "../../wire/log";
import { reloadLogLine } from "../views/reloadReport";
import type { ReloadReport } from "./reloadTransaction";
import type { TransactionInfo } from "./reports";

/**
 * One line per transaction, whoever started it (a save, `devcluster
 * reload`/`rollback`, the shell, a node catching up), with its source and
 * result, in the words of the one reload view.
 */
export function logTransaction(log: Logger, report: ReloadReport, info: TransactionInfo, saveClauses: string[]): void {
  const fields = {
    source: info.source,
    ok: report.ok,
    ...(info.rollback ? { rollback: true } : {}),
    ...(info.node ? { member: info.node } : {}),
    modules: report.modules,
    nodes: report.nodes.map((n) => n.node),
    ms: Number(report.ms.toFixed(2)),
    ...(report.ok ? { skewMs: Number((report.skewMs ?? 0).toFixed(2)) } : { failedIn: report.failedIn }),
    ...(report.skipped ? { skipped: report.skipped } : {}),
    ...(report.silent ? { silent: report.silent } : {}),
  };
  const who = info.node ? `${info.node} ${report.ok ? "caught up" : "could not catch up"}: ` : "";
  const clauses = info.source === "save" ? saveClauses : [];
  let line = [`${info.source}: ${who}${reloadLogLine(report, { rollback: info.rollback ?? false })}`, ...clauses].join("; ");
  if (report.ok) {
    // Committed, but something still runs old code (liveEdit.ts): a warning, with the findings in the fields.
    if (report.stale || report.staleUnknown) log.warn({ ...fields, stale: report.stale, staleUnknown: report.staleUnknown }, line);
    else log.info(fields, line);
    return;
  }
  // What to do next depends on where the change came from; a client was shown the report already.
  const next =
    report.failedIn === "commit" && !report.rolledBack
      ? "Check those nodes (devcluster status)."
      : info.source === "save"
        ? "Fix the file and save again."
        : info.source === "catch-up"
          ? `${info.node} keeps running older code.`
          : "";
  if (next && !line.endsWith(next)) line = `${line.replace(/\.$/, "")}. ${next}`;
  log.error(fields, line);
}
