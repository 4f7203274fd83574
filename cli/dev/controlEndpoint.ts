import type { Router } from "zeromq";
import { ClusterError } from "../../wire/errors";
import type { Logger } from "../../wire/log";
import { decodeCoordinatorInbound, type CoordinatorInbound } from "../../wire/protocol";
import { ZapHandler, type ClusterKeys } from "../../wire/security";
import { LogThrottle } from "../../wire/throttle";
import { Outbox, bindLoopback, secureRouter } from "../../wire/transport";
import { nodeOf } from "./admission";

/** A failing send is logged once per node per this interval, with a count. */
const SEND_FAILURE_LOG_MS = Number(process.env.DEVCLUSTER_SEND_FAILURE_LOG_MS) || 60_000;

/**
 * The coordinator's socket: the ROUTER nodes and clients reach (CurveZMQ and
 * ZAP), the loop that decodes what arrives, and the one send queue. What
 * cannot be decoded, and what cannot be sent (a node gone without a word),
 * is logged once per sender per interval with a count, never once a message.
 */
export class ControlEndpoint {
  private readonly router: Router;
  private readonly out: Outbox;
  private zap?: ZapHandler;
  private closed = false;
  /** the cluster is stopping: sends that fail are expected */
  private muted = false;
  private readonly sendFailures: LogThrottle;
  private readonly drops: LogThrottle;

  constructor(
    private readonly keys: ClusterKeys,
    private readonly log: Logger,
  ) {
    this.sendFailures = new LogThrottle((fields, msg) => log.warn(fields, msg), SEND_FAILURE_LOG_MS);
    this.drops = new LogThrottle((fields, msg) => log.warn(fields, msg), Number(process.env.DEVCLUSTER_DROP_LOG_MS) || 10_000);
    this.router = secureRouter(keys);
    this.out = new Outbox(this.router, (err, frames) => {
      if (this.muted) return;
      const to = nodeOf(frames[0]?.toString() ?? "?");
      this.sendFailures.note(to, { to, reason: (err as Error).message }, `send to ${to} failed: ${(err as Error).message}`);
    });
  }

  /** Binds and starts reading; `handle` gets each decoded message with the routing id it came on. Resolves to the endpoint. */
  async start(host: string, port: number, handle: (route: string, msg: CoordinatorInbound) => void): Promise<string> {
    this.zap = await ZapHandler.start(this.keys, this.log);
    let endpoint: string;
    try {
      endpoint = await bindLoopback(this.router, host, port);
      this.zap.refusals.watch(this.router, endpoint);
    } catch (err) {
      // The message keeps the OS's reason (EADDRINUSE, EACCES); the code says what to change: the port.
      throw new ClusterError(
        "bad_port",
        `the coordinator cannot listen on ${host}:${port} ("coordinator" in cluster.config.json): ${(err as Error).message}. Pick another port, or 0 for any free one.`,
        { cause: err },
      );
    }
    void this.serve(handle);
    return endpoint;
  }

  /** To a routing id (a node's control link, a client). */
  send(route: string, frame: Buffer | string): void {
    this.out.push([route, frame]);
  }

  /** From now on a failing send is not logged: the cluster is stopping and its nodes go away. */
  mute(): void {
    this.muted = true;
  }

  /** A node left: the failures counted for it are said now, and a later one is news again. */
  forget(node: string): void {
    this.sendFailures.forget(node);
  }

  private async serve(handle: (route: string, msg: CoordinatorInbound) => void): Promise<void> {
    try {
      for await (const [id, frame] of this.router) {
        const route = id?.toString() ?? "?";
        const r = decodeCoordinatorInbound(frame);
        if (!r.ok) {
          const who = nodeOf(route);
          this.drops.note(who, { from: who, reason: r.reason }, "dropped frame");
          continue;
        }
        try {
          handle(route, r.msg);
        } catch (err) {
          this.log.error({ err, from: nodeOf(route) }, "message handling failed");
        }
      }
    } catch (err) {
      if (!this.closed) this.log.error({ err }, "control socket failed");
    }
  }

  close(): void {
    this.closed = true;
    this.out.close();
    this.router.close();
    this.drops.close();
    this.sendFailures.close();
    this.zap?.close();
  }
}
