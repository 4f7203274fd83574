import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Driver, waitUntil, probeCluster } from "../helpers/probe";

describe("links and exit signals (issue 5)", () => {
  const c = probeCluster(2);

  const gone = (pid: Parameters<Driver["alive"]>[0]) =>
    waitUntil(
      async () => ((await c.d.alive(pid)) ? undefined : true),
      10_000,
      () => `${pid} still alive`,
    );

  test("a crash of a process linked across nodes ends its partner", async () => {
    const a = await c.d.spawn("n1");
    const b = await c.d.spawn("n2");
    await c.d.do(a, { op: "link", pid: b });
    await assert.rejects(c.d.do(b, { op: "crash" }), /crashed/);
    await gone(a);
  });

  test("spawnLink on another node: a process that traps exits gets { exit, reason } with the crash reason instead of dying", async () => {
    const parent = await c.d.spawn("n1", { trap: true });
    const child = await c.d.do(parent, { op: "spawnLink", node: "n2" });
    await assert.rejects(c.d.do(child, { op: "crash", text: "child broke" }));
    const inbox = await c.d.waitInbox(parent, (i) => i.some((m) => m.exit));
    const sig = inbox.find((m) => m.exit);
    assert.equal(sig.exit.toString(), child.toString());
    assert.match(sig.reason.message, /child broke/);
    assert.equal(await c.d.alive(parent), true);
  });

  test('exit(pid, "kill") ends a process even when it traps exits, and its links see "killed"', async () => {
    const trapper = await c.d.spawn("n2", { trap: true });
    const watcher = await c.d.spawn("n1", { trap: true });
    await c.d.do(watcher, { op: "link", pid: trapper });
    const killer = await c.d.probe("n1");
    await c.d.do(killer, { op: "exit", pid: trapper, reason: "kill" });
    await gone(trapper);
    const inbox = await c.d.waitInbox(watcher, (i) => i.some((m) => m.exit));
    assert.equal(inbox.find((m) => m.exit).reason, "killed");
  });

  test("a trapped exit(pid, reason) arrives as a message naming the sender", async () => {
    const trapper = await c.d.spawn("n2", { trap: true });
    const sender = await c.d.spawn("n1");
    await c.d.do(sender, { op: "exit", pid: trapper, reason: "please stop" });
    const inbox = await c.d.waitInbox(trapper, (i) => i.some((m) => m.exit));
    assert.deepEqual({ from: inbox[0].exit.toString(), reason: inbox[0].reason }, { from: sender.toString(), reason: "please stop" });
    assert.equal(await c.d.alive(trapper), true);
  });

  test("exit(pid, reason) ends a remote process that does not trap exits", async () => {
    const target = await c.d.spawn("n2");
    await c.d.do(await c.d.probe("n1"), { op: "exit", pid: target, reason: "shutdown" });
    await gone(target);
  });

  test("a normal exit does not end linked processes; a trapping partner is told", async () => {
    const a = await c.d.spawn("n1");
    const trapper = await c.d.spawn("n1", { trap: true });
    const b = await c.d.spawn("n2");
    await c.d.do(a, { op: "link", pid: b });
    await c.d.do(trapper, { op: "link", pid: b });
    await c.d.do(b, { op: "exit", pid: b, reason: "normal" });
    await gone(b);
    const inbox = await c.d.waitInbox(trapper, (i) => i.some((m) => m.exit));
    assert.equal(inbox.find((m) => m.exit).reason, "normal");
    assert.equal(await c.d.alive(a), true);
  });

  test("after unlink a crash of the former partner leaves the process running", async () => {
    const a = await c.d.spawn("n1", { trap: true });
    const b = await c.d.spawn("n2");
    await c.d.do(a, { op: "link", pid: b });
    await c.d.do(a, { op: "unlink", pid: b });
    // a monitor tells us when b is gone, so we wait on an event rather than a sleep
    await c.d.do(a, { op: "monitor", pid: b });
    await assert.rejects(c.d.do(b, { op: "crash" }));
    const inbox = await c.d.waitInbox(a, (i) => i.some((m) => m.down));
    assert.equal(inbox.filter((m) => m.exit).length, 0);
  });

  test("linking to a pid on another node that is not alive gives an exit signal noproc", async () => {
    const a = await c.d.spawn("n1", { trap: true });
    const b = await c.d.spawn("n2");
    await c.d.do(b, { op: "exit", pid: b, reason: "normal" });
    await gone(b);
    await c.d.do(a, { op: "link", pid: b });
    const inbox = await c.d.waitInbox(a, (i) => i.some((m) => m.exit));
    assert.equal(inbox.find((m) => m.exit).reason, "noproc");
  });
});
