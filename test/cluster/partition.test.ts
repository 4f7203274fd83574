import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../../cli/dev/devServer";
import { makeProject, nextEvent, nextSave, startCluster, type LogCapture, type Project } from "../helpers/cluster";
import { counter, counterProject } from "../helpers/fixtures";
import type { ReloadReport } from "../../cli/dev/coordinator";
import type { Pid } from "../../wire/pid";

describe("a node that stops answering while its process lives (frozen, partitioned)", () => {
  let project: Project;
  let server: DevServer;
  let logs: LogCapture;
  let frozen: number | undefined;

  before(async () => {
    project = makeProject(counterProject(), { nodes: 3 });
    ({ server, logs } = await startCluster(project));
  });

  after(async () => {
    if (frozen) process.kill(frozen, "SIGCONT");
    await server?.close();
    project?.cleanup();
  });

  test("is left out of a reload instead of failing it, and catches up to the current code when it answers again", async () => {
    frozen = server.launcher.pids().n2!;
    process.kill(frozen, "SIGSTOP");
    await logs.waitFor(/n2 does not answer: it is left out of reloads/, 20_000);

    const saved = nextSave(server);
    project.write("src/counter.ts", counter(50));
    const report = (await saved).report!;
    assert.equal(report.ok, true, JSON.stringify(report));
    assert.deepEqual(
      report.nodes.map((n) => n.node),
      ["n1", "n3"],
    );
    assert.deepEqual(report.skipped, ["n2"]);
    const version = report.modules[0]!.version;

    const caughtUp = nextEvent<ReloadReport>(server.coordinator, "reloaded", (r) => r.nodes.length === 1 && r.nodes[0]!.node === "n2", 20_000);
    process.kill(frozen, "SIGCONT");
    frozen = undefined;
    const r = await caughtUp;
    assert.equal(r.ok, true);
    assert.deepEqual(
      r.modules.map((m) => [m.name, m.version]),
      [["counter", version]],
    );
    const n2 = (await server.coordinator.status()).nodes.find((n) => n.name === "n2")!;
    assert.equal(n2.modules.counter, version);
    // the same OS process, its counter's state intact, running the new code
    assert.equal(server.launcher.pids().n2, n2.pid);
    const counterPid = ((await server.coordinator.nodeRequest("n2", { op: "ps" })) as { pid: Pid; module: string }[]).find((p) => p.module === "counter")!.pid;
    assert.equal(await server.coordinator.nodeRequest("n2", { op: "call", pid: counterPid, msg: { type: "incr" } }), 50);
    // up logs the catch-up as one transaction line, with its source (docs/design.md §6)
    await logs.waitFor(/"catch-up: n2 caught up: reloaded counter@/);
  });
});
