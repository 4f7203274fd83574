import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { NodeInfo, ProcessInfo } from "../../wire/protocol";
import { probeCluster } from "../helpers/probe";

describe("introspection, suspend and resume (issue 5)", () => {
  const c = probeCluster(2);

  test("processInfo of a remote process reports status, mailbox, messages handled, version, memory, links, monitors and names", async () => {
    const asker = await c.d.spawn("n1");
    const p = await c.d.spawn("n2");
    const other = await c.d.spawn("n2");
    await c.d.do(p, { op: "link", pid: other });
    await c.d.do(asker, { op: "monitor", pid: p });
    await c.d.do(p, { op: "echo", value: "x".repeat(1000) });
    const info = (await c.d.do(asker, { op: "processInfo", pid: p })) as ProcessInfo;
    const node = (await c.server.coordinator.nodeRequest("n2", { op: "info" })) as NodeInfo;
    assert.equal(info.pid.toString(), p.toString());
    assert.equal(info.status, "waiting");
    assert.equal(info.mailbox, 0);
    assert.equal(info.handled, 2); // link, echo (processInfo is a system request, not a message)
    assert.equal(info.version, node.modules.probe);
    assert.ok((info.memory ?? 0) > 0);
    assert.deepEqual(info.links?.map(String), [other.toString()]);
    assert.deepEqual(info.monitoredBy?.map(String), [asker.toString()]);
    assert.equal(info.trapExit, false);
    const probe = await c.d.probe("n2");
    assert.deepEqual(((await c.d.do(asker, { op: "processInfo", pid: probe })) as ProcessInfo).names, ["probe:n2"]);
  });

  test("node info reports process count, RSS, heap and event-loop delay", async () => {
    const info = (await c.server.coordinator.nodeRequest("n1", { op: "info" })) as NodeInfo;
    assert.ok(info.processes >= 1);
    assert.ok(info.rss > 0 && info.heapUsed > 0 && (info.heapTotal ?? 0) >= info.heapUsed);
    assert.equal(typeof info.eventLoopDelay?.p99, "number");
  });

  test("a suspended process keeps its mailbox and handles it after resume", async () => {
    const asker = await c.d.spawn("n1");
    const p = await c.d.spawn("n2");
    await c.d.do(asker, { op: "suspend", pid: p });
    for (const n of [1, 2, 3]) await c.d.do(asker, { op: "send", pid: p, msg: n });
    const info = (await c.d.do(asker, { op: "processInfo", pid: p })) as ProcessInfo;
    assert.equal(info.status, "suspended");
    assert.equal(info.mailbox, 3);
    await c.d.do(asker, { op: "resume", pid: p });
    assert.deepEqual(await c.d.waitInbox(p, (i) => i.length === 3), [1, 2, 3]);
  });
});
