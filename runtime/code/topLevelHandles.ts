/**
 * Intervals and listeners a module's top level starts (docs/design.md §4.2). A
 * top-level `setInterval(tick, 1000)` or `bus.on("x", f)` runs again with each
 * version, so after a save two of them run (LiveEdit gives the old one the new
 * body, so both do the same work twice), one more with every save. While a top
 * level runs, `setInterval` and `EventEmitter#on` are watched; after a reload,
 * whatever an earlier version's top level started and nothing stopped is named
 * in the report, with the fix (`hot.setInterval`, `hot.on`, `hot.dispose`).
 *
 * Listeners on an emitter the same top level created (a server it makes) are not
 * counted: that emitter is the version's own, not one every version adds to.
 */
import { EventEmitter } from "node:events";
import * as path from "node:path";
import type { StaleCode } from "../../wire/protocol";

interface Handle {
  version: string;
  kind: "setInterval" | "listener";
  /** the event, for a listener */
  event?: string;
  /** `chat/ticker.ts:12`, from the source-mapped stack */
  at?: string;
  alive(): boolean;
}

interface Watch {
  module: string;
  version: string;
  srcDir: string;
  found: Handle[];
  /** emitters this top level created */
  made: WeakSet<object>;
}

/** The top levels running now, innermost last (a top level's import evaluates another inside it). */
const watching: Watch[] = [];
/** Calls the loader's own `hot` helpers make: they are stopped when their version goes. */
let quiet = 0;
/** module -> what its versions' top levels started, while it may still run */
const started = new Map<string, Handle[]>();

const native = {
  setInterval: globalThis.setInterval,
  on: EventEmitter.prototype.on,
  addListener: EventEmitter.prototype.addListener,
  prependListener: EventEmitter.prototype.prependListener,
  init: (EventEmitter as unknown as { init: (...a: unknown[]) => unknown }).init,
};

/** Runs `fn` (a `hot` helper) without its timers and listeners being counted as the top level's. */
export function untracked<T>(fn: () => T): T {
  quiet++;
  try {
    return fn();
  } finally {
    quiet--;
  }
}

/** Where in the module the top level made the call: the first stack frame in the project's sources. */
function callSite(w: Watch): string | undefined {
  const holder: { stack?: string } = {};
  Error.captureStackTrace(holder, callSite);
  for (const line of (holder.stack ?? "").split("\n").slice(1)) {
    const m = /\(?((?:file:\/\/)?\/[^():]+\.[cm]?[jt]sx?):(\d+):\d+\)?$/.exec(line.trim());
    if (!m) continue;
    const file = m[1]!.replace(/^file:\/\//, "");
    if (!file.startsWith(w.srcDir + path.sep)) continue;
    return `${path.relative(w.srcDir, file).split(path.sep).join("/")}:${m[2]}`;
  }
  return undefined;
}

function install(): void {
  globalThis.setInterval = function (this: unknown, ...args: Parameters<typeof setInterval>) {
    const t = native.setInterval.apply(this, args);
    const w = watching[watching.length - 1];
    if (w && quiet === 0) {
      const at = callSite(w);
      w.found.push({ version: w.version, kind: "setInterval", ...(at ? { at } : {}), alive: () => !(t as unknown as { _destroyed?: boolean })._destroyed });
    }
    return t;
  } as typeof setInterval;
  const listen = (original: typeof EventEmitter.prototype.on) =>
    function (this: EventEmitter, event: string | symbol, listener: (...a: unknown[]) => void): EventEmitter {
      const out = original.call(this, event, listener);
      const w = watching[watching.length - 1];
      if (w && quiet === 0 && !w.made.has(this)) {
        const emitter = new WeakRef(this);
        const at = callSite(w);
        w.found.push({
          version: w.version,
          kind: "listener",
          event: String(event),
          ...(at ? { at } : {}),
          alive: () => emitter.deref()?.listeners(event).includes(listener) ?? false,
        });
      }
      return out;
    };
  EventEmitter.prototype.on = listen(native.on);
  EventEmitter.prototype.addListener = listen(native.addListener);
  EventEmitter.prototype.prependListener = listen(native.prependListener);
  (EventEmitter as unknown as { init: (...a: unknown[]) => unknown }).init = function (this: object, ...a: unknown[]) {
    watching[watching.length - 1]?.made.add(this);
    return native.init.apply(this, a);
  };
}

function uninstall(): void {
  globalThis.setInterval = native.setInterval;
  EventEmitter.prototype.on = native.on;
  EventEmitter.prototype.addListener = native.addListener;
  EventEmitter.prototype.prependListener = native.prependListener;
  (EventEmitter as unknown as { init: unknown }).init = native.init;
}

/** Runs the top level of `module`@`version` (`run`), recording the intervals and listeners it starts. */
export function watchTopLevel<T>(module: string, version: string, srcDir: string, run: () => T): T {
  if (watching.length === 0) install();
  const w: Watch = { module, version, srcDir, found: [], made: new WeakSet() };
  watching.push(w);
  try {
    return run();
  } finally {
    watching.pop();
    if (watching.length === 0) uninstall();
    if (w.found.length > 0) started.set(module, [...(started.get(module) ?? []), ...w.found]);
  }
}

/**
 * What the top levels of versions of `module` other than `current` started and
 * still runs, one finding per call site (for every module when `module` is absent).
 */
export function leftRunning(current: ReadonlyMap<string, string>, module?: string): StaleCode[] {
  const out: StaleCode[] = [];
  for (const [name, handles] of started) {
    if (module !== undefined && name !== module) continue;
    const live = handles.filter((h) => h.alive());
    if (live.length === 0) started.delete(name);
    else started.set(name, live);
    const byWhat = new Map<string, StaleCode>();
    for (const h of live) {
      if (h.version === current.get(name)) continue;
      const fn = h.kind === "setInterval" ? "setInterval" : `a listener for "${h.event}"`;
      const key = `${fn}\u0000${h.at ?? ""}`;
      const same = byWhat.get(key);
      if (same) same.count++;
      else byWhat.set(key, { kind: "toplevel", module: name, fn, ...(h.at ? { at: h.at } : {}), count: 1 });
    }
    out.push(...byWhat.values());
  }
  return out;
}
