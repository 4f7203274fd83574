import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../cli/devServer";
import { makeProject, nextSave, startCluster, type Project } from "./helpers/cluster";
import { Driver, PROBE, probeProject, waitUntil } from "./helpers/probe";

describe("timers owned by a process (issue 5)", () => {
  let project: Project;
  let server: DevServer;
  let d: Driver;

  before(async () => {
    project = makeProject(probeProject(), { nodes: 2 });
    ({ server } = await startCluster(project));
    d = new Driver(server);
  });

  after(async () => {
    await server?.close();
    project?.cleanup();
  });

  const timersOf = async (pid: any): Promise<number> => (await d.do(pid, { op: "processInfo", pid })).timers;

  test("sendAfter delivers the message once, to a process on another node too", async () => {
    const owner = await d.spawn("n1");
    const target = await d.spawn("n2");
    const ref = await d.do(owner, { op: "sendAfter", ms: 20, pid: target, msg: "ding" });
    assert.match(ref, /^#Ref</);
    await d.waitInbox(target, (i) => i.includes("ding"));
    assert.equal(await timersOf(owner), 0);
  });

  test("cancelTimer stops a timer before it fires and returns the time it had left", async () => {
    const owner = await d.spawn("n1");
    const ref = await d.do(owner, { op: "sendAfter", ms: 60_000, msg: "never" });
    const left = await d.do(owner, { op: "cancelTimer", ref });
    assert.ok(typeof left === "number" && left > 50_000, String(left));
    assert.equal(await d.do(owner, { op: "cancelTimer", ref }), false);
    assert.equal(await timersOf(owner), 0);
  });

  test("a process's timers are cancelled when it ends", async () => {
    const owner = await d.spawn("n1");
    const target = await d.spawn("n1");
    await d.do(owner, { op: "sendInterval", ms: 30, pid: target, msg: "tick" });
    await d.waitInbox(target, (i) => i.includes("tick"));
    const timersOnN1 = async () => ((await server.coordinator.nodeRequest("n1", { op: "info" })) as { timers: number }).timers;
    assert.ok((await timersOnN1()) >= 1);
    await d.do(owner, { op: "exit", pid: owner, reason: "normal" });
    await waitUntil(async () => ((await timersOnN1()) === 0 ? true : undefined), 10_000, () => "timers of the ended process still live");
  });

  test("a periodic timer keeps ticking once, not twice, after its module is reloaded", async () => {
    const owner = await d.spawn("n2");
    await d.do(owner, { op: "sendInterval", ms: 25, msg: "tick" });
    assert.equal(await timersOf(owner), 1);
    const saved = nextSave(server);
    project.write("src/probe.ts", PROBE + "\nexport const reloaded = 1;\n");
    assert.equal((await saved).report?.ok, true);
    assert.equal(await timersOf(owner), 1);
    const n = (await d.do(owner, { op: "inbox" })).length;
    await d.waitInbox(owner, (i) => i.length > n + 2);
    assert.equal(await timersOf(owner), 1);
  });
});
