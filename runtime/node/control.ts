/**
 * A node's link to the coordinator: one DEALER, its send queue, and the loop
 * that reads it. Frames that do not decode are logged and dropped; a handler
 * that throws is logged and the loop goes on, so one bad message never ends
 * the link (docs/design.md §7).
 */
import { randomBytes } from "node:crypto";
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
  /** up between the handshake and a lost link: what the link is, for a log line shipped or held (logShip.ts) */
  connected = false;
  /** what the link last ran into while it had no coordinator: why no welcome comes (see {@link why}) */
  private problem = "";
  private readonly drops = new LogThrottle((fields, msg) => this.log.warn(fields, msg), Number(process.env.DEVCLUSTER_DROP_LOG_MS) || 10_000);

  constructor(
    node: string,
    keys: ClusterKeys,
    private readonly log: Logger,
  ) {
    // Its own routing id per process (`n4@<pid><random>`): a second node started under a name in use then reaches the
    // coordinator and hears why it is refused, where ZeroMQ would ignore a second connection with the same id (it waited for ever).
    this.socket = secureDealer(keys, `${node}@${process.pid.toString(36)}${randomBytes(3).toString("hex")}`);
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
    // A coordinator that does not take these keys closes the connection during the handshake, which the client
    // sees as a handshake error, or only as a connection made and then retried: either tells it from a port
    // nothing listens on. The keys diagnosis stands once made: a later retry does not turn it into "nothing answers".
    const keysRefused =
      "another cluster's coordinator (these are not its keys: export them again there with devcluster keys export), or not a devcluster coordinator";
    let accepted = false;
    let refused = false;
    this.socket.events.on("connect", () => {
      accepted = true;
      if (!refused) this.problem = "something accepts connections there, but no secure handshake has completed: is this a devcluster coordinator's port?";
    });
    this.socket.events.on("connect:retry", () => {
      if (refused) return;
      this.problem = accepted
        ? `something accepts connections there but drops them before the secure handshake completes: ${keysRefused}`
        : "nothing answers there (connection refused, or no route): is `devcluster up` running on that machine, and is this its coordinator's port?";
    });
    for (const failed of ["handshake:error:auth", "handshake:error:protocol", "handshake:error:other"] as const) {
      this.socket.events.on(failed, (e) => {
        refused = true;
        this.problem = `something listens there, but the secure handshake failed (${e.error.message}): ${keysRefused}`;
      });
    }
    this.socket.events.on("disconnect", () => {
      this.connected = false;
    });
    this.socket.events.on("handshake", () => {
      this.connected = true;
      this.problem = "connected, but the coordinator has not answered yet";
      if (!lost || this.closed) return;
      lost = false;
      link?.back();
    });
    this.socket.connect(endpoint);
    void this.serve(handle);
  }

  /** Why the coordinator has not answered, in words, as far as the socket tells. */
  why(): string {
    return this.problem || "no connection yet";
  }

  /**
   * A last message before {@link close} (a joined node's goodbye): waits,
   * at most `timeoutMs`, until it is in ZeroMQ's hands, and lets ZeroMQ's
   * linger carry it out after close; false when there is no link to carry
   * it (which is why a vanished node is still let go after a while).
   */
  async last(msg: ControlMessage, timeoutMs = 1000): Promise<boolean> {
    if (this.closed || !this.connected) return false;
    this.socket.linger = timeoutMs;
    this.send(msg);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.out.idle(), new Promise<void>((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
    return true;
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
