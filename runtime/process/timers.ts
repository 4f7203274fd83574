import type { Pid } from "../../wire/pid";
import type { Proc } from "./process";

interface Timer {
  owner: Proc;
  handle: NodeJS.Timeout;
  due: number;
  periodic: boolean;
  /** what it sends where, kept so a restart can write the timer down and start it again (snapshot.ts) */
  sends?: TimerSends;
}

/** A sendAfter timer as a snapshot keeps it. */
export interface TimerSends {
  to: Pid;
  msg: unknown;
  ms: number;
}

/** A pending timer of one process: what it sends, and the ms left until it would have fired. */
export interface PendingTimer extends TimerSends {
  left: number;
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

  start(owner: Proc, ms: number, fire: () => void, periodic: boolean, sends?: TimerSends, firstMs = ms): string {
    const ref = this.makeRef();
    const run = (): void => {
      if (!periodic) this.drop(ref);
      else {
        const t = this.byRef.get(ref);
        if (t) t.due = Date.now() + ms;
      }
      fire();
    };
    // A restored periodic timer fires first after the time it had left, then every `ms`.
    const handle = periodic && firstMs === ms ? setInterval(run, ms) : setTimeout(periodic ? () => this.rearm(ref, run, ms) : run, firstMs);
    this.byRef.set(ref, { owner, handle, due: Date.now() + firstMs, periodic, ...(sends ? { sends } : {}) });
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

  private rearm(ref: string, run: () => void, ms: number): void {
    const t = this.byRef.get(ref);
    if (!t) return;
    t.handle = setInterval(run, ms);
    run();
  }

  /** The sendAfter timers `owner` has pending, with the time each has left. */
  pendingOf(owner: Proc): PendingTimer[] {
    const now = Date.now();
    const out: PendingTimer[] = [];
    for (const ref of owner.timers ?? []) {
      const t = this.byRef.get(ref);
      if (t?.sends) out.push({ ...t.sends, left: Math.max(0, t.due - now), periodic: t.periodic });
    }
    return out;
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
