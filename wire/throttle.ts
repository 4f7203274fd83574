/**
 * A log line that may repeat without end (a stranger retrying a handshake
 * every second, a member sending garbage) must not drown the log: at most
 * one line per key per window. The first comes at once with `count: 1`;
 * when more came within the window, one line at its end says how many.
 */
export type Emit = (fields: Record<string, unknown>, msg: string) => void;

interface Entry {
  count: number;
  fields: Record<string, unknown>;
  msg: string;
  timer: NodeJS.Timeout;
}

export class LogThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly emit: Emit,
    readonly windowMs = 60_000,
  ) {}

  note(key: string, fields: Record<string, unknown>, msg: string): void {
    const e = this.entries.get(key);
    if (e) {
      e.count++;
      e.fields = fields;
      e.msg = msg;
      return;
    }
    this.emit({ ...fields, count: 1 }, msg);
    this.arm(key, fields, msg);
  }

  private arm(key: string, fields: Record<string, unknown>, msg: string): void {
    const timer = setTimeout(() => this.flush(key), this.windowMs);
    timer.unref();
    this.entries.set(key, { count: 0, fields, msg, timer });
  }

  private flush(key: string): void {
    const e = this.entries.get(key);
    this.entries.delete(key);
    if (!e || e.count === 0) return;
    this.emit({ ...e.fields, count: e.count, windowMs: this.windowMs }, `${e.msg} (${e.count} times in the last ${Math.round(this.windowMs / 1000)} s)`);
    // The next line for this key is again a window away.
    this.arm(key, e.fields, e.msg);
  }

  /** The source is gone (a node left): its pending count is said now, and its next line is a first one again. */
  forget(key: string): void {
    const e = this.entries.get(key);
    if (!e) return;
    clearTimeout(e.timer);
    this.entries.delete(key);
    if (e.count > 0) this.emit({ ...e.fields, count: e.count }, `${e.msg} (${e.count} more times)`);
  }

  close(): void {
    for (const e of this.entries.values()) clearTimeout(e.timer);
    this.entries.clear();
  }
}
