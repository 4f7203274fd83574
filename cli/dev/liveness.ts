/**
 * Which members answer: the coordinator pings every member each interval,
 * and any message from a member counts as an answer. A member silent for
 * longer than the limit is unreachable (frozen, partitioned, stuck in a loop)
 * and is left out of reloads; when it answers again it is reachable and must
 * catch up. The launcher only sees processes that exit; this sees the rest.
 */
export interface LivenessOptions {
  ping(node: string): void;
  lost(node: string, silentMs: number): void;
  back(node: string): void;
  intervalMs?: number;
  limitMs?: number;
}

export class Liveness {
  private readonly lastSeen = new Map<string, number>();
  private readonly unreachable = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  constructor(private readonly opts: LivenessOptions) {
    const limit = opts.limitMs ?? 3500;
    this.timer = setInterval(() => {
      const now = Date.now();
      for (const [node, seen] of this.lastSeen) {
        if (!this.unreachable.has(node) && now - seen > limit) {
          this.unreachable.add(node);
          opts.lost(node, now - seen);
        }
        opts.ping(node);
      }
    }, opts.intervalMs ?? 1000);
    this.timer.unref();
  }

  /** A member joined (or rejoined as a new process): it is reachable. */
  add(node: string): void {
    this.lastSeen.set(node, Date.now());
    this.unreachable.delete(node);
  }

  remove(node: string): void {
    this.lastSeen.delete(node);
    this.unreachable.delete(node);
  }

  /** Any message from the member. */
  seen(node: string): void {
    if (!this.lastSeen.has(node)) return;
    this.lastSeen.set(node, Date.now());
    if (this.unreachable.delete(node)) this.opts.back(node);
  }

  /** A member did not answer a reload in time: unreachable now, without waiting for the limit; its next answer brings it back. */
  markLost(node: string): void {
    const seen = this.lastSeen.get(node);
    if (seen === undefined || this.unreachable.has(node)) return;
    this.unreachable.add(node);
    this.opts.lost(node, Date.now() - seen);
  }

  reachable(node: string): boolean {
    return this.lastSeen.has(node) && !this.unreachable.has(node);
  }

  close(): void {
    clearInterval(this.timer);
  }
}
