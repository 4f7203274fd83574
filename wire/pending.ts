/**
 * Requests waiting for their reply: the bookkeeping every request/reply link
 * needs (a node's calls, the coordinator's node requests, the CLI client, the
 * reload transaction's answers). Each waiter has a deadline and an optional
 * tag (the node that will answer) so a whole node's waiters can be failed at
 * once when it goes down, instead of each waiting out its timeout.
 */
import { ClusterError } from "./errors";

export interface ExpectOptions<Tag> {
  /** ms to wait; undefined or Infinity waits until settled or failed */
  timeoutMs?: number;
  /** what is awaited, for the timeout's message: "call to <n2.4>" */
  what: string;
  /** who will answer: {@link PendingReplies.failWhere} matches on it */
  tag?: Tag;
}

interface Waiter<T, Tag> {
  resolve(value: T): void;
  reject(err: Error): void;
  timer?: NodeJS.Timeout;
  tag?: Tag;
}

/** Requests by key (a ref or request id) waiting for their answers. */
export class PendingReplies<Key, T = unknown, Tag = string> {
  private readonly waiting = new Map<Key, Waiter<T, Tag>>();

  /** The promise of the answer to request `key`; rejects with `timeout` after `timeoutMs`. */
  expect(key: Key, opts: ExpectOptions<Tag>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const w: Waiter<T, Tag> = { resolve, reject };
      if (opts.tag !== undefined) w.tag = opts.tag;
      const ms = opts.timeoutMs;
      if (ms !== undefined && ms !== Infinity) {
        w.timer = setTimeout(() => {
          this.waiting.delete(key);
          reject(new ClusterError("timeout", `${opts.what} timed out after ${ms} ms`));
        }, ms);
      }
      this.waiting.set(key, w);
    });
  }

  has(key: Key): boolean {
    return this.waiting.has(key);
  }

  get size(): number {
    return this.waiting.size;
  }

  /** Resolves request `key`; false when nobody waits for it any more (late or unknown answer). */
  resolve(key: Key, value: T): boolean {
    const w = this.take(key);
    w?.resolve(value);
    return w !== undefined;
  }

  /** Rejects request `key`; false when nobody waits for it any more. */
  reject(key: Key, err: Error): boolean {
    const w = this.take(key);
    w?.reject(err);
    return w !== undefined;
  }

  /** Fails every waiter whose tag matches, e.g. the calls to a node that went down. */
  failWhere(match: (tag: Tag | undefined) => boolean, err: () => Error): void {
    for (const [key, w] of [...this.waiting]) if (match(w.tag)) this.reject(key, err());
  }

  /** Fails every waiter: the link closed, and a caller must hear why instead of hanging. */
  failAll(err: () => Error): void {
    this.failWhere(() => true, err);
  }

  private take(key: Key): Waiter<T, Tag> | undefined {
    const w = this.waiting.get(key);
    if (!w) return undefined;
    this.waiting.delete(key);
    if (w.timer) clearTimeout(w.timer);
    return w;
  }
}
