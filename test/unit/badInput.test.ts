import assert from "node:assert/strict";
import { once, EventEmitter } from "node:events";
import { describe, test } from "node:test";
import { LogThrottle } from "../../wire/throttle";
import { Outbox, unpackFrame } from "../../wire/transport";

describe("bad input stays harmless and the log readable (issue: several machines, rules 7 and 9)", () => {
  test("a frame that would unpack into 100,000 empty messages is one malformed frame", () => {
    const frame = Buffer.alloc(1 + 4 * 100_000); // the batch tag, then 100,000 zero lengths
    assert.throws(() => unpackFrame(frame), /malformed batch: an empty message at byte 1/);
    const truncated = Buffer.from([0, 0, 0, 0, 9, 1, 2]);
    assert.throws(() => unpackFrame(truncated), /runs past the frame/);
  });

  test("a log line repeated for one key comes once, then once per window with how many came", async () => {
    const lines = new EventEmitter();
    const seen: { fields: Record<string, unknown>; msg: string }[] = [];
    const throttle = new LogThrottle((fields, msg) => (seen.push({ fields, msg }), lines.emit("line")), 50);
    for (let i = 0; i < 100_000; i++) throttle.note("10.9.0.3", { address: "10.9.0.3" }, "refused a connection from 10.9.0.3: not CurveZMQ");
    throttle.note("10.9.0.4", { address: "10.9.0.4" }, "refused a connection from 10.9.0.4: not CurveZMQ");
    assert.deepEqual(
      seen.map((s) => [s.fields.address, s.fields.count]),
      [
        ["10.9.0.3", 1],
        ["10.9.0.4", 1],
      ],
    );
    const keepAlive = setInterval(() => undefined, 1000); // the throttle's timer does not hold the process open
    await once(lines, "line");
    clearInterval(keepAlive);
    assert.equal(seen[2]!.fields.count, 99_999);
    assert.match(seen[2]!.msg, /\(99999 times in the last 0 s\)$/);
    throttle.close();
  });

  test("a message over the frame cap is not sent, with a message saying its size and the cap", async () => {
    process.env.DEVCLUSTER_MAX_FRAME_BYTES = "1000";
    try {
      const sent: (Buffer | string)[][] = [];
      const errors: string[] = [];
      const out = new Outbox({ send: async (f) => void sent.push(f) }, (err) => errors.push((err as Error).message), true);
      out.push([Buffer.alloc(2000, 1)]);
      out.push([Buffer.alloc(10, 1)]);
      await new Promise((r) => setImmediate(r));
      assert.deepEqual(errors, ["a message of 2000 bytes is over the frame cap of 1000 bytes (DEVCLUSTER_MAX_FRAME_BYTES): not sent"]);
      assert.equal(sent.length, 1);
    } finally {
      delete process.env.DEVCLUSTER_MAX_FRAME_BYTES;
    }
  });
});
