import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Pid } from "../../wire/pid";
import { TRACE_BUFFER, Tracer } from "../../runtime/node/trace";

describe("the node's tracer", () => {
  const a = new Pid("n1", 1);
  const b = new Pid("n2", 7);
  const fresh = (facade: Record<string, unknown> = {}): Tracer => new Tracer({ node: "n1", facade: () => facade });

  test("is off until a trace starts, and off again when it stops", () => {
    const t = fresh();
    assert.equal(t.on, false);
    t.start(1, { kind: "messages", pids: [a] }, { count: 10, ms: 60_000 });
    assert.equal(t.on, true);
    t.stop();
    assert.equal(t.on, false);
  });

  test("records messages in and out of a traced pid only, with sender and receiver", () => {
    const t = fresh();
    t.start(1, { kind: "messages", pids: [a] }, { count: 10, ms: 60_000 });
    t.message("cast", b, a, { hi: 1 });
    t.message("info", a, b, "back");
    t.message("info", b, new Pid("n2", 9), "elsewhere");
    const { events } = t.drain();
    assert.deepEqual(
      events.map((e) => (e.type === "message" ? [e.from, e.to, e.kind, e.msg] : [])),
      [
        ["<n2.7>", "<n1.1>", "cast", "{ hi: 1 }"],
        ["<n1.1>", "<n2.7>", "info", "'back'"],
      ],
    );
    t.stop();
  });

  test("stops itself after its count and says so at the next drain", () => {
    const t = fresh();
    t.start(3, { kind: "messages", pids: [a] }, { count: 2, ms: 60_000 });
    for (let i = 0; i < 5; i++) t.message("info", undefined, a, i);
    const d = t.drain();
    assert.equal(d.events.length, 2);
    assert.deepEqual(d.ended, [3]);
    assert.equal(t.on, false);
  });

  test("drops events, counting them, when nobody drains in time", () => {
    const t = fresh();
    t.start(4, { kind: "messages", pids: [a] }, { count: TRACE_BUFFER * 10, ms: 60_000 });
    for (let i = 0; i < TRACE_BUFFER + 50; i++) t.message("info", undefined, a, i);
    const d = t.drain();
    assert.equal(d.events.length, TRACE_BUFFER);
    assert.deepEqual(d.dropped, { 4: 50 });
    t.stop();
  });

  test("a call trace wraps the export importers see, records arguments, result and thrown errors, and unwraps at the end", async () => {
    const facade: Record<string, unknown> = {};
    const add = (x: number, y: number): number => x + y;
    const boom = (): never => {
      throw new Error("no");
    };
    Object.defineProperty(facade, "add", { value: add, enumerable: true, configurable: true });
    Object.defineProperty(facade, "boom", { value: boom, enumerable: true, configurable: true });
    const t = fresh(facade);
    t.start(5, { kind: "calls", module: "util", fn: "add" }, { count: 10, ms: 60_000 });
    t.start(6, { kind: "calls", module: "util", fn: "boom" }, { count: 10, ms: 60_000 });
    assert.equal((facade.add as typeof add)(2, 3), 5);
    assert.throws(() => (facade.boom as typeof boom)(), /no/);
    const [sum, thrown] = t.drain().events;
    assert.ok(sum?.type === "call" && thrown?.type === "call");
    assert.deepEqual([sum.fn, sum.args, sum.result], ["add", "2, 3", "5"]);
    assert.equal(thrown.error, "Error: no");
    t.stop();
    assert.equal(facade.add, add);
    assert.equal(facade.boom, boom);
    assert.throws(() => t.start(7, { kind: "calls", module: "util", fn: "nope" }, { count: 1, ms: 1000 }), /exports no function nope/);
  });
});
