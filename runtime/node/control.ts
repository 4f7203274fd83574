/**
 * A node's link to the coordinator: one DEALER, its send queue, and the loop
 * that reads it. Frames that do not decode are logged and dropped; a handler
 * that throws is logged and the loop goes on, so one bad message never ends
 * the link (docs/design.md §7).
 */
import type { Dealer } from "zeromq";
import type { Logger } from "../../wire/log";
import { decodeControl, encode, type ControlMessage } from "../../wire/protocol";
import type { ClusterKeys } from "../../wire/security";
import { LogThrottle } from "../../wire/throttle";
import { Outbox, secureDealer } from "../../wire/transport";

export type Welcome = Extract<ControlMessage, { type: "welcome" }>;

export class ControlLink {
  private readonly socket: Dealer;
  private readonly out: Outbox;
  private closed = false;
  private readonly drops = new LogThrottle((fields, msg) => this.log.warn(fields, msg), Number(process.env.DEVCLUSTER_DROP_LOG_MS) || 10_000);

  constructor(
    node: string,
    keys: ClusterKeys,
    private readonly log: Logger,
  ) {
    this.socket = secureDealer(keys, node);
    this.out = new Outbox(this.socket, (err) => this.log.error({ err }, "send to coordinator failed"));
  }

  /**
   * Connects and reads until closed; `handle` sees every message, one after
   * another. `link` hears when the link is lost (the coordinator ended, or
   * ZeroMQ's heartbeats found it cut off) and when it is back: ZeroMQ
   * reconnects on its own, with backoff from 100 ms to 1 s.
   */
  open(endpoint: string, handle: (msg: ControlMessage) => Promise<void>, link?: { lost(): void; back(): void }): void {
    let lost = false;
    this.socket.events.on("disconnect", () => {
      if (lost || this.closed) return;
      lost = true;
      link?.lost();
    });
    this.socket.events.on("handshake", () => {
      if (!lost || this.closed) return;
      lost = false;
      link?.back();
    });
    this.socket.connect(endpoint);
    void this.serve(handle);
  }

  send(msg: ControlMessage): void {
    this.out.push([encode(msg)]);
  }

  /** An answer encoded by its producer (which falls back to a readable rendering when the value cannot travel). */
  sendFrame(frame: Buffer): void {
    this.out.push([frame]);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.out.close();
    this.drops.close();
    this.socket.close();
  }

  private async serve(handle: (msg: ControlMessage) => Promise<void>): Promise<void> {
    try {
      for await (const [frame] of this.socket) {
        const r = decodeControl(frame);
        if (!r.ok) {
          this.drops.note("coordinator", { reason: r.reason }, "dropped control frame");
          continue;
        }
        try {
          await handle(r.msg);
        } catch (err) {
          this.log.error({ err, type: r.msg.type }, "control message failed");
        }
      }
    } catch (err) {
      if (!this.closed) this.log.error({ err }, "control link failed");
    }
  }
}
