import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { Pid } from "../../wire/pid";
import { waitUntil, probeCluster } from "../helpers/probe";

type Child = { id: string; pid: Pid | undefined; module: string; restart: string };

describe("supervisors (issue 5)", () => {
  const c = probeCluster(2);

  /** A supervisor started by a fresh trapping probe `owner` on n1, its children reporting to `owner`. */
  async function tree(strategy: string, ids: string[], extra: Record<string, unknown> = {}, child: Record<string, unknown> = {}) {
    const owner = await c.d.spawn("n1", { trap: true });
    const children = ids.map((id) => ({ id, module: "probe", args: { report: owner, id }, ...child }));
    const sup = (await c.d.do(owner, { op: "startSupervisor", spec: { strategy, intensity: 10, period: 5, children, ...extra } })) as Pid;
    assert.equal(typeof sup.node, "string", JSON.stringify(sup));
    const which = async () => (await c.d.do(owner, { op: "whichChildren", pid: sup })) as Child[];
    const events = async () => (await c.d.do(owner, { op: "inbox" })) as any[];
    return { owner, sup, which, events };
  }

  const pidOf = (children: Child[], id: string) => children.find((c) => c.id === id)!.pid!;

  test("children start in order, and a one_for_one supervisor restarts only the child that crashed", async () => {
    const t = await tree("one_for_one", ["a", "b", "c"]);
    assert.deepEqual(
      (await t.events()).filter((m) => "started" in m).map((m) => m.started),
      ["a", "b", "c"],
    );
    const before = await t.which();
    await assert.rejects(c.d.do(pidOf(before, "b"), { op: "crash" }));
    const after = await waitUntil(async () => {
      const w = await t.which();
      return pidOf(w, "b") && pidOf(w, "b").toString() !== pidOf(before, "b").toString() ? w : undefined;
    });
    assert.equal(pidOf(after, "a").toString(), pidOf(before, "a").toString());
    assert.equal(pidOf(after, "c").toString(), pidOf(before, "c").toString());
    const info = await c.d.do(t.owner, { op: "processInfo", pid: pidOf(after, "b") });
    assert.equal(info.supervisor.toString(), t.sup.toString());
  });

  test("rest_for_one restarts the crashed child and those after it, stopping them in reverse order and starting them in order", async () => {
    const t = await tree("rest_for_one", ["a", "b", "c", "d"]);
    const before = await t.which();
    const mark = (await t.events()).length;
    await assert.rejects(c.d.do(pidOf(before, "b"), { op: "crash" }));
    const events = await waitUntil(async () => {
      const e = (await t.events()).slice(mark);
      return e.filter((m) => "started" in m).length >= 3 ? e : undefined;
    });
    assert.deepEqual(
      events.filter((m) => "stopped" in m && m.reason === "shutdown").map((m) => m.stopped),
      ["d", "c"],
    );
    assert.deepEqual(
      events.filter((m) => "started" in m).map((m) => m.started),
      ["b", "c", "d"],
    );
    const after = await t.which();
    assert.equal(pidOf(after, "a").toString(), pidOf(before, "a").toString());
    for (const id of ["b", "c", "d"]) assert.notEqual(pidOf(after, id).toString(), pidOf(before, id).toString());
  });

  test("one_for_all restarts every child when one crashes", async () => {
    const t = await tree("one_for_all", ["a", "b", "c"]);
    const before = await t.which();
    await assert.rejects(c.d.do(pidOf(before, "c"), { op: "crash" }));
    const after = await waitUntil(async () => {
      const w = await t.which();
      return w.every((c, i) => c.pid && c.pid.toString() !== before[i]!.pid!.toString()) ? w : undefined;
    });
    assert.deepEqual(
      after.map((c) => c.id),
      ["a", "b", "c"],
    );
  });

  test("transient children are restarted after a crash but not after a normal exit; temporary ones never", async () => {
    const owner = await c.d.spawn("n1", { trap: true });
    const spec = {
      strategy: "one_for_one",
      children: [
        { id: "t", module: "probe", restart: "transient" },
        { id: "tmp", module: "probe", restart: "temporary" },
      ],
    };
    const sup = (await c.d.do(owner, { op: "startSupervisor", spec })) as Pid;
    const which = async () => (await c.d.do(owner, { op: "whichChildren", pid: sup })) as Child[];
    const first = await which();
    await assert.rejects(c.d.do(pidOf(first, "t"), { op: "crash" }));
    const restarted = await waitUntil(async () => {
      const w = await which();
      const p = pidOf(w, "t");
      return p && p.toString() !== pidOf(first, "t").toString() ? p : undefined;
    });
    await c.d.do(restarted, { op: "exit", pid: restarted, reason: "normal" });
    await assert.rejects(c.d.do(pidOf(first, "tmp"), { op: "crash" }));
    const last = await waitUntil(async () => {
      const w = await which();
      return w.length === 1 && !w[0]!.pid ? w : undefined;
    });
    assert.deepEqual(
      last.map((c) => c.id),
      ["t"],
    );
  });

  test("a restart storm stops the supervisor at its intensity, which escalates to its parent supervisor", async () => {
    const owner = await c.d.spawn("n1", { trap: true });
    const inner = { strategy: "one_for_one", intensity: 2, period: 60, children: [{ id: "w", module: "probe" }] };
    const spec = { strategy: "one_for_one", intensity: 0, period: 60, children: [{ id: "inner", module: "devcluster/supervisor", args: inner }] };
    const top = (await c.d.do(owner, { op: "startSupervisor", spec })) as Pid;
    const innerPid = pidOf((await c.d.do(owner, { op: "whichChildren", pid: top })) as Child[], "inner");
    await c.d.do(owner, { op: "monitor", pid: innerPid });
    for (let i = 0; i < 3; i++) {
      const w = await waitUntil(async () => pidOf((await c.d.do(owner, { op: "whichChildren", pid: innerPid })) as Child[], "w"));
      await assert.rejects(c.d.do(w, { op: "crash" }));
    }
    await c.logs.waitFor(/reached_max_restart_intensity/);
    // the inner supervisor ended with "shutdown"; the top one (intensity 0) could not restart it and ended too, telling its owner
    const inbox = await c.d.waitInbox(owner, (i) => i.some((m) => m.down) && i.some((m) => m.exit));
    assert.equal(inbox.find((m) => m.down).reason, "shutdown");
    assert.equal(inbox.find((m) => m.exit).exit.toString(), top.toString());
    assert.equal(await c.d.alive(top), false);
  });

  test("stopping a supervisor shuts its children down in reverse order, killing one that overruns its shutdownMs", async () => {
    const t = await tree("one_for_one", ["a", "b", "c"], {}, { shutdownMs: 300 });
    const mark = (await t.events()).length;
    const children = await t.which();
    // b traps exits and so ignores "shutdown": the supervisor waits 300 ms, then kills it
    await c.d.do(pidOf(children, "b"), { op: "trap", on: true });
    await c.d.do(t.owner, { op: "exit", pid: t.sup, reason: "shutdown" });
    const events = await waitUntil(async () => {
      const e = (await t.events()).slice(mark);
      return e.some((m) => m.exit) ? e : undefined;
    });
    assert.deepEqual(
      events.filter((m) => "stopped" in m).map((m) => m.stopped),
      ["c", "a"],
    );
    for (const child of children) assert.equal(await c.d.alive(child.pid!), false);
    await c.logs.waitFor(/did not stop in time; killed/);
  });

  test("restartChild gives a supervised process a new pid; a process without supervisor is refused with no_supervisor", async () => {
    const t = await tree("one_for_one", ["a"]);
    const a = pidOf(await t.which(), "a");
    const fresh = (await c.d.do(t.owner, { op: "restartChild", pid: a })) as Pid;
    assert.notEqual(fresh.toString(), a.toString());
    assert.equal(pidOf(await t.which(), "a").toString(), fresh.toString());
    const loner = await c.d.spawn("n2");
    const r = await c.d.do(t.owner, { op: "restartChild", pid: loner });
    assert.equal(r.error, "no_supervisor");
  });

  test("a child that fails to start makes startSupervisor reject, and the children already started are stopped", async () => {
    const owner = await c.d.spawn("n1", { trap: true });
    const spec = {
      children: [
        { id: "ok", module: "probe", args: { report: owner, id: "ok" } },
        { id: "bad", module: "probe", args: { failInit: true } },
      ],
    };
    const r = await c.d.do(owner, { op: "startSupervisor", spec });
    assert.equal(r.error, "init_failed");
    const inbox = await c.d.waitInbox(owner, (i) => i.some((m) => "stopped" in m));
    assert.equal(inbox.find((m) => "stopped" in m).stopped, "ok");
  });
});
