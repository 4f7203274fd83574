import { Dealer, Router } from "zeromq";
import { JSON_BATCH_TAG } from "./codec";
import { Fifo } from "./fifo";
import type { ClusterKeys } from "./security";

/** ZeroMQ's own heartbeats find a dead peer without a message of ours. */
const HEARTBEAT = { heartbeatInterval: 1000, heartbeatTimeout: 3000, heartbeatTimeToLive: 3000 } as const;

/**
 * The largest frame a socket accepts or sends. libzmq drops a connection that
 * sends a bigger one before it is read into memory; our own sends check first
 * and say so. Code bundles are the largest messages (the welcome carries all
 * of them); 64 MiB leaves room for big projects. DEVCLUSTER_MAX_FRAME_BYTES
 * changes it.
 */
export function maxFrameBytes(): number {
  const n = Number(process.env.DEVCLUSTER_MAX_FRAME_BYTES);
  return Number.isInteger(n) && n > 0 ? n : 64 * 1024 * 1024;
}

/** A ROUTER that only the cluster's key can talk to (see security.ts for the ZAP side). */
export function secureRouter(keys: ClusterKeys): Router {
  return new Router({
    curveServer: true,
    curvePublicKey: keys.publicKey,
    curveSecretKey: keys.secretKey,
    // Without this a send to an unknown peer vanishes; with it we get EHOSTUNREACH and can say so.
    mandatory: true,
    linger: 0,
    maxMessageSize: maxFrameBytes(),
    ...HEARTBEAT,
  });
}

export function secureDealer(keys: ClusterKeys, routingId: string): Dealer {
  return new Dealer({
    curveServerKey: keys.publicKey,
    curvePublicKey: keys.publicKey,
    curveSecretKey: keys.secretKey,
    routingId,
    linger: 0,
    reconnectInterval: 100,
    reconnectMaxInterval: 1000,
    // A connect made while the link is down sits in the kernel's SYN back-off (1, 2, 4, 8, 16 s...), so a host
    // whose link came back could wait tens of seconds to rejoin; abandoned after 1 s, the next try goes out at once.
    connectTimeout: 1000,
    maxMessageSize: maxFrameBytes(),
    ...HEARTBEAT,
  });
}

type Frames = (Buffer | string)[];

/** messages per batched send: bounds one send's size and latency */
const MAX_BATCH = 2048;

/**
 * zeromq.js refuses a second pending send() on a socket (EBUSY) rather than
 * queue silently, so every socket with more than one writer sends through one
 * of these: an explicit FIFO drained by a single pump.
 */
export class Outbox {
  /** a Fifo, not an array: shift() on a long array is a copy, and a burst of casts queues here */
  private readonly queue = new Fifo<Frames>();
  /** JSON texts waiting to be packed into one frame (pushMessage) */
  private open: string[] = [];
  private openBytes = 0;
  private pumping = false;
  /** a batch handed to ZeroMQ by sendOpen, until its send settles */
  private inflight: Promise<void> | undefined;
  private closed = false;
  private readonly cap = maxFrameBytes();
  private idlers: (() => void)[] = [];

  constructor(
    private readonly socket: { send(frames: Frames): Promise<void> },
    private readonly onError: (err: unknown, frames: Frames) => void,
    /**
     * Items are single frames, each a whole message: while a send is under
     * way the queue fills, and the next send carries everything queued in
     * one frame (one syscall and one CurveZMQ box for many casts). The
     * receiver splits it with unpackFrame.
     */
    private readonly batch = false,
  ) {}

  push(frames: Frames): void {
    if (this.closed) return;
    this.seal();
    this.queue.push(frames);
    if (!this.pumping) void this.pump();
  }

  /**
   * One whole message (a batching Outbox). While a send is under way, JSON
   * texts are joined into batches of MAX_BATCH as they come, not when the
   * send is done: a burst of 200,000 casts then holds a hundred packed
   * frames instead of 200,000 small strings, which the garbage collector
   * copied from one young generation to the next (a third of the sender's time).
   */
  pushMessage(frame: string | Buffer): void {
    if (this.closed) return;
    if (!this.batch || !this.pumping || typeof frame !== "string") return this.push([frame]);
    const n = byteLength(frame, this.cap);
    // A message over the cap on its own goes through the pump, which refuses it and says why.
    if (n + 3 > this.cap) return this.push([frame]);
    if (this.open.length >= MAX_BATCH || this.openBytes + n + 1 > this.cap - 3) this.sendOpen();
    this.open.push(frame);
    this.openBytes += n + 1;
  }

  /**
   * A full batch goes to ZeroMQ at once when nothing waits in front of it:
   * its I/O thread carries the batch to the peer, which starts on it, while
   * the handler that is casting goes on. Left for the pump, a burst from one
   * handler would leave only once the handler is done, and the two nodes
   * would take turns instead of working together.
   */
  private sendOpen(): void {
    if (this.open.length === 0) return;
    if (this.queue.length > 0) return this.seal();
    this.seal();
    const frames = this.queue.shift()!;
    try {
      const sent = this.socket.send(frames);
      this.inflight = sent.catch((err: unknown) => {
        if (!this.closed) this.onError(err, frames);
      });
    } catch (err) {
      // zeromq.js takes one delayed send at a time (EBUSY): the one before is still under way, and the pump sends this after it.
      if ((err as { code?: unknown }).code === "EBUSY") this.queue.unshift(frames);
      else if (!this.closed) this.onError(err, frames);
    }
  }

  /** The JSON texts pushed since the last seal, as one frame at the back of the queue. */
  private seal(): void {
    if (this.open.length === 0) return;
    const items = this.open;
    this.open = [];
    this.openBytes = 0;
    this.queue.push([items.length === 1 ? items[0]! : packJson(items)]);
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    for (;;) {
      // A batch sent at once (sendOpen) may still be under way, and zeromq.js would refuse a second send (EBUSY).
      // Waited for before a frame leaves the queue: from there to its send nothing else may run, or a batch
      // sent at once meanwhile would pass it.
      while (this.inflight) {
        const before = this.inflight;
        await before;
        if (this.inflight === before) this.inflight = undefined;
      }
      if (this.closed || (this.queue.length === 0 && this.open.length === 0)) break;
      if (this.queue.length === 0) this.seal();
      let frames = this.queue.shift()!;
      const size = frames.reduce((n, f) => n + byteLength(f, this.cap), 0);
      if (size > this.cap) {
        // The receiver would drop the whole connection (and everything queued behind this frame): say why here instead.
        this.onError(new Error(`a message of ${size} bytes is over the frame cap of ${this.cap} bytes (DEVCLUSTER_MAX_FRAME_BYTES): not sent`), frames);
        continue;
      }
      if (this.batch && this.queue.length > 0 && !isPacked(frames[0]!)) {
        const items = [frames[0]!];
        let bytes = 2 + 4 + size;
        let text = typeof frames[0] === "string";
        while (items.length <= MAX_BATCH && this.queue.length > 0 && !isPacked(this.queue.peek()![0]!)) {
          const next = this.queue.shift()!;
          const n = byteLength(next[0]!, this.cap);
          if (bytes + 4 + n > this.cap) {
            this.queue.unshift(next); // the next send carries it
            break;
          }
          bytes += 4 + n;
          items.push(next[0]!);
          text &&= typeof next[0] === "string";
        }
        // All JSON (a burst of casts): one array, so the receiver parses once instead of once per message.
        frames = [text ? packJson(items as string[]) : packBatch(items)];
      }
      try {
        await this.socket.send(frames);
      } catch (err) {
        if (!this.closed) this.onError(err, frames);
      }
    }
    this.pumping = false;
    for (const done of this.idlers.splice(0)) done();
  }

  /** Resolves once everything pushed so far is in ZeroMQ's hands (a last message before close: ZeroMQ's linger takes it from there). */
  idle(): Promise<void> {
    if (!this.pumping && this.queue.length === 0 && this.open.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idlers.push(resolve));
  }

  close(): void {
    this.closed = true;
    this.queue.drain();
    this.open = [];
    for (const done of this.idlers.splice(0)) done();
  }
}

/** A batch packed by {@link Outbox.pushMessage}: sent as it is, never packed into another. */
function isPacked(f: Buffer | string): boolean {
  return typeof f !== "string" && f[0] === JSON_BATCH_TAG;
}

/**
 * Many messages in one frame: a 0x00 byte, then each message as a 4-byte
 * length and its bytes. ZeroMQ costs about a microsecond per frame on each
 * side, more than a small message's own encoding. No single message starts
 * with 0x00 (JSON text, or V8's 0xff version tag). A batch of JSON texts
 * only goes as one JSON array instead (codec.ts JSON_BATCH_TAG).
 */
const BATCH_TAG = 0x00;
const JSON_BATCH_CHAR = String.fromCharCode(JSON_BATCH_TAG);

/** JSON texts as one frame the receiver parses once (codec.ts decodeJsonBatch). */
function packJson(texts: string[]): Buffer {
  return Buffer.from(`${JSON_BATCH_CHAR}[${texts.join(",")}]`);
}

/** A frame's size in bytes, or for a long string (JSON text) an upper bound past `cap` unless it is measured. */
function byteLength(f: Buffer | string, cap: number): number {
  if (typeof f !== "string") return f.length;
  // UTF-8 takes at most 3 bytes per UTF-16 unit: below the cap that bound is enough, and costs no pass over the text.
  return f.length * 3 <= cap ? f.length * 3 : Buffer.byteLength(f);
}

function packBatch(items: (Buffer | string)[]): Buffer {
  const bufs = items.map((i) => (typeof i === "string" ? Buffer.from(i) : i));
  const out = Buffer.allocUnsafe(1 + bufs.reduce((n, b) => n + 4 + b.length, 0));
  out[0] = BATCH_TAG;
  let at = 1;
  for (const b of bufs) {
    out.writeUInt32BE(b.length, at);
    b.copy(out, at + 4);
    at += 4 + b.length;
  }
  return out;
}

/**
 * The messages in a frame sent by a batching Outbox (one, or a packed batch).
 * A batch that is not one (an empty item, which no sender makes, or a length
 * past the frame's end) throws: the frame is dropped whole, with one warning,
 * rather than unpacked into a hundred thousand empty messages.
 */
export function unpackFrame(frame: Buffer): Buffer[] {
  if (frame.length === 0 || frame[0] !== BATCH_TAG) return [frame];
  const out: Buffer[] = [];
  let at = 1;
  while (at < frame.length) {
    if (at + 4 > frame.length) throw new Error(`malformed batch: ${frame.length - at} stray bytes at its end`);
    const len = frame.readUInt32BE(at);
    if (len === 0) throw new Error(`malformed batch: an empty message at byte ${at}`);
    if (at + 4 + len > frame.length) throw new Error(`malformed batch: a message of ${len} bytes at byte ${at} runs past the frame's ${frame.length} bytes`);
    out.push(frame.subarray(at + 4, at + 4 + len));
    at += 4 + len;
  }
  return out;
}

/** Binds to an ephemeral loopback port and reports the concrete endpoint. */
export async function bindLoopback(router: Router, host = "127.0.0.1", port = 0): Promise<string> {
  const h = host.includes(":") ? `[${host}]` : host === "localhost" ? "127.0.0.1" : host;
  if (host.includes(":")) router.ipv6 = true;
  await router.bind(`tcp://${h}:${port === 0 ? "*" : port}`);
  const endpoint = router.lastEndpoint;
  if (!endpoint) throw new Error("bound socket reports no endpoint");
  return endpoint;
}
