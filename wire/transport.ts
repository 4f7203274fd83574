import { Dealer, Router } from "zeromq";
import { Fifo } from "./fifo";
import type { ClusterKeys } from "./security";

/** ZeroMQ's own heartbeats find a dead peer without a message of ours. */
const HEARTBEAT = { heartbeatInterval: 1000, heartbeatTimeout: 3000, heartbeatTimeToLive: 3000 } as const;

/** A ROUTER that only the cluster's key can talk to (see security.ts for the ZAP side). */
export function secureRouter(keys: ClusterKeys): Router {
  return new Router({
    curveServer: true,
    curvePublicKey: keys.publicKey,
    curveSecretKey: keys.secretKey,
    // Without this a send to an unknown peer vanishes; with it we get EHOSTUNREACH and can say so.
    mandatory: true,
    linger: 0,
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
  private pumping = false;
  private closed = false;

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
    this.queue.push(frames);
    if (!this.pumping) void this.pump();
  }

  private async pump(): Promise<void> {
    this.pumping = true;
    while (this.queue.length > 0 && !this.closed) {
      let frames = this.queue.shift()!;
      if (this.batch && this.queue.length > 0) {
        const items = [frames[0]!];
        for (let n = 0; n < MAX_BATCH && this.queue.length > 0; n++) items.push(this.queue.shift()![0]!);
        frames = [packBatch(items)];
      }
      try {
        await this.socket.send(frames);
      } catch (err) {
        if (!this.closed) this.onError(err, frames);
      }
    }
    this.pumping = false;
  }

  close(): void {
    this.closed = true;
    this.queue.drain();
  }
}

/**
 * Many messages in one frame: a 0x00 byte, then each message as a 4-byte
 * length and its bytes. ZeroMQ costs about a microsecond per frame on each
 * side, more than a small message's own encoding. No single message starts
 * with 0x00 (JSON text, or V8's 0xff version tag).
 */
const BATCH_TAG = 0x00;

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

/** The messages in a frame sent by a batching Outbox (one, or a packed batch). */
export function unpackFrame(frame: Buffer): Buffer[] {
  if (frame.length === 0 || frame[0] !== BATCH_TAG) return [frame];
  const out: Buffer[] = [];
  for (let at = 1; at + 4 <= frame.length;) {
    const len = frame.readUInt32BE(at);
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
