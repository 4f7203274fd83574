import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { nextSave } from "../helpers/cluster";
import { PROBE, waitUntil, probeCluster } from "../helpers/probe";

describe("timers owned by a process (issue 5)", () => {
  const c = probeCluster(2);

  const timersOf = async (pid: any): Promise<number> => (await c.d.do(pid, { op: "processInfo", pid })).timers;

  test("sendAfter delivers the message once, to a process on another node too", async () => {
    const owner = await c.d.spawn("n1");
    const target = await c.d.spawn("n2");
    const ref = await c.d.do(owner, { op: "sendAfter", ms: 20, pid: target, msg: "ding" });
    assert.match(ref, /^#Ref</);
    await c.d.waitInbox(target, (i) => i.includes("ding"));
    assert.equal(await timersOf(owner), 0);
  });

  test("cancelTimer stops a timer before it fires and returns the time it had left", async () => {
    const owner = await c.d.spawn("n1");
    const ref = await c.d.do(owner, { op: "sendAfter", ms: 60_000, msg: "never" });
    const left = await c.d.do(owner, { op: "cancelTimer", ref });
    assert.ok(typeof left === "number" && left > 50_000, String(left));
    assert.equal(await c.d.do(owner, { op: "cancelTimer", ref }), false);
    assert.equal(await timersOf(owner), 0);
  });

  test("a process's timers are cancelled when it ends", async () => {
    const owner = await c.d.spawn("n1");
    const target = await c.d.spawn("n1");
    await c.d.do(owner, { op: "sendInterval", ms: 30, pid: target, msg: "tick" });
    await c.d.waitInbox(target, (i) => i.includes("tick"));
    const timersOnN1 = async () => ((await c.server.coordinator.nodeRequest("n1", { op: "info" })) as { timers: number }).timers;
    assert.ok((await timersOnN1()) >= 1);
    await c.d.do(owner, { op: "exit", pid: owner, reason: "normal" });
    await waitUntil(
      async () => ((await timersOnN1()) === 0 ? true : undefined),
      10_000,
      () => "timers of the ended process still live",
    );
  });

  test("a periodic timer keeps ticking once, not twice, after its module is reloaded", async () => {
    const owner = await c.d.spawn("n2");
    await c.d.do(owner, { op: "sendInterval", ms: 25, msg: "tick" });
    assert.equal(await timersOf(owner), 1);
    const saved = nextSave(c.server);
    c.project.write("src/probe.ts", PROBE + "\nexport const reloaded = 1;\n");
    assert.equal((await saved).report?.ok, true);
    assert.equal(await timersOf(owner), 1);
    const n = (await c.d.do(owner, { op: "inbox" })).length;
    await c.d.waitInbox(owner, (i) => i.length > n + 2);
    assert.equal(await timersOf(owner), 1);
  });
});
