import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Pid } from "../../wire/pid";
import { decodePeers, encode, encodePeer, type PeerMessage } from "../../wire/protocol";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Dealer, Router } from "zeromq";
import { Outbox, unpackFrame } from "../../wire/transport";
import { within } from "../helpers/fakeNode";

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

/** As zeromq.js does: a send while an earlier one is still held throws EBUSY at once. */
class BusySocket {
  readonly sent: (Buffer | string)[][] = [];
  holdNext = false;
  release: (() => void) | undefined;
  send(frames: (Buffer | string)[]): Promise<void> {
    if (this.release) throw Object.assign(new Error("Socket is busy writing"), { code: "EBUSY" });
    this.sent.push(frames);
    if (!this.holdNext) return Promise.resolve();
    this.holdNext = false;
    return new Promise<void>((resolve) => {
      this.release = () => {
        this.release = undefined;
        resolve();
      };
    });
  }
}

describe("peer link batching when a batch sent at once is held", () => {
  test("the pump waits for a held batch instead of losing the next one to EBUSY", async () => {
    const socket = new BusySocket();
    const errors: unknown[] = [];
    const out = new Outbox(socket, (err) => errors.push(err), true);
    const n = 5000;
    for (let i = 0; i < n; i++) {
      // the first full batch (at 2049) goes to the socket at once and is held; the next one finds it busy
      if (i === 2049) socket.holdNext = true;
      out.pushMessage(encodePeer({ type: "deliver", to: 1, kind: "cast", msg: i }));
    }
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    socket.release?.();
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(errors, []);
    const got = socket.sent.flatMap((f) => unpackFrame(f[0] as Buffer).flatMap((x) => decodePeers(x)));
    assert.deepEqual(
      got.map((d) => (d.ok && d.msg.type === "deliver" ? d.msg.msg : d)),
      Array.from({ length: n }, (_, i) => i),
    );
    out.close();
  });
});

/** As zeromq.js's fast path: a send completes at once (its promise resolves at the next microtask). */
function quickSocket(): { got: unknown[]; send(frames: (Buffer | string)[]): Promise<void> } {
  const got: unknown[] = [];
  return {
    got,
    send(frames) {
      for (const f of frames) {
        const buf = typeof f === "string" ? Buffer.from(f) : f;
        for (const one of unpackFrame(buf)) for (const d of decodePeers(one)) got.push(d.ok && d.msg.type === "deliver" ? d.msg.msg : d);
      }
      return Promise.resolve();
    },
  };
}

describe("peer link batching keeps one sender's order", () => {
  test("bursts from a handler that yields between them (the mailbox loop's every 64 messages) arrive in the order sent", async () => {
    const socket = quickSocket();
    const errors: unknown[] = [];
    const out = new Outbox(socket, (err) => errors.push(err), true);
    let n = 0;
    for (let turn = 0; turn < 4; turn++) {
      for (let i = 0; i < 64 * 40; i++) out.pushMessage(encodePeer({ type: "deliver", to: 1, kind: "cast", msg: n++ }));
      await undefined;
    }
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(errors, []);
    assert.deepEqual(
      socket.got,
      Array.from({ length: n }, (_, i) => i),
    );
    out.close();
  });

  test("a message over the frame cap pushed during a send is refused with its size, and the others go in order", async () => {
    process.env.DEVCLUSTER_MAX_FRAME_BYTES = "1000";
    try {
      const socket = quickSocket();
      const errors: string[] = [];
      const out = new Outbox(socket, (err) => errors.push((err as Error).message), true);
      const msg = (m: unknown): string | Buffer => encodePeer({ type: "deliver", to: 1, kind: "cast", msg: m });
      out.pushMessage(msg(0));
      out.pushMessage(msg(1));
      out.pushMessage(msg("x".repeat(2000)));
      out.pushMessage(msg(2));
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      assert.equal(errors.length, 1);
      assert.match(errors[0]!, /^a message of \d+ bytes is over the frame cap of 1000 bytes \(DEVCLUSTER_MAX_FRAME_BYTES\): not sent$/);
      assert.deepEqual(socket.got, [0, 1, 2]);
      out.close();
    } finally {
      delete process.env.DEVCLUSTER_MAX_FRAME_BYTES;
    }
  });
});

describe("peer link batching on a real ZeroMQ socket", () => {
  test("a burst sent while the peer is not there yet arrives whole and in order: a batch refused as busy waits its turn", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "devcluster-outbox-"));
    const endpoint = `ipc://${path.join(dir, "peer")}`;
    const router = new Router({ linger: 0 });
    // Connected before anyone listens, with no queue until the link is up: ZeroMQ holds the first send, and the next batch finds the socket busy.
    const dealer = new Dealer({ linger: 0, routingId: "d", reconnectInterval: 20, immediate: true });
    dealer.connect(endpoint);
    let busy = 0;
    const errors: unknown[] = [];
    const socket = {
      send(frames: (Buffer | string)[]): Promise<void> {
        try {
          return dealer.send(frames);
        } catch (err) {
          if ((err as { code?: unknown }).code === "EBUSY") busy++;
          throw err;
        }
      },
    };
    const out = new Outbox(socket, (err) => errors.push(err), true);
    const n = 30_000;
    try {
      for (let i = 0; i < n; i++) out.pushMessage(encodePeer({ type: "deliver", to: 1, kind: "cast", msg: i }));
      await router.bind(endpoint);
      const got: unknown[] = [];
      while (got.length < n) {
        const [, frame] = await within(router.receive(), "the next frame");
        for (const f of unpackFrame(frame!)) for (const d of decodePeers(f)) got.push(d.ok && d.msg.type === "deliver" ? d.msg.msg : d);
      }
      assert.deepEqual(errors, []);
      assert.deepEqual(
        got,
        Array.from({ length: n }, (_, i) => i),
      );
      assert.ok(busy > 0, "the socket refused a batch as busy at least once (the path under test)");
    } finally {
      out.close();
      dealer.close();
      router.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
