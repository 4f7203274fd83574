import type { Proc } from "./process";

interface Timer {
  owner: Proc;
  handle: NodeJS.Timeout;
  due: number;
  periodic: boolean;
}

/**
 * Timers owned by processes (erlang:send_after). They live in the process,
 * not in a module instance, so a reload neither cancels nor doubles them;
 * the owner's exit cancels them all.
 */
export class Timers {
  private readonly byRef = new Map<string, Timer>();

  constructor(private readonly makeRef: () => string) {}

  start(owner: Proc, ms: number, fire: () => void, periodic: boolean): string {
    const ref = this.makeRef();
    const run = (): void => {
      if (!periodic) this.drop(ref);
      else {
        const t = this.byRef.get(ref);
        if (t) t.due = Date.now() + ms;
      }
      fire();
    };
    const handle = periodic ? setInterval(run, ms) : setTimeout(run, ms);
    this.byRef.set(ref, { owner, handle, due: Date.now() + ms, periodic });
    (owner.timers ??= new Set()).add(ref);
    return ref;
  }

  /** ms left until it would have fired, or false when there is no such live timer (erlang:cancel_timer). */
  cancel(ref: string): number | false {
    const t = this.byRef.get(ref);
    if (!t) return false;
    clearTimeout(t.handle);
    this.drop(ref);
    return Math.max(0, t.due - Date.now());
  }

  cancelAll(owner: Proc): void {
    for (const ref of [...(owner.timers ?? [])]) this.cancel(ref);
  }

  get size(): number {
    return this.byRef.size;
  }

  private drop(ref: string): void {
    const t = this.byRef.get(ref);
    if (!t) return;
    this.byRef.delete(ref);
    t.owner.timers?.delete(ref);
  }

  close(): void {
    for (const t of this.byRef.values()) clearTimeout(t.handle);
    this.byRef.clear();
  }
}
