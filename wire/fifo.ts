/**
 * A FIFO with O(1) take from the front: every process's mailbox, and the queue of frames
 * waiting for a socket (wire/transport.ts). Array.prototype.shift copies the
 * whole array once it is large, which made a burst of 200,000 casts to one
 * process quadratic (11,000 msg/s); this keeps a head index and compacts
 * only when the consumed prefix is most of the array.
 */
export class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** The first item, left in place. */
  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }

  /** Puts an item first (system messages such as codeChange jump the queue). */
  unshift(item: T): void {
    if (this.head > 0) this.items[--this.head] = item;
    else this.items.unshift(item);
  }

  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const item = this.items[this.head]!;
    this.items[this.head++] = undefined as T;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** Index (from the front) of the first item matching, or -1. */
  findIndex(pred: (item: T) => boolean): number {
    for (let i = this.head; i < this.items.length; i++) if (pred(this.items[i]!)) return i - this.head;
    return -1;
  }

  /** Removes and returns the item at `index` from the front. */
  take(index: number): T | undefined {
    if (index === 0) return this.shift();
    return this.items.splice(this.head + index, 1)[0];
  }

  /** Empties the mailbox, returning what it held in order. */
  drain(): T[] {
    const rest = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    return rest;
  }
}
