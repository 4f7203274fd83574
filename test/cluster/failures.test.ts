import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { nextSave } from "../helpers/cluster";
import { PROBE, probeCluster } from "../helpers/probe";

describe("handlers that fail, deferred replies and call timeouts (issue 5)", () => {
  const c = probeCluster(2);

  for (const [op, why] of [
    ["crash", /crash on purpose/],
    ["reject", /rejected on purpose/],
    ["malformed", /must return \{ reply, state \}/],
  ] as const) {
    test(`a handleCall that ${op === "crash" ? "throws" : op === "reject" ? "rejects" : "returns a malformed value"} crashes that process only; the caller on another node gets the reason; monitors see it`, async () => {
      const target = await c.d.spawn("n2");
      const bystander = await c.d.spawn("n2");
      const caller = await c.d.spawn("n1");
      await c.d.do(caller, { op: "monitor", pid: target });
      const r = await c.d.do(caller, { op: "call", pid: target, msg: { op } });
      assert.equal(r.error, "process_crashed");
      assert.match(r.message, why);
      assert.match(r.message, new RegExp(`process ${target.toString().replace(/[<>.]/g, "\\$&")} \\(probe\\) crashed`));
      const inbox = await c.d.waitInbox(caller, (i) => i.some((m) => m.down));
      assert.match(inbox.find((m) => m.down).reason.message, why);
      assert.equal(await c.d.alive(bystander), true);
      assert.equal(await c.d.alive(target), false);
    });
  }

  test("the crash log names pid, module, last message and state, with a .ts stack", async () => {
    const target = await c.d.spawn("n1");
    await c.d.do(target, { op: "cast", pid: target, msg: { op: "crash", text: "logged crash" } });
    const line = await c.logs.waitFor(/logged crash/);
    const crash = JSON.parse(line) as { msg: string; proc: string; module: string; lastMessage: string; state: string; err: { stack: string } };
    assert.equal(crash.msg, "process crashed");
    assert.equal(crash.proc, target.toString());
    assert.equal(crash.module, "probe");
    assert.match(crash.lastMessage, /logged crash/);
    assert.match(crash.state, /inbox/);
    const at = PROBE.split("\n").findIndex((l) => l.includes("cast crash on purpose")) + 1;
    assert.match(crash.err.stack, new RegExp(`src/probe\\.ts:${at}:\\d+`));
  });

  test("handleCall returning { noreply } answers later through reply(from, value)", async () => {
    const server1 = await c.d.spawn("n2");
    const caller = await c.d.spawn("n1");
    await c.d.do(caller, { op: "cast", pid: caller, msg: { op: "callLater", pid: server1, msg: { op: "defer" } } });
    // the deferring process keeps serving while the caller waits
    assert.deepEqual(await c.d.do(server1, { op: "echo", value: 1 }), 1);
    await c.d.do(server1, { op: "answer", value: "later" });
    const inbox = await c.d.waitInbox(caller, (i) => i.some((m) => "callResult" in m));
    assert.equal(inbox.find((m) => "callResult" in m).callResult, "later");
  });

  test("a process that ends before answering a deferred call makes the call reject with its reason", async () => {
    const server1 = await c.d.spawn("n2");
    const caller = await c.d.spawn("n1");
    await c.d.do(caller, { op: "cast", pid: caller, msg: { op: "callLater", pid: server1, msg: { op: "defer" } } });
    await c.d.do(server1, { op: "echo", value: 1 });
    await c.d.do(server1, { op: "exit", pid: server1, reason: "gave up" });
    const inbox = await c.d.waitInbox(caller, (i) => i.some((m) => m.callError));
    const e = inbox.find((m) => m.callError);
    assert.equal(e.callError, "process_exited");
    assert.match(e.message, /exited before replying: gave up/);
  });

  test("a call that gets no answer times out after the time given, and says how long it waited", async () => {
    const server1 = await c.d.spawn("n2");
    const caller = await c.d.spawn("n1");
    const r = await c.d.do(caller, { op: "call", pid: server1, msg: { op: "defer" }, timeoutMs: 300 });
    assert.equal(r.error, "timeout");
    assert.match(r.message, /call to <n2\.\d+> timed out after 300 ms/);
  });

  test("a call without a timeout waits 5 s by default", async () => {
    const server1 = await c.d.spawn("n2");
    const caller = await c.d.spawn("n1");
    const r = await c.d.do(caller, { op: "call", pid: server1, msg: { op: "defer" } }, 8000);
    assert.equal(r.error, "timeout");
    assert.match(r.message, /timed out after 5000 ms/);
  });

  test("an exception thrown outside any handler is logged and the node keeps running", async () => {
    const p = await c.d.spawn("n1");
    await c.d.do(p, { op: "echo", value: 0 });
    const saved = nextSave(c.server);
    c.project.write("src/stray.ts", `export function arm() {\n  setTimeout(() => { throw new Error("stray throw"); }, 10);\n}\n`);
    assert.equal((await saved).report?.ok, true);
    // Its first use loads it on n1 (docs/design.md §4.5); the throw comes after the rpc has returned, outside any handler.
    await c.server.coordinator.nodeRequest("n1", { op: "rpc", module: "stray", fn: "arm", args: [] });
    await c.logs.waitFor(/uncaught exception in user code/);
    assert.equal(await c.d.do(p, { op: "echo", value: 2 }), 2);
  });
});
