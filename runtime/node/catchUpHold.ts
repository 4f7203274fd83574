/**
 * Catching up after the coordinator link came back: messages from peers whose
 * link was lost meanwhile wait here until the node runs the current code
 * (docs/design.md §6), so none is handled by a version the cluster has left.
 * Peers whose link held (the nodes that kept serving while the coordinator was
 * gone) are not held. Order per sender is kept: once one message of a sender
 * waits, the rest of that sender's wait behind it.
 */
import type { Logger } from "../../wire/log";
import type { PeerMessage } from "../../wire/protocol";

/** How long held messages wait for a catch-up before they are handled with the code this node runs. */
export const HOLD_MS = 10_000;

export class CatchUpHold {
  private syncing = false;
  private readonly held = new Set<string>();
  private readonly lostAt = new Map<string, number>();
  private readonly waiting: { msg: PeerMessage; from: string }[] = [];
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly log: Logger,
    private readonly deliver: (msg: PeerMessage, from: string) => void,
  ) {}

  peerDown(node: string): void {
    this.lostAt.set(node, Date.now());
    if (this.syncing) this.held.add(node);
  }

  peerUp(node: string): void {
    this.lostAt.delete(node);
  }

  /** The coordinator link dropped: peers still down (lost by the same heartbeats) count as lost with it. */
  coordinatorLost(): void {
    this.syncing = true;
    for (const node of this.lostAt.keys()) this.held.add(node);
  }

  /** The coordinator is back: the catch-up is coming; the clock starts now. */
  coordinatorBack(): void {
    this.syncing = true;
    this.holdFor(HOLD_MS);
  }

  /** A message from a peer: handled now, or held until the catch-up when its sender was lost with the coordinator. */
  message(msg: PeerMessage, from: string): void {
    if (this.syncing && this.held.has(from)) {
      // A partition ending while the coordinator is still gone: the clock starts at the first held message.
      if (this.waiting.length === 0 && this.timer === undefined) this.holdFor(HOLD_MS);
      this.waiting.push({ msg, from });
    } else this.deliver(msg, from);
  }

  /** The node runs the cluster's current code: what was held is handled, in order. */
  synced(): void {
    this.syncing = false;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.held.clear();
    for (const { msg, from } of this.waiting.splice(0)) this.deliver(msg, from);
  }

  close(): void {
    clearTimeout(this.timer);
  }

  /** Held messages wait for the catch-up, not for ever: a coordinator that never comes back, or never answers, must not stop this node. */
  private holdFor(ms: number): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      if (!this.syncing) return;
      this.log.warn({ held: this.waiting.length }, "no catch-up from a coordinator: handling held peer messages with the code this node runs");
      this.synced();
    }, ms);
    this.timer.unref();
  }
}
