import assert from "node:assert/strict";
import { Socket } from "node:net";
import { after, before, describe, test } from "node:test";
import fc from "fast-check";
import { decodeValue, encodeValue } from "../../wire/codec";
import { Pid } from "../../wire/pid";
import { checkSendable } from "../../wire/sendable";
import { probeCluster } from "../helpers/probe";

const pid = fc.tuple(fc.constantFrom("n1", "n2", "node-7"), fc.nat()).map(([n, id]) => new Pid(n, id));
const buffer = fc.uint8Array({ maxLength: 32 }).map((a) => Buffer.from(a));
const leaf = fc.oneof(
  fc.anything({ withMap: true, withSet: true, withDate: true, withBigInt: true, withTypedArray: true, withNullPrototype: false, withBoxedValues: false, withSparseArray: false, maxDepth: 2 }),
  pid,
  buffer,
);
/** Message values as DESIGN §5 lists them, pids and Buffers mixed into nested objects, arrays, Maps and Sets. */
const message = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("array"), tie("object"), tie("map"), tie("set")),
  array: fc.array(tie("value"), { maxLength: 4 }),
  object: fc.dictionary(fc.string({ maxLength: 6 }).filter((k) => k !== "__proto__"), tie("value"), { maxKeys: 4, noNullPrototype: true }),
  map: fc.array(fc.tuple(fc.oneof(fc.string(), pid), tie("value")), { maxLength: 3 }).map((e) => new Map(e)),
  set: fc.array(tie("value"), { maxLength: 3 }).map((v) => new Set(v)),
})).value;

/**
 * deepStrictEqual compares Dates by getTime() with !==, so two Invalid Dates
 * never compare equal (NaN !== NaN) though the codec carries them exactly
 * (fast-check found `{ "": new Date(NaN) }`, seed 440). Compare them as a marker.
 */
function comparable(v: unknown, seen = new Map<object, unknown>()): unknown {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? { invalidDate: true } : v;
  if (v === null || typeof v !== "object" || ArrayBuffer.isView(v) || v instanceof Pid) return v;
  if (seen.has(v)) return seen.get(v);
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    seen.set(v, out);
    for (const x of v) out.push(comparable(x, seen));
    return out;
  }
  if (v instanceof Map) {
    const out = new Map();
    seen.set(v, out);
    for (const [k, x] of v) out.set(comparable(k, seen), comparable(x, seen));
    return out;
  }
  if (v instanceof Set) {
    const out = new Set();
    seen.set(v, out);
    for (const x of v) out.add(comparable(x, seen));
    return out;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype) return v;
  const out: Record<string, unknown> = {};
  seen.set(v, out);
  // defineProperty, not assignment: a key "__proto__" must stay an own key (fast-check makes them)
  for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: comparable(x, seen), enumerable: true, writable: true, configurable: true });
  return out;
}

function assertSameValue(actual: unknown, expected: unknown): void {
  assert.deepStrictEqual(comparable(actual), comparable(expected));
}

describe("message values (issue 5)", () => {
  test("every value of the message grammar survives the wire codec unchanged, Buffers as Buffers and pids as pids", () => {
    fc.assert(
      fc.property(message, (v) => {
        assertSameValue(decodeValue(encodeValue(v)), v);
      }),
      { numRuns: 300 },
    );
  });

  test("values JSON would change (-0, NaN, Infinity, undefined fields and items) survive; plain data takes the JSON path", () => {
    const tricky: unknown[] = [-0, NaN, Infinity, { a: undefined }, [1, undefined, 3], { deep: { n: -0 } }, [{ at: new Date(5) }]];
    const invalid = decodeValue(encodeValue({ "": new Date(NaN) })) as Record<string, Date>;
    assert.ok(invalid[""] instanceof Date && Number.isNaN(invalid[""].getTime()), "an Invalid Date arrives as an Invalid Date");
    for (const v of tricky) assert.deepStrictEqual(decodeValue(encodeValue(v)), v);
    const plain = { type: "post", text: "hi", n: 3, tags: ["a", "b"], nested: { ok: true, none: null } };
    assert.equal(encodeValue(plain).toString("utf8"), JSON.stringify(plain));
    assert.deepStrictEqual(decodeValue(encodeValue(plain)), plain);
  });

  test("a Buffer inside a message arrives as a Buffer, not a plain Uint8Array", () => {
    const out = decodeValue(encodeValue({ data: Buffer.from("hi"), at: new Date(0), n: 10n ** 20n })) as { data: unknown; n: bigint };
    assert.ok(Buffer.isBuffer(out.data));
    assert.equal(out.n, 10n ** 20n);
  });

  test("anything in the message grammar passes the sender's check", () => {
    fc.assert(fc.property(message, (v) => checkSendable(v) === undefined), { numRuns: 300 });
  });

  test("the sender's check names the field of a function, a symbol or a live object such as a socket", () => {
    assert.throws(() => checkSendable({ handler: () => 1 }), { code: "not_serializable", message: /^msg\.handler is a function/ });
    assert.throws(() => checkSendable({ list: [1, { s: Symbol("x") }] }), { message: /^msg\.list\[1\]\.s is a symbol/ });
    const socket = new Socket();
    try {
      assert.throws(() => checkSendable({ conn: { socket } }), { message: /^msg\.conn\.socket is a Socket \(a class instance\)/ });
    } finally {
      socket.destroy();
    }
    assert.throws(() => checkSendable(new Map([["cb", () => 1]])), { message: /^msg\.get\("cb"\) is a function/ });
  });
});

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
