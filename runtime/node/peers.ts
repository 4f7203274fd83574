import type { Dealer, Router } from "zeromq";
import type { Logger } from "../../wire/log";
import { decodePeers, encodePeer, type PeerInfo, type PeerMessage } from "../../wire/protocol";
import { ZapHandler, type ClusterKeys } from "../../wire/security";
import { LogThrottle } from "../../wire/throttle";
import { bindIpcAlias, localRoute } from "../../wire/ipc";
import { Outbox, bindLoopback, secureDealer, secureRouter, unpackFrame } from "../../wire/transport";

interface Peer {
  endpoint: string;
  socket: Dealer;
  outbox: Outbox;
  /** false from a lost connection (heartbeat timeout, reset) until the link is back */
  reachable: boolean;
}

export interface PeerEvents {
  /** `from` is the sending node's name (its DEALER's routing id) */
  message(msg: PeerMessage, from: string): void;
  /** a peer left the membership, or its link was lost */
  down(node: string): void;
  /** a peer joined (or rejoined), or its lost link is back */
  up(node: string): void;
}

/**
 * A node's links to the other nodes: every node receives on its own ROUTER
 * and sends to each peer through a DEALER of its own, so a message's route
 * never depends on who connected first. Membership comes from the
 * coordinator (epmd's role); reachability from ZeroMQ's heartbeats.
 */
export class PeerLinks {
  private readonly router: Router;
  private zap?: ZapHandler;
  private readonly peers = new Map<string, Peer>();
  private closed = false;
  /** one warning per sender per interval, with a count: a flood of bad frames leaves the log readable */
  private readonly drops: LogThrottle;
  /** a failing send, once per peer per minute with a count: a peer gone without a word must not flood the log */
  private readonly sendFailures: LogThrottle;

  constructor(
    private readonly self: string,
    private readonly keys: ClusterKeys,
    private readonly log: Logger,
    private readonly events: PeerEvents,
    /** `.devcluster/ipc`: peers on this host talk over ipc (wire/ipc.ts); undefined for tcp only */
    private readonly ipcDir?: string,
  ) {
    this.router = secureRouter(keys);
    this.drops = new LogThrottle((fields, msg) => this.log.warn(fields, msg), Number(process.env.DEVCLUSTER_DROP_LOG_MS) || 10_000);
    this.sendFailures = new LogThrottle((fields, msg) => this.log.warn(fields, msg));
  }

  /** Binds the ROUTER peers send to; resolves to its endpoint. */
  async bind(host = "127.0.0.1"): Promise<string> {
    // Only the cluster's key gets in: without a ZAP handler libzmq would admit any CURVE client that knows the server key.
    this.zap = await ZapHandler.start(this.keys, this.log);
    const endpoint = await bindLoopback(this.router, host);
    this.zap.refusals.watch(this.router, endpoint);
    await bindIpcAlias(this.router, this.ipcDir, endpoint);
    void this.serve();
    return endpoint;
  }

  names(): string[] {
    return [...this.peers.keys()];
  }

  connected(node: string): boolean {
    return this.peers.get(node)?.reachable === true;
  }

  /** The coordinator's membership: a peer that leaves it is down, one that (re)joins is up. */
  set(peers: PeerInfo[]): void {
    const listed = new Set<string>();
    const up: string[] = [];
    for (const { name, endpoint } of peers) {
      if (name === this.self) continue;
      listed.add(name);
      const known = this.peers.get(name);
      if (known?.endpoint === endpoint) continue;
      // A new endpoint is a new incarnation: the old one's processes are gone.
      if (known) this.drop(name);
      const socket = secureDealer(this.keys, this.self);
      socket.connect(localRoute(this.ipcDir, endpoint));
      const outbox = new Outbox(
        socket,
        (err) => this.sendFailures.note(name, { peer: name, reason: (err as Error).message }, `send to peer ${name} failed: ${(err as Error).message}`),
        true,
      );
      const peer: Peer = { endpoint, socket, outbox, reachable: true };
      this.peers.set(name, peer);
      this.watch(name, peer);
      up.push(name);
    }
    for (const name of [...this.peers.keys()]) if (!listed.has(name)) this.drop(name);
    for (const name of up) this.events.up(name);
  }

  /** false when the peer is unknown or cut off: Erlang drops what is sent to an unreachable node. */
  send(node: string, msg: PeerMessage): boolean {
    const peer = this.peers.get(node);
    if (!peer || !peer.reachable) return false;
    peer.outbox.pushMessage(encodePeer(msg));
    return true;
  }

  /** An encoded message (protocol `encodeChecked`); false as for {@link send}. */
  sendFrame(node: string, frame: string | Buffer): boolean {
    const peer = this.peers.get(node);
    if (!peer || !peer.reachable) return false;
    peer.outbox.pushMessage(frame);
    return true;
  }

  private drop(name: string): void {
    const peer = this.peers.get(name);
    if (!peer) return;
    peer.outbox.close();
    peer.socket.close();
    this.peers.delete(name);
    // A peer already cut off has had its down; it must not get a second one. A closing node tells nobody.
    if (peer.reachable && !this.closed) this.events.down(name);
  }

  /**
   * A peer that is still running but unreachable (frozen, partitioned) is
   * found by ZeroMQ's heartbeats, not by the launcher: its link drops, and
   * it counts as down until the link is back, as Erlang's net ticks decide.
   */
  private watch(name: string, peer: Peer): void {
    peer.socket.events.on("disconnect", () => {
      if (this.peers.get(name) !== peer || !peer.reachable || this.closed) return;
      peer.reachable = false;
      this.log.warn({ peer: name }, "lost the link to a peer");
      this.events.down(name);
    });
    peer.socket.events.on("handshake", () => {
      if (this.peers.get(name) !== peer || peer.reachable || this.closed) return;
      peer.reachable = true;
      this.log.info({ peer: name }, "link to a peer is back");
      this.events.up(name);
    });
  }

  private async serve(): Promise<void> {
    try {
      // A peer batches what queued up while it was sending.
      for await (const [sender, payload] of this.router) {
        const peer = sender?.toString() ?? "?";
        let frames: Buffer[];
        try {
          frames = payload ? unpackFrame(payload) : [];
        } catch (err) {
          this.drops.note(peer, { peer, reason: (err as Error).message }, `dropped peer frame from ${peer}`);
          continue;
        }
        for (const frame of frames) {
          for (const r of decodePeers(frame)) {
            if (!r.ok) {
              this.drops.note(peer, { peer, reason: r.reason }, `dropped peer frame from ${peer}`);
              continue;
            }
            this.events.message(r.msg, peer);
          }
        }
      }
    } catch (err) {
      if (!this.closed) this.log.error({ err }, "peer socket failed");
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const name of [...this.peers.keys()]) this.drop(name);
    this.router.close();
    this.drops.close();
    this.sendFailures.close();
    this.zap?.close();
  }
}
