import { ClusterClient } from "../dev/client";
import { isAlive } from "../project/stateDir";

/** `devcluster stop`: asks the coordinator to stop and waits until its process is gone. */
export async function stop(projectDir: string): Promise<number> {
  const client = ClusterClient.connect(projectDir);
  const { pid, procStart } = client.running;
  try {
    await client.request({ type: "stop" }, 10_000);
  } finally {
    client.close();
  }
  const deadline = Date.now() + 15_000;
  // A zombie (exited, not yet reaped by its parent) counts as gone, as does a later process that got the same pid.
  while (isAlive(pid, procStart)) {
    if (Date.now() > deadline) {
      process.stderr.write(`the coordinator (pid ${pid}) is still running after 15 s\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  process.stdout.write("cluster stopped\n");
  return 0;
}
