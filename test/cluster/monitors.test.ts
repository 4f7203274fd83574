import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { nextEvent } from "../helpers/cluster";
import { probeCluster } from "../helpers/probe";

describe("monitors and node monitors (issue 5)", () => {
  const c = probeCluster(3);

  test("a monitor on a remote process delivers one down with the crash reason", async () => {
    const watcher = await c.d.spawn("n1");
    const target = await c.d.spawn("n2");
    const ref = await c.d.do(watcher, { op: "monitor", pid: target });
    assert.match(ref, /^#Ref</);
    await assert.rejects(c.d.do(target, { op: "crash", text: "target broke" }));
    const inbox = await c.d.waitInbox(watcher, (i) => i.some((m) => m.down));
    const downs = inbox.filter((m) => m.down);
    assert.equal(downs.length, 1);
    assert.equal(downs[0].down, ref);
    assert.equal(downs[0].pid.toString(), target.toString());
    assert.match(downs[0].reason.message, /target broke/);
    // a monitor is not a link: the watcher is still there
    assert.equal(await c.d.alive(watcher), true);
  });

  test("monitoring a process that is not alive delivers down noproc", async () => {
    const watcher = await c.d.spawn("n1");
    const target = await c.d.spawn("n2");
    await c.d.do(target, { op: "exit", pid: target, reason: "normal" });
    await c.d.do(watcher, { op: "monitor", pid: target });
    const inbox = await c.d.waitInbox(watcher, (i) => i.some((m) => m.down));
    assert.equal(inbox.find((m) => m.down).reason, "noproc");
  });

  test("after demonitor the end of the process is not reported", async () => {
    const watcher = await c.d.spawn("n1");
    const target = await c.d.spawn("n2");
    const ref = await c.d.do(watcher, { op: "monitor", pid: target });
    assert.equal(await c.d.do(watcher, { op: "demonitor", ref }), true);
    const second = await c.d.do(watcher, { op: "monitor", pid: target });
    await c.d.do(target, { op: "exit", pid: target, reason: "bye" });
    const inbox = await c.d.waitInbox(watcher, (i) => i.some((m) => m.down));
    assert.deepEqual(
      inbox.filter((m) => m.down).map((m) => m.down),
      [second],
    );
  });

  test("when a node dies, monitors of its processes get noconnection, links end, node monitors get nodedown then nodeup", async () => {
    const watcher = await c.d.spawn("n1");
    const linked = await c.d.spawn("n1");
    const trapper = await c.d.spawn("n1", { trap: true });
    const target = await c.d.spawn("n3");
    await c.d.do(watcher, { op: "monitor", pid: target });
    await c.d.do(watcher, { op: "monitorNode", node: "n3" });
    await c.d.do(linked, { op: "link", pid: target });
    await c.d.do(trapper, { op: "link", pid: target });
    // a call waiting on the dying node hears noconnection, not a timeout
    const caller = await c.d.spawn("n1");
    await c.d.do(caller, { op: "cast", pid: caller, msg: { op: "callLater", pid: target, msg: { op: "defer" }, timeoutMs: 30_000 } });
    const restarted = nextEvent<string>(c.server.coordinator, "nodeStarted", (n) => n === "n3", 20_000);
    assert.ok(c.server.launcher.kill("n3"));
    const inbox = await c.d.waitInbox(watcher, (i) => i.some((m) => m.down) && i.some((m) => m.nodedown));
    assert.equal(inbox.find((m) => m.down).reason, "noconnection");
    assert.equal(inbox.find((m) => m.nodedown).nodedown, "n3");
    const trapped = await c.d.waitInbox(trapper, (i) => i.some((m) => m.exit));
    assert.equal(trapped.find((m) => m.exit).reason, "noconnection");
    assert.equal(await c.d.alive(linked), false);
    const answered = await c.d.waitInbox(caller, (i) => i.some((m) => m.callError));
    assert.equal(answered.find((m) => m.callError).callError, "noconnection");
    await restarted;
    await c.d.waitInbox(watcher, (i) => i.some((m) => m.nodeup === "n3"));
  });

  test("a node that is cut off but still running (frozen) is down for the others: noconnection, nodedown, and nodeup when its link is back", async () => {
    const watcher = await c.d.spawn("n1");
    const target = await c.d.spawn("n2");
    await c.d.do(watcher, { op: "monitor", pid: target });
    await c.d.do(watcher, { op: "monitorNode", node: "n2" });
    const n2 = c.server.launcher.pids().n2!;
    process.kill(n2, "SIGSTOP");
    try {
      // ZeroMQ's heartbeats (1 s interval, 3 s timeout) notice it; the launcher does not, the process is alive.
      const inbox = await c.d.waitInbox(watcher, (i) => i.some((m) => m.down) && i.some((m) => m.nodedown), 20_000);
      assert.equal(inbox.find((m) => m.down).reason, "noconnection");
      assert.equal(inbox.find((m) => m.nodedown).nodedown, "n2");
    } finally {
      process.kill(n2, "SIGCONT");
    }
    await c.d.waitInbox(watcher, (i) => i.some((m) => m.nodeup === "n2"), 20_000);
    // same OS process: it was cut off, not restarted
    assert.equal(c.server.launcher.pids().n2, n2);
  });
});
