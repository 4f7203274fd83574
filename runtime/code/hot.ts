import type { EventEmitter } from "node:events";
import { untracked } from "./topLevelHandles";

/**
 * What a module instance sees as `import.meta.hot` (and as `hot` from the
 * `devcluster` API): Vite's HMR context, adapted to a server that swaps code
 * under running processes.
 *
 * @example
 *   const clients: Set<Socket> = (import.meta.hot.data.clients ??= new Set());
 *   import.meta.hot.setInterval(() => ping(clients), 1000); // stopped when this version is replaced
 */
export interface HotContext {
  /**
   * One object per module name, shared by all its versions. Keep state IN
   * `data` (`data.clients ??= new Set()`): a module without dispose callbacks
   * has its new top level run at PREPARE, before the outgoing version is
   * replaced. A module that calls `dispose` runs its new top level at COMMIT,
   * after the outgoing version's dispose (docs/design.md §6).
   */
  readonly data: Record<string, unknown>;
  /** Module name: `chat/room`. */
  readonly module: string;
  /** Version (bundle hash) of this instance. */
  readonly version: string;
  /**
   * Runs `cb(data)` when this instance is replaced by a newer version, before
   * the newer version's top level runs: close a server here and the new
   * version can listen on the same port.
   */
  dispose(cb: (data: Record<string, unknown>) => void): void;
  /** `setTimeout`, cleared when this instance is disposed. */
  setTimeout<A extends unknown[]>(fn: (...args: A) => void, ms?: number, ...args: A): NodeJS.Timeout;
  /** `setInterval`, cleared when this instance is disposed. */
  setInterval<A extends unknown[]>(fn: (...args: A) => void, ms?: number, ...args: A): NodeJS.Timeout;
  clearTimeout(timer: NodeJS.Timeout | undefined): void;
  clearInterval(timer: NodeJS.Timeout | undefined): void;
  /** `emitter.on(event, listener)`, removed when this instance is disposed. */
  on(emitter: EventEmitter, event: string | symbol, listener: (...args: any[]) => void): void;
}

type Listener = { emitter: EventEmitter; event: string | symbol; listener: (...args: any[]) => void };

/**
 * The hot context of one module instance, plus the teardown the loader needs.
 * Owns every timer and listener registered through it.
 */
export class HotInstance implements HotContext {
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly listeners: Listener[] = [];
  private disposers: ((data: Record<string, unknown>) => void)[] = [];
  private closed = false;

  constructor(
    readonly module: string,
    readonly version: string,
    readonly data: Record<string, unknown>,
  ) {}

  /** Live timers and listeners this instance still owns (tests and leak checks read it). */
  get pending(): number {
    return this.timers.size + this.listeners.length;
  }

  /** True once {@link close} or {@link disposeInstance} ran; the context then starts nothing new. */
  get disposed(): boolean {
    return this.closed;
  }

  /** True when this instance registered `dispose` callbacks or still owns timers or listeners: replacing it tears something down. */
  get holdsResources(): boolean {
    return this.disposers.length > 0 || this.pending > 0;
  }

  dispose(cb: (data: Record<string, unknown>) => void): void {
    if (typeof cb !== "function") throw new TypeError(`hot.dispose expects a function, got ${typeof cb}`);
    if (!this.closed) this.disposers.push(cb);
  }

  setTimeout<A extends unknown[]>(fn: (...args: A) => void, ms?: number, ...args: A): NodeJS.Timeout {
    if (this.closed) return inert();
    const t: NodeJS.Timeout = setTimeout(() => {
      this.timers.delete(t);
      fn(...args);
    }, ms);
    this.timers.add(t);
    return t;
  }

  setInterval<A extends unknown[]>(fn: (...args: A) => void, ms?: number, ...args: A): NodeJS.Timeout {
    if (this.closed) return inert();
    const t = untracked(() => setInterval(fn, ms, ...args));
    this.timers.add(t);
    return t;
  }

  clearTimeout(timer: NodeJS.Timeout | undefined): void {
    if (timer === undefined) return;
    this.timers.delete(timer);
    clearTimeout(timer);
  }

  clearInterval(timer: NodeJS.Timeout | undefined): void {
    this.clearTimeout(timer);
  }

  on(emitter: EventEmitter, event: string | symbol, listener: (...args: any[]) => void): void {
    // An old version's late async continuation must not attach a second copy of a listener.
    if (this.closed) return;
    untracked(() => emitter.on(event, listener));
    this.listeners.push({ emitter, event, listener });
  }

  /**
   * The instance is being replaced: runs the dispose callbacks with `data`, then
   * clears timers and listeners. Returns the callbacks' errors instead of
   * throwing, because COMMIT has already been agreed cluster-wide and must finish.
   */
  disposeInstance(): unknown[] {
    if (this.closed) return [];
    const errors: unknown[] = [];
    for (const cb of this.disposers) {
      try {
        cb(this.data);
      } catch (err) {
        errors.push(err);
      }
    }
    this.close();
    return errors;
  }

  /**
   * Clears timers and listeners WITHOUT running dispose callbacks. Used when a
   * prepared instance is thrown away: `data` is shared with the version still
   * current, so a disposer written to hand state over could tear that state down.
   * Idempotent.
   */
  close(): void {
    this.closed = true;
    this.disposers = [];
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const { emitter, event, listener } of this.listeners) emitter.off(event, listener);
    this.listeners.length = 0;
  }
}

/** A timer that never fires, so callers of a disposed context still get a valid handle. */
function inert(): NodeJS.Timeout {
  const t = setTimeout(() => undefined, 0);
  clearTimeout(t);
  return t;
}
