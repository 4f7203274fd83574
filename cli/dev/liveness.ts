import type { Logger } from "../../wire/log";
import type { Member } from "./admission";

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
  /** still silent `forgetMs` after it was lost: called once per silence (the coordinator lets a joined node leave then) */
  forget?(node: string, silentMs: number): void;
  intervalMs?: number;
  limitMs?: number;
  forgetMs?: number;
}

export class Liveness {
  private readonly lastSeen = new Map<string, number>();
  private readonly unreachable = new Set<string>();
  /** told to forget during this silence: not again until it answers */
  private readonly forgotten = new Set<string>();
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
        if (opts.forget && opts.forgetMs !== undefined && now - seen > opts.forgetMs && !this.forgotten.has(node)) {
          this.forgotten.add(node);
          opts.forget(node, now - seen);
          if (!this.lastSeen.has(node)) continue;
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
    this.forgotten.delete(node);
  }

  remove(node: string): void {
    this.lastSeen.delete(node);
    this.unreachable.delete(node);
    this.forgotten.delete(node);
  }

  /** How long an unreachable member has been silent; undefined for one that answers. */
  silentFor(node: string): number | undefined {
    const seen = this.lastSeen.get(node);
    return seen !== undefined && this.unreachable.has(node) ? Date.now() - seen : undefined;
  }

  /** Any message from the member. */
  seen(node: string): void {
    if (!this.lastSeen.has(node)) return;
    this.lastSeen.set(node, Date.now());
    this.forgotten.delete(node);
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

/** How long a joined node may be silent before it leaves the cluster (`up`'s own nodes stay: the launcher knows whether they run); DEVCLUSTER_FORGET_MS changes it. */
export const forgetMs = (): number => Number(process.env.DEVCLUSTER_FORGET_MS) || 60_000;

/**
 * The coordinator's watch over its members, and what `up` says: a silent
 * member is left out of reloads and catches up when it answers again; a
 * joined one is down meanwhile and, still silent after FORGET_MS, leaves.
 */
export function memberLiveness(host: {
  log(): Logger;
  members: Map<string, Member>;
  ping(node: string): void;
  catchUp(node: string): void;
  leave(node: string, why: string): void;
}): Liveness {
  const limit = forgetMs();
  return new Liveness({
    ping: (node) => host.ping(node),
    lost: (node, silentMs) =>
      host
        .log()
        .warn(
          { member: node, silentMs },
          host.members.get(node)?.joined
            ? `${node} does not answer: it is down, left out of reloads, and leaves the cluster if still silent in ${Math.round((limit - silentMs) / 1000)} s`
            : `${node} does not answer: it is left out of reloads until it is back, then it catches up`,
        ),
    back: (node) => {
      host.log().info({ member: node }, `${node} answers again: catching up`);
      host.catchUp(node);
    },
    // `up`'s launcher knows whether its own nodes still run; a joined node that vanished is let go after a while.
    forget: (node, silentMs) => {
      if (host.members.get(node)?.joined) host.leave(node, `silent for ${Math.round(silentMs / 1000)} s (it rejoins if it comes back)`);
    },
    forgetMs: limit,
  });
}
