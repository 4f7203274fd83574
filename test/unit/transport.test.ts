import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Pid } from "../../wire/pid";
import { decodePeers, encode, encodePeer, type PeerMessage } from "../../wire/protocol";
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

  test("a burst of JSON messages leaves as one JSON array that decodes to the messages in order, pids restored", async () => {
    const socket = slowSocket();
    const out = new Outbox(socket, (err) => assert.fail(String(err)), true);
    const msgs: PeerMessage[] = Array.from({ length: 40 }, (_, i) =>
      i % 3 === 0
        ? { type: "call", to: i, from: { node: "n1", ref: i, pid: new Pid("n1", i) }, msg: { text: `é${i}` } }
        : { type: "deliver", to: i, kind: "cast", msg: i },
    );
    for (const m of msgs) out.push([encodePeer(m)]);
    socket.release();
    await new Promise((r) => setImmediate(r));
    assert.equal(socket.sent.length, 2);
    const batch = socket.sent[1]![0] as Buffer;
    assert.equal(batch[0], 0x01, "a JSON batch");
    const decoded = unpackFrame(batch).flatMap((f) => decodePeers(f));
    assert.deepEqual(
      decoded.map((d) => (d.ok ? d.msg : d.reason)),
      msgs.slice(1),
    );
    const call = decoded[2]!.ok ? (decoded[2]!.msg as Extract<PeerMessage, { type: "call" }>) : undefined;
    assert.ok(call?.from.pid instanceof Pid, "a pid in a batched message comes back a Pid");
    out.close();
  });

  test("messages pushed one by one during a send are packed as they come, at most 2048 a frame, in order across a V8 one", async () => {
    const socket = slowSocket();
    const out = new Outbox(socket, (err) => assert.fail(String(err)), true);
    const msgs: PeerMessage[] = Array.from({ length: 5000 }, (_, i) => ({ type: "deliver", to: 1, kind: "cast", msg: i === 3000 ? new Date(i) : i }));
    for (const m of msgs) out.pushMessage(encodePeer(m));
    socket.release();
    for (let i = 0; i < 10 && socket.sent.length < 5; i++) await new Promise((r) => setImmediate(r));
    const frames = socket.sent.map((f) => f[0] as Buffer);
    const perFrame = frames.map((f) => unpackFrame(f).flatMap((x) => decodePeers(x)).length);
    assert.deepEqual(perFrame, [1, 2048, 951, 1, 1999], "the first alone, then packs of 2048 at most, sealed before the V8 message");
    const all = frames.flatMap((f) => unpackFrame(f).flatMap((x) => decodePeers(x)));
    assert.deepEqual(
      all.map((d) => (d.ok ? d.msg : d.reason)),
      msgs,
    );
    out.close();
  });

  test("a burst with one V8 message among JSON ones goes in the length-prefixed batch, each decoded", async () => {
    const socket = slowSocket();
    const out = new Outbox(socket, (err) => assert.fail(String(err)), true);
    const msgs: PeerMessage[] = [1, 2, 3, 4].map((i) => ({ type: "deliver", to: i, kind: "cast", msg: i === 3 ? new Map([[i, i]]) : i }));
    for (const m of msgs) out.push([encodePeer(m)]);
    socket.release();
    await new Promise((r) => setImmediate(r));
    const batch = socket.sent[1]![0] as Buffer;
    assert.equal(batch[0], 0x00);
    assert.deepEqual(
      unpackFrame(batch)
        .flatMap((f) => decodePeers(f))
        .map((d) => (d.ok ? d.msg : d.reason)),
      msgs.slice(1),
    );
    out.close();
  });

  test("a JSON batch that does not parse, or is not an array, is one bad frame, not a message each", () => {
    const frame = (text: string) => Buffer.from(String.fromCharCode(0x01) + text);
    for (const text of ['[{"type":"deliver","to":1,"kind":"cast","msg":1},', '{"type":"deliver"}']) {
      const r = decodePeers(frame(text));
      assert.equal(r.length, 1);
      assert.match(r[0]!.ok ? "" : r[0]!.reason, /undecodable frame/);
    }
    const oneBad = decodePeers(frame('[{"type":"deliver","to":1,"kind":"cast","msg":1},{"type":"nope"}]'));
    assert.deepEqual(
      oneBad.map((d) => d.ok),
      [true, false],
      "a batch that parses is checked message by message",
    );
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
