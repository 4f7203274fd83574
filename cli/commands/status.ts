import { ClusterClient } from "../dev/client";
import type { StatusReport } from "../dev/coordinator";
import { renderStatus, statusJson } from "../views/status";
import { toJson } from "../views/tables";

/** `devcluster status`: nodes, their OS pids and the module versions they run. */
export async function status(projectDir: string, opts: { json?: boolean }): Promise<number> {
  const client = ClusterClient.connect(projectDir);
  try {
    const s = await client.request<StatusReport>({ type: "status" });
    process.stdout.write((opts.json ? toJson(statusJson(s)) : renderStatus(s)) + "\n");
    return 0;
  } finally {
    client.close();
  }
}
