import { isAlive } from "../project/stateDir";
import { ClusterClient } from "../dev/client";
import type { ReloadReport, StatusReport } from "../dev/coordinator";
import { table, toJson } from "../shell/views";
import { Connection } from "../shell/repl";
import { ShellContext } from "../shell/helpers";
import { inspect } from "node:util";

/** `devcluster reload <module...>`: the c:l of every node, with the per-node report. */
export async function reload(projectDir: string, modules: string[], opts: { json?: boolean; force?: boolean; rollback?: boolean }): Promise<number> {
  const client = ClusterClient.connect(projectDir);
  try {
    const report = await client.request<ReloadReport>({ type: opts.rollback ? "rollback" : "reload", modules, force: opts.force ?? false }, 30_000);
    if (opts.json) {
      const { ok, modules: mods, nodes, ms, skipped } = report;
      process.stdout.write(toJson({ ok, modules: mods, nodes, ms, ...(skipped ? { skipped } : {}) }) + "\n");
    } else if (report.ok) {
      process.stdout.write(`${opts.rollback ? "rolled back to" : "reloaded"} ${report.modules.map((m) => `${m.name}@${m.version}`).join(", ")} on ${report.nodes.length} nodes in ${report.ms.toFixed(1)} ms\n`);
      process.stdout.write(table([["node", "ok", "ms"], ...report.nodes.map((n) => [n.node, "ok", n.ms.toFixed(2)])]) + "\n");
      if (report.skipped?.length) process.stdout.write(`not answering, will catch up when back: ${report.skipped.join(", ")}\n`);
    } else {
      process.stderr.write(
        report.failedIn === "commit"
          ? `reload of ${report.modules.map((m) => m.name).join(", ")} committed, but not every node confirmed\n`
          : `reload of ${report.modules.map((m) => m.name).join(", ")} aborted: no node switched\n`,
      );
      for (const n of report.nodes) process.stderr.write(`  ${n.node}: ${n.ok ? "ready" : `${n.error?.code}: ${n.error?.message}`}\n`);
    }
    return report.ok ? 0 : 1;
  } finally {
    client.close();
  }
}

export async function status(projectDir: string, opts: { json?: boolean }): Promise<number> {
  const client = ClusterClient.connect(projectDir);
  try {
    const s = await client.request<StatusReport>({ type: "status" });
    if (opts.json) {
      process.stdout.write(toJson({ name: s.name, nodes: s.nodes.map((n) => ({ name: n.name, pid: n.pid, up: n.up, processes: n.processes, modules: n.modules })) }) + "\n");
    } else {
      process.stdout.write(`cluster ${s.name} at ${s.endpoint}\n`);
      const rows = [["node", "os pid", "state", "processes", "modules"]];
      for (const n of s.nodes) {
        rows.push([n.name, String(n.pid ?? "-"), n.up ? "up" : "down", String(n.processes), Object.entries(n.modules).map(([m, v]) => `${m}@${v.slice(0, 8)}`).join(" ")]);
      }
      process.stdout.write(table(rows) + "\n");
    }
    return 0;
  } finally {
    client.close();
  }
}

/** `devcluster stop`: asks the coordinator to stop and waits until its process is gone. */
export async function stop(projectDir: string): Promise<number> {
  const client = ClusterClient.connect(projectDir);
  const pid = client.running.pid;
  try {
    await client.request({ type: "stop" }, 10_000);
  } finally {
    client.close();
  }
  const deadline = Date.now() + 15_000;
  while (isAlive(pid)) {
    if (Date.now() > deadline) {
      process.stderr.write(`the coordinator (pid ${pid}) is still running after 15 s\n`);
      return 1;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  process.stdout.write("cluster stopped\n");
  return 0;
}

/** `devcluster ps [node]`: the shell's ps(), as a table or JSON. */
export async function ps(projectDir: string, node: string | undefined, opts: { json?: boolean }): Promise<number> {
  const conn = new Connection(projectDir);
  try {
    const ctx = new ShellContext(() => conn.get());
    const ps = ctx.helpers().find((h) => h.name === "ps")!;
    const rows = await ps.fn(node);
    process.stdout.write((opts.json ? toJson(rows) : inspect(rows)) + "\n");
    return 0;
  } finally {
    conn.drop();
  }
}
