import { ClusterClient } from "../dev/client";
import type { RestartResult } from "../dev/coordinator";
import { renderRestart } from "../views/history";
import { toJson } from "../views/tables";

/**
 * `devcluster restart [node...]`: restarts nodes one at a time through `up`'s
 * launcher (every node without names); each is back, running the current
 * code, before the next goes down, its processes back with their state and
 * pids (`--fresh`: started afresh from the entry). What a dependency change needs.
 */
export async function restart(projectDir: string, nodes: string[], opts: { json?: boolean; fresh?: boolean }): Promise<number> {
  const client = ClusterClient.connect(projectDir);
  try {
    // Each node's stop and start again, one after another: the deadline grows with their number.
    const results = await client.request<RestartResult[]>(
      { type: "restart", nodes, ...(opts.fresh ? { fresh: true } : {}) },
      60_000 * Math.max(1, nodes.length || 4),
    );
    process.stdout.write((opts.json ? toJson(results) : renderRestart(results)) + "\n");
    return 0;
  } finally {
    client.close();
  }
}
