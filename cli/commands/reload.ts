import { ClusterClient } from "../dev/client";
import type { ReloadReport } from "../dev/coordinator";
import { reloadJson, renderReload } from "../views/reloadReport";
import { toJson } from "../views/tables";

/**
 * `devcluster reload <module...>`, the c:l of every node, and `devcluster
 * rollback <module...> [--to <version>]` (`rollback: true`): one request, one report, one
 * rendering; they differ only in the request type and the headline's verb.
 * A report that is not ok goes to stderr and exits 1.
 */
export async function reload(
  projectDir: string,
  modules: string[],
  opts: { json?: boolean; force?: boolean; rollback?: boolean; to?: string; allOrNothing?: boolean },
): Promise<number> {
  const client = ClusterClient.connect(projectDir);
  try {
    const force = opts.force ?? false;
    const report = await client.request<ReloadReport>(
      opts.rollback
        ? { type: "rollback", modules, force, source: "cli", ...(opts.to !== undefined ? { to: opts.to } : {}) }
        : { type: "reload", modules, force, source: "cli", ...(opts.allOrNothing ? { allOrNothing: true } : {}) },
      30_000,
    );
    if (opts.json) process.stdout.write(toJson(reloadJson(report)) + "\n");
    else (report.ok ? process.stdout : process.stderr).write(renderReload(report, { rollback: opts.rollback ?? false }) + "\n");
    return report.ok ? 0 : 1;
  } finally {
    client.close();
  }
}
