import assert from "node:assert/strict";
import { Socket } from "node:net";
import { describe, test } from "node:test";
import fc from "fast-check";
import { decodeValue, encodeValue } from "../../wire/codec";
import { encodeChecked } from "../../wire/protocol";
import { checkSendable } from "../../wire/sendable";
import { assertSameValue, message } from "../helpers/values";

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
    fc.assert(
      fc.property(message, (v) => checkSendable(v) === undefined),
      { numRuns: 300 },
    );
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

  test("encoding a peer message is the same check in the same walk, naming array elements and fields on the way out", () => {
    const cast = (msg: unknown) => () => encodeChecked({ type: "deliver", to: 1, kind: "cast", msg });
    assert.throws(cast({ list: [1, { s: Symbol("x") }] }), { code: "not_serializable", message: /^msg\.list\[1\]\.s is a symbol/ });
    assert.throws(cast([[0, () => 1]]), { code: "not_serializable", message: /^msg\[0\]\[1\] is a function/ });
  });
});
