import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { encode } from "../../wire/protocol";
import { Outbox, unpackFrame } from "../../wire/transport";

/** A socket whose first send stays pending until released, as a busy ZeroMQ socket's does. */
function slowSocket(): { sent: (Buffer | string)[][]; release(): void; send(frames: (Buffer | string)[]): Promise<void> } {
  let release: () => void = () => undefined;
  const sent: (Buffer | string)[][] = [];
  let first = true;
  return {
    sent,
    release: () => release(),
    send(frames) {
      sent.push(frames);
      if (!first) return Promise.resolve();
      first = false;
      return new Promise<void>((resolve) => (release = resolve));
    },
  };
}

describe("peer link batching", () => {
  test("what queues behind a pending send leaves as one frame that unpacks to the messages in order", async () => {
    const socket = slowSocket();
    const out = new Outbox(socket, (err) => assert.fail(String(err)), true);
    const msgs = Array.from({ length: 50 }, (_, i) => encode({ type: "deliver", to: 1, kind: "cast", msg: { i, at: i % 2 ? new Date(i) : i } }));
    for (const m of msgs) out.push([m]);
    socket.release();
    await new Promise((r) => setImmediate(r));
    assert.equal(socket.sent.length, 2, "the first alone, then everything that queued behind it");
    assert.deepEqual(unpackFrame(socket.sent[0]![0] as Buffer), [msgs[0]]);
    assert.deepEqual(unpackFrame(socket.sent[1]![0] as Buffer), msgs.slice(1));
    out.close();
  });

  test("a frame that is a single message (JSON or V8) unpacks to itself", () => {
    for (const value of [
      { type: "reply", ref: 1, ok: true },
      { type: "reply", ref: 2, ok: true, value: new Map([[1, 2]]) },
    ]) {
      const frame = encode(value as never);
      assert.deepEqual(unpackFrame(frame), [frame]);
    }
  });
});
