import { ClusterClient } from "../dev/client";
import type { HistoryReport } from "../dev/versionHistory";
import { renderHistory } from "../views/history";
import { toJson } from "../views/tables";

/** `devcluster history [module] [--json]`: every version since `up`, with its time, source, size and the nodes that run it. */
export async function history(projectDir: string, module: string | undefined, opts: { json?: boolean }): Promise<number> {
  const client = ClusterClient.connect(projectDir);
  try {
    const h = await client.request<HistoryReport>({ type: "history", ...(module !== undefined ? { module } : {}) });
    process.stdout.write((opts.json ? toJson(h) : renderHistory(h)) + "\n");
    return 0;
  } finally {
    client.close();
  }
}
