import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { probeCluster } from "../helpers/probe";
import { assertSameValue, message } from "../helpers/values";

describe("message values between real nodes (issue 5)", () => {
  const c = probeCluster(2);

  test("values sent from one node to a process on another come back unchanged", async () => {
    const asker = await c.d.spawn("n1");
    const echo = await c.d.spawn("n2");
    await fc.assert(
      fc.asyncProperty(message, async (v) => {
        assertSameValue(await c.d.do(asker, { op: "call", pid: echo, msg: { op: "echo", value: v } }), v);
      }),
      { numRuns: 40 },
    );
  });

  test("a send carrying a function throws at the sender, naming the field, and nothing arrives", async () => {
    const sender = await c.d.spawn("n1");
    const target = await c.d.spawn("n2");
    const r = await c.d.do(sender, { op: "sendFn", pid: target });
    assert.equal(r.error, "not_serializable");
    assert.match(r.message, /^msg\.nested\.handler is a function/);
    const local = await c.d.spawn("n1");
    assert.equal((await c.d.do(sender, { op: "sendFn", pid: local })).error, "not_serializable");
    // messages between a pair keep their order, so once the marker is in, anything sent before it would be too
    await c.d.do(sender, { op: "send", pid: target, msg: "marker" });
    await c.d.do(sender, { op: "send", pid: local, msg: "marker" });
    assert.deepEqual(await c.d.waitInbox(target, (i) => i.includes("marker")), ["marker"]);
    assert.deepEqual(await c.d.waitInbox(local, (i) => i.includes("marker")), ["marker"]);
  });
});
