import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../cli/devServer";
import { makeProject, startCluster, type Project } from "./helpers/cluster";
import { Driver, probeProject, waitUntil } from "./helpers/probe";

describe("links and exit signals (issue 5)", () => {
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

  const gone = (pid: Parameters<Driver["alive"]>[0]) => waitUntil(async () => ((await d.alive(pid)) ? undefined : true), 10_000, () => `${pid} still alive`);

  test("a crash of a process linked across nodes ends its partner", async () => {
    const a = await d.spawn("n1");
    const b = await d.spawn("n2");
    await d.do(a, { op: "link", pid: b });
    await assert.rejects(d.do(b, { op: "crash" }), /crashed/);
    await gone(a);
  });

  test("spawnLink on another node: a process that traps exits gets { exit, reason } with the crash reason instead of dying", async () => {
    const parent = await d.spawn("n1", { trap: true });
    const child = await d.do(parent, { op: "spawnLink", node: "n2" });
    await assert.rejects(d.do(child, { op: "crash", text: "child broke" }));
    const inbox = await d.waitInbox(parent, (i) => i.some((m) => m.exit));
    const sig = inbox.find((m) => m.exit);
    assert.equal(sig.exit.toString(), child.toString());
    assert.match(sig.reason.message, /child broke/);
    assert.equal(await d.alive(parent), true);
  });

  test("exit(pid, \"kill\") ends a process even when it traps exits, and its links see \"killed\"", async () => {
    const trapper = await d.spawn("n2", { trap: true });
    const watcher = await d.spawn("n1", { trap: true });
    await d.do(watcher, { op: "link", pid: trapper });
    const killer = await d.probe("n1");
    await d.do(killer, { op: "exit", pid: trapper, reason: "kill" });
    await gone(trapper);
    const inbox = await d.waitInbox(watcher, (i) => i.some((m) => m.exit));
    assert.equal(inbox.find((m) => m.exit).reason, "killed");
  });

  test("a trapped exit(pid, reason) arrives as a message naming the sender", async () => {
    const trapper = await d.spawn("n2", { trap: true });
    const sender = await d.spawn("n1");
    await d.do(sender, { op: "exit", pid: trapper, reason: "please stop" });
    const inbox = await d.waitInbox(trapper, (i) => i.some((m) => m.exit));
    assert.deepEqual({ from: inbox[0].exit.toString(), reason: inbox[0].reason }, { from: sender.toString(), reason: "please stop" });
    assert.equal(await d.alive(trapper), true);
  });

  test("exit(pid, reason) ends a remote process that does not trap exits", async () => {
    const target = await d.spawn("n2");
    await d.do(await d.probe("n1"), { op: "exit", pid: target, reason: "shutdown" });
    await gone(target);
  });

  test("a normal exit does not end linked processes; a trapping partner is told", async () => {
    const a = await d.spawn("n1");
    const trapper = await d.spawn("n1", { trap: true });
    const b = await d.spawn("n2");
    await d.do(a, { op: "link", pid: b });
    await d.do(trapper, { op: "link", pid: b });
    await d.do(b, { op: "exit", pid: b, reason: "normal" });
    await gone(b);
    const inbox = await d.waitInbox(trapper, (i) => i.some((m) => m.exit));
    assert.equal(inbox.find((m) => m.exit).reason, "normal");
    assert.equal(await d.alive(a), true);
  });

  test("after unlink a crash of the former partner leaves the process running", async () => {
    const a = await d.spawn("n1", { trap: true });
    const b = await d.spawn("n2");
    await d.do(a, { op: "link", pid: b });
    await d.do(a, { op: "unlink", pid: b });
    // a monitor tells us when b is gone, so we wait on an event rather than a sleep
    await d.do(a, { op: "monitor", pid: b });
    await assert.rejects(d.do(b, { op: "crash" }));
    const inbox = await d.waitInbox(a, (i) => i.some((m) => m.down));
    assert.equal(inbox.filter((m) => m.exit).length, 0);
  });

  test("linking to a pid on another node that is not alive gives an exit signal noproc", async () => {
    const a = await d.spawn("n1", { trap: true });
    const b = await d.spawn("n2");
    await d.do(b, { op: "exit", pid: b, reason: "normal" });
    await gone(b);
    await d.do(a, { op: "link", pid: b });
    const inbox = await d.waitInbox(a, (i) => i.some((m) => m.exit));
    assert.equal(inbox.find((m) => m.exit).reason, "noproc");
  });
});
