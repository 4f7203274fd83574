import assert from "node:assert/strict";
import { describe, test } from "node:test";
import fc from "fast-check";
import { Fifo } from "../../wire/fifo";

describe("fifo (every mailbox, every socket queue)", () => {
  test("push and shift are first in, first out; an empty mailbox shifts undefined", () => {
    const m = new Fifo<number>();
    assert.equal(m.shift(), undefined);
    m.push(1);
    m.push(2);
    m.push(3);
    assert.equal(m.length, 3);
    assert.deepEqual([m.shift(), m.shift(), m.shift(), m.shift()], [1, 2, 3, undefined]);
    assert.equal(m.length, 0);
  });

  test("unshift puts an item first, also after items were taken from the front", () => {
    const m = new Fifo<string>();
    m.push("a");
    m.push("b");
    m.shift();
    m.unshift("system");
    assert.deepEqual(m.drain(), ["system", "b"]);
    m.unshift("only");
    assert.deepEqual(m.drain(), ["only"]);
  });

  test("findIndex counts from the current front and take removes that item, keeping the others in order", () => {
    const m = new Fifo<string>();
    for (const x of ["x", "cast", "sys1", "cast", "sys2"]) m.push(x);
    m.shift();
    assert.equal(
      m.findIndex((e) => e.startsWith("sys")),
      1,
    );
    assert.equal(
      m.findIndex((e) => e === "nope"),
      -1,
    );
    assert.equal(m.take(1), "sys1");
    assert.equal(m.take(0), "cast");
    assert.deepEqual(m.drain(), ["cast", "sys2"]);
    assert.equal(m.length, 0);
  });

  test("a long burst keeps its order across the internal compaction", () => {
    const m = new Fifo<number>();
    for (let i = 0; i < 5000; i++) m.push(i);
    for (let i = 0; i < 3000; i++) assert.equal(m.shift(), i);
    m.unshift(-1);
    assert.equal(m.length, 2001);
    assert.equal(
      m.findIndex((x) => x === 4999),
      2000,
    );
    const rest = m.drain();
    assert.deepEqual(rest, [-1, ...Array.from({ length: 2000 }, (_, i) => 3000 + i)]);
  });

  test("any sequence of operations behaves as the same operations on an array", () => {
    const op = fc.oneof(
      fc.record({ op: fc.constant("push" as const), v: fc.integer() }),
      fc.record({ op: fc.constant("unshift" as const), v: fc.integer() }),
      fc.record({ op: fc.constant("shift" as const) }),
      fc.record({ op: fc.constant("shiftMany" as const), n: fc.integer({ min: 1, max: 1500 }) }),
      fc.record({ op: fc.constant("pushMany" as const), n: fc.integer({ min: 1, max: 1500 }) }),
      fc.record({ op: fc.constant("take" as const), at: fc.nat() }),
      fc.record({ op: fc.constant("find" as const), v: fc.integer({ min: -3, max: 3 }) }),
    );
    fc.assert(
      fc.property(fc.array(op, { maxLength: 40 }), (ops) => {
        const m = new Fifo<number>();
        const model: number[] = [];
        let next = 0;
        for (const o of ops) {
          switch (o.op) {
            case "push":
              m.push(o.v);
              model.push(o.v);
              break;
            case "unshift":
              m.unshift(o.v);
              model.unshift(o.v);
              break;
            case "shift":
              assert.equal(m.shift(), model.shift());
              break;
            case "shiftMany":
              for (let i = 0; i < o.n; i++) assert.equal(m.shift(), model.shift());
              break;
            case "pushMany":
              for (let i = 0; i < o.n; i++) {
                m.push(next);
                model.push(next++);
              }
              break;
            case "take": {
              if (model.length === 0) break;
              const at = o.at % model.length;
              assert.equal(m.take(at), model.splice(at, 1)[0]);
              break;
            }
            case "find":
              assert.equal(
                m.findIndex((x) => x === o.v),
                model.indexOf(o.v),
              );
              break;
          }
          assert.equal(m.length, model.length);
        }
        assert.deepEqual(m.drain(), model);
        assert.equal(m.length, 0);
      }),
      { numRuns: 200 },
    );
  });
});
