import { ClusterClient } from "../dev/client";
import { isAlive } from "../project/stateDir";
import type { KeptStop } from "../dev/keptState";
import { bytes } from "../views/units";

/**
 * `devcluster stop`: asks the coordinator to stop and waits until its process
 * is gone. With `keepState`, every node first writes its processes, which the
 * next `devcluster up` restores.
 */
export async function stop(projectDir: string, opts: { keepState?: boolean } = {}): Promise<number> {
  const client = ClusterClient.connect(projectDir);
  const { pid, procStart } = client.running;
  let kept: KeptStop | undefined;
  try {
    // Freezing and writing many processes takes a while: the deadline leaves room for it.
    const answer = await client.request({ type: "stop", ...(opts.keepState ? { keepState: true } : {}) }, opts.keepState ? 150_000 : 10_000);
    if (opts.keepState) kept = answer as KeptStop;
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
  if (kept) process.stdout.write(keptLines(kept) + "\n");
  process.stdout.write("cluster stopped\n");
  return kept && !kept.kept ? 1 : 0;
}

function keptLines(k: KeptStop): string {
  const lines = k.nodes.map((n) =>
    n.error !== undefined ? `${n.node}: its processes could not be written: ${n.error}` : `${n.node}: ${n.processes} processes kept (${bytes(n.bytes)})`,
  );
  lines.push(
    k.kept ? "state kept in .devcluster/state/: `devcluster up` restores it" : "no state kept (restored all or none): the next `devcluster up` starts fresh",
  );
  return lines.join("\n");
}
