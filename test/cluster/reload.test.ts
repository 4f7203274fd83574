import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../../cli/dev/devServer";
import type { Pid } from "../../wire/pid";
import { makeProject, nextEvent, nextSave, startCluster, type LogCapture, type Project } from "../helpers/cluster";
import { counter, counterProject, describeModule } from "../helpers/fixtures";

describe("the core loop: save a file, every node runs the new code", () => {
  let project: Project;
  let server: DevServer;
  let logs: LogCapture;

  const callOn = async (node: string, msg: unknown): Promise<unknown> => {
    const pid = (await server.coordinator.nodeRequest(node, { op: "ps" })) as { pid: Pid; module: string }[];
    const target = pid.find((p) => p.module === "counter");
    assert.ok(target, `no counter on ${node}`);
    return server.coordinator.nodeRequest(node, { op: "call", pid: target.pid, msg });
  };
  const versionsOn = async (): Promise<Record<string, string>[]> => (await server.coordinator.status()).nodes.map((n) => n.modules);

  before(async () => {
    project = makeProject({ ...counterProject(), "package.json": JSON.stringify({ name: "t", dependencies: {} }) }, { nodes: 3 });
    ({ server, logs } = await startCluster(project));
  });

  after(async () => {
    await server?.close();
    project?.cleanup();
  });

  test("saving a behaviour module switches every node and keeps each process's state", async () => {
    for (const n of ["n1", "n2", "n3"]) assert.equal(await callOn(n, { type: "incr", by: 2 }), 2);
    const saved = nextSave(server);
    project.write("src/counter.ts", counter(100));
    const s = await saved;
    assert.equal(s.report?.ok, true, JSON.stringify(s.report));
    assert.deepEqual(s.report?.nodes.map((n) => n.node).sort(), ["n1", "n2", "n3"]);
    // state 2 kept, new code adds 100 per step
    for (const n of ["n1", "n2", "n3"]) assert.equal(await callOn(n, { type: "incr", by: 1 }), 102);
    const v = s.report!.modules[0]!.version;
    for (const mods of await versionsOn()) assert.equal(mods.counter, v);
  });

  test("saving an imported module reaches its importers without reloading them", async () => {
    assert.equal(await callOn("n1", { type: "describe" }), "count 102");
    const saved = nextSave(server);
    project.write("src/describe.ts", describeModule("total"));
    assert.equal((await saved).report?.ok, true);
    assert.equal(await callOn("n2", { type: "describe" }), "total 102");
  });

  test("a compile error shows file:line:col and the line, and every node keeps the last good version", async () => {
    const before = await versionsOn();
    const saved = nextSave(server);
    project.write("src/counter.ts", counter(5) + "\nexport const broken = (;\n");
    const s = await saved;
    assert.equal(s.report, undefined, "nothing may be sent");
    assert.match(s.error!.message, /src\/counter\.ts:\d+:\d+: error: /);
    assert.match(s.error!.message, /export const broken = \(;/);
    await logs.waitFor(/compile_failed/);
    assert.deepEqual(await versionsOn(), before);
    assert.equal(await callOn("n3", { type: "incr" }), 202);
  });

  test("a module that throws while loading is refused on every node; no node switches", async () => {
    const before = await versionsOn();
    const saved = nextSave(server);
    project.write("src/counter.ts", counter(7, `if (process.env.DEVCLUSTER_NODE === "n2") throw new Error("n2 refuses this version");`));
    const s = await saved;
    assert.equal(s.report?.ok, false);
    const n2 = s.report!.nodes.find((n) => n.node === "n2")!;
    assert.equal(n2.ok, false);
    assert.equal(n2.error?.code, "eval_failed");
    assert.match(n2.error!.message, /n2 refuses this version/);
    assert.deepEqual(await versionsOn(), before);
    // every node, also those that evaluated it fine, still runs the last good code
    for (const n of ["n1", "n2", "n3"]) assert.equal(((await callOn(n, { type: "incr" })) as number) % 100, 2);
  });

  test("a handler that throws kills that process only; the node keeps serving", async () => {
    await assert.rejects(callOn("n1", { type: "boom" }), /crashed: boom on purpose/);
    const status = await server.coordinator.status();
    assert.equal(status.nodes.find((n) => n.name === "n1")?.up, true);
    const crash = JSON.parse(await logs.waitFor(/"msg":"process crashed"/)) as { proc: string; module: string; lastMessage: string; err: { stack: string } };
    assert.equal(crash.module, "counter");
    assert.match(crash.proc, /^<n1\.\d+>$/);
    assert.match(crash.lastMessage, /boom/);
    // the stack is source-mapped: it names the .ts file and the line of the throw
    const line =
      counter(1)
        .split("\n")
        .findIndex((l) => l.includes("boom on purpose")) + 1;
    assert.match(crash.err.stack, new RegExp(`src/counter\\.ts:${line}:\\d+`));
    // the other nodes' counters are untouched
    assert.equal(await callOn("n2", { type: "get" }), 202);
  });

  test("a killed node is restarted and catches up to the current code before its entry runs", async () => {
    const saved = nextSave(server);
    project.write("src/counter.ts", counter(1000));
    const current = (await saved).report!.modules[0]!.version;
    const before = ((await server.coordinator.nodeRequest("n3", { op: "ps" })) as { pid: Pid }[])[0]!.pid;
    const restarted = nextEvent<string>(server.coordinator, "nodeStarted", (n) => n === "n3", 20_000);
    assert.ok(server.launcher.kill("n3"));
    await restarted;
    const n3 = (await server.coordinator.status()).nodes.find((n) => n.name === "n3")!;
    assert.equal(n3.up, true);
    assert.equal(n3.modules.counter, current);
    // a fresh counter (state 0) running the newest code, under a pid its previous life never used
    assert.equal(await callOn("n3", { type: "incr" }), 1000);
    const after = ((await server.coordinator.nodeRequest("n3", { op: "ps" })) as { pid: Pid; names: string[] }[])[0]!;
    assert.notEqual(after.pid.toString(), before.toString());
    // readable after a restart: number within this life, then the life (not <n3.1000001>)
    assert.match(after.pid.toString(), /^<n3\.\d{1,3}\.1>$/);
    assert.deepEqual(after.names, ["counter:n3"]);
  });

  test("editing dependencies or the cluster config says a restart is needed, since neither is hot-swapped", async () => {
    project.write("package.json", JSON.stringify({ name: "t", dependencies: { "left-pad": "^1.3.0" } }));
    await logs.waitFor(/dependencies changed \(package\.json\): npm packages are not hot-swapped; `devcluster restart` restarts the nodes/);
    const config = JSON.parse(readFileSync(project.configPath, "utf8")) as Record<string, unknown>;
    project.write("cluster.config.json", JSON.stringify({ ...config, nodes: 4 }, null, 2));
    await logs.waitFor(/cluster\.config\.json changed: .*restart `devcluster up` to apply it/);
    // Said once: more saves of either file leave the advice standing. A module saved after them is
    // reloaded after its quiet period, by when the earlier files' fs events have been handled.
    project.write("cluster.config.json", JSON.stringify({ ...config, nodes: 5 }, null, 2));
    project.write("package.json", JSON.stringify({ name: "t", dependencies: { "left-pad": "^1.3.0", ms: "^2.1.3" } }));
    const saved = nextSave(server);
    project.write("src/counter.ts", counter(2000));
    assert.ok((await saved).report?.ok);
    assert.equal(logs.lines.filter((l) => /cluster\.config\.json changed/.test(l)).length, 1, "config warning repeated");
    assert.equal(logs.lines.filter((l) => /dependencies changed/.test(l)).length, 1, "dependency warning repeated");
  });
});
