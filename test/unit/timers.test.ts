import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, mock, test } from "node:test";
import { Pid } from "../../wire/pid";
import { Proc } from "../../runtime/process/process";
import { Timers } from "../../runtime/process/timers";
import { FakeNode } from "../helpers/fakeNode";

// Mocked clocks: the tests move time themselves, so nothing here waits or depends on the machine's speed.
beforeEach(() => mock.timers.enable({ apis: ["setTimeout", "setInterval", "Date"], now: 1_000_000 }));
afterEach(() => mock.timers.reset());

let refs = 0;
const newTimers = (): Timers => new Timers(() => `#Ref<t.${++refs}>`);
const owner = (id: number): Proc => new Proc(new Pid("n1", id), "m", undefined);

describe("timers", () => {
  test("a one-shot timer fires once, then is gone from its owner and from the table", () => {
    const timers = newTimers();
    const p = owner(1);
    let fired = 0;
    const ref = timers.start(p, 100, () => fired++, false);
    assert.ok(p.timers?.has(ref));
    mock.timers.tick(99);
    assert.equal(fired, 0);
    mock.timers.tick(1);
    assert.equal(fired, 1);
    mock.timers.tick(1000);
    assert.equal(fired, 1);
    assert.equal(p.timers?.size ?? 0, 0);
    assert.equal(timers.size, 0);
    assert.equal(timers.cancel(ref), false, "a timer that fired cannot be cancelled");
  });

  test("cancel returns the ms left until it would have fired, and it never fires", () => {
    const timers = newTimers();
    const p = owner(1);
    let fired = false;
    const ref = timers.start(p, 1000, () => (fired = true), false);
    mock.timers.tick(300);
    assert.equal(timers.cancel(ref), 700);
    assert.equal(p.timers?.size ?? 0, 0);
    mock.timers.tick(5000);
    assert.equal(fired, false);
    assert.equal(timers.cancel(ref), false, "a second cancel finds nothing");
    assert.equal(timers.cancel("#Ref<unknown>"), false);
  });

  test("a periodic timer fires every period until cancelled, and cancel counts from its last firing", () => {
    const timers = newTimers();
    const p = owner(1);
    let fired = 0;
    const ref = timers.start(p, 100, () => fired++, true);
    // one period per tick: the mocked Date moves to the end of a tick before the timers due in it run
    for (let i = 0; i < 3; i++) mock.timers.tick(100);
    assert.equal(fired, 3);
    mock.timers.tick(50);
    assert.equal(timers.cancel(ref), 50);
    mock.timers.tick(1000);
    assert.equal(fired, 3);
  });

  test("cancelAll stops every timer of one owner and leaves another owner's running", () => {
    const timers = newTimers();
    const a = owner(1);
    const b = owner(2);
    const fired: string[] = [];
    timers.start(a, 10, () => fired.push("a once"), false);
    timers.start(a, 10, () => fired.push("a every"), true);
    timers.start(b, 10, () => fired.push("b"), false);
    timers.cancelAll(a);
    assert.equal(a.timers?.size ?? 0, 0);
    mock.timers.tick(50);
    assert.deepEqual(fired, ["b"]);
  });

  test("when the owning process dies its timers are cancelled (the node's exit hook calls cancelAll)", async () => {
    const n = new FakeNode();
    try {
      const pid = await n.procs.spawn("probe", {});
      const fired: string[] = [];
      n.timers.start(n.proc(pid), 100, () => fired.push("once"), false);
      n.timers.start(n.proc(pid), 100, () => fired.push("every"), true);
      assert.equal(n.procs.info(n.proc(pid)).timers, 2);
      await n.procs.exit(n.proc(pid), "shutdown");
      assert.equal(n.timers.size, 0);
      mock.timers.tick(1000);
      assert.deepEqual(fired, []);
    } finally {
      n.close();
    }
  });

  test("close cancels everything", () => {
    const timers = newTimers();
    let fired = false;
    timers.start(owner(1), 10, () => (fired = true), true);
    timers.close();
    mock.timers.tick(100);
    assert.equal(fired, false);
    assert.equal(timers.size, 0);
  });
});
