import { EventEmitter } from "node:events";
import * as fs from "node:fs";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { watch, type FSWatcher } from "chokidar";
import { ClusterError } from "../../wire/errors";
import { isModuleFile } from "./moduleFiles";

/** The module files one burst of file-system events touched, in their final state. */
export interface ChangeBatch {
  /** Absolute paths of module files that exist after the burst (added or modified). */
  changed: string[];
  /** Absolute paths of module files that no longer exist after the burst. */
  removed: string[];
  /**
   * Absolute paths of other files esbuild bundles into the modules that import
   * them (`.json`, `.txt`, `.js`, and any file outside the source folder, such
   * as `../shared/fmt.ts`), changed, added or removed: their importers must be
   * rebuilt.
   */
  assets: string[];
  /** `performance.now()` when the first event of the burst arrived; the start of save-to-live. */
  firstEventAt: number;
}

export interface WatcherEvents {
  batch: [batch: ChangeBatch];
  error: [err: Error];
}

/**
 * Quiet time that ends a burst; 0 (the default) starts on the first event:
 * the batch is flushed once the events chokidar delivers in the same turn of
 * the event loop are in (setImmediate), with no timer. Every millisecond here
 * was on the save-to-live path (2 ms of window cost 2-3 ms of timer slop on a
 * loaded machine). The rest of a burst (a `git checkout` writing ten files)
 * comes in while that batch's transaction runs, and the dev server makes
 * everything that arrived meanwhile the next batch; a split burst never leaves
 * a node on a broken mix, since the pending-saves check holds any set that is
 * not consistent until the rest of it is in (docs/design.md §3).
 */
export const DEFAULT_QUIET_MS = 0;

/** A batch is sent at the latest this long after its first event, however busy the burst. */
const MAX_BATCH_DELAY_MS = 50;

/**
 * chokidar drops a second "change" of a path within 50 ms of the first and
 * never emits it later, so a save right after a save would be lost and the
 * cluster would run stale code. After each event we look at the file once
 * more when that window has passed and treat a new mtime or size as an event.
 */
const CHOKIDAR_THROTTLE_MS = 50;
const RECHECK_AFTER_MS = CHOKIDAR_THROTTLE_MS + 10;

/**
 * Watches the source folder's module files (`.ts`, `.tsx`, `.js`, `.mjs`, `.cjs`, not `.d.ts`, not in
 * node_modules) and the files esbuild bundles into them (`.json` and the
 * other files its loaders handle), and emits one `"batch"` per burst of changes. With
 * the default `quietMs` of 0 a batch leaves on its first event (what chokidar
 * delivers in the same turn joins it); with a `quietMs` it is flushed after
 * that long without a new event, and never later than 50 ms after its first
 * event, so a steady stream of writes cannot hold a reload back.
 *
 * Editors that save by writing a temporary file and renaming it over the
 * original produce one change of the original (chokidar's `atomic`).
 *
 * Files outside the source folder that modules bundle (`../shared/fmt.ts`)
 * are watched one by one, as {@link watchFiles} names them, and come in `assets`.
 *
 * `"error"` is emitted only when someone listens for it; otherwise chokidar's
 * errors (a folder that vanished, a permission) are dropped and watching goes on.
 *
 * @example
 *   const w = new Watcher({ srcDir });
 *   w.on("batch", (b) => reload(b.changed, b.removed));
 *   await w.start();
 *   // ...
 *   await w.close();
 */
export class Watcher extends EventEmitter<WatcherEvents> {
  readonly srcDir: string;
  readonly quietMs: number;
  private fsw: FSWatcher | undefined;
  private started: Promise<void> | undefined;
  private closed: Promise<void> | undefined;
  private pending = new Set<string>();
  private firstEventAt = 0;
  private quietTimer: NodeJS.Timeout | undefined;
  private immediate: NodeJS.Immediate | undefined;
  private ready: (() => void) | undefined;
  private maxTimer: NodeJS.Timeout | undefined;
  /** what each recently changed file looked like when we handed it out */
  private readonly seen = new Map<string, string>();
  private readonly rechecks = new Map<string, NodeJS.Timeout>();
  /** files outside the source folder that modules bundle, watched one by one (see watchFiles) */
  private outside = new Set<string>();

  constructor(opts: { srcDir: string; quietMs?: number }) {
    super();
    this.srcDir = path.resolve(opts.srcDir);
    this.quietMs = opts.quietMs ?? DEFAULT_QUIET_MS;
  }

  /** Starts watching; resolves once the initial scan is done, so a later write is seen. Calling it again returns the same promise. */
  start(): Promise<void> {
    if (this.closed) return Promise.reject(new ClusterError("badarg", "this watcher is closed; create a new one"));
    this.started ??= new Promise<void>((resolve) => {
      this.ready = resolve;
      const fsw = watch(this.srcDir, {
        ignoreInitial: true,
        atomic: true,
        // Directories must get through (stats undefined or a directory) so their files are watched.
        ignored: (p, stats) => !this.outside.has(path.resolve(p)) && (path.basename(p) === "node_modules" || (stats?.isFile() === true && !isWatchedFile(p))),
      });
      this.fsw = fsw;
      if (this.outside.size) fsw.add([...this.outside]);
      fsw.on("add", (p) => this.onEvent(p));
      fsw.on("change", (p) => this.onEvent(p));
      fsw.on("unlink", (p) => {
        this.onEvent(p);
        this.rearm(p);
      });
      fsw.on("error", (err) => {
        if (this.listenerCount("error") > 0) this.emit("error", err instanceof Error ? err : new Error(String(err)));
      });
      fsw.once("ready", () => resolve());
    });
    return this.started;
  }

  /**
   * Watches exactly these files outside the source folder (absolute paths),
   * and stops watching the ones of the previous call that are not among them.
   * A module bundles what it imports from outside the source folder
   * (`../shared/fmt.ts`), so saving such a file must rebuild it; watching the
   * parent folder instead would take in whatever else lives there (a sibling
   * package, its node_modules), one file at a time takes in only what runs.
   */
  watchFiles(files: Iterable<string>): void {
    if (this.closed) return;
    const next = new Set([...files].map((f) => path.resolve(f)).filter((f) => !isInside(this.srcDir, f)));
    const gone = [...this.outside].filter((f) => !next.has(f));
    const added = [...next].filter((f) => !this.outside.has(f));
    this.outside = next;
    if (!this.fsw) return; // start() adds them
    if (gone.length) this.fsw.unwatch(gone);
    for (const f of gone) {
      clearTimeout(this.rechecks.get(f));
      this.rechecks.delete(f);
      this.seen.delete(f);
    }
    if (added.length) this.fsw.add(added);
    // chokidar arms a watch added now some time later: a save meanwhile is found by looking once more, as after an event.
    for (const f of added) {
      this.seen.set(f, fingerprint(f));
      this.scheduleRecheck(f);
    }
  }

  /** The files outside the source folder being watched, sorted. */
  watchedOutside(): string[] {
    return [...this.outside].sort();
  }

  /** Stops watching and drops a batch still gathering. A no-op on a closed watcher. */
  close(): Promise<void> {
    this.closed ??= (async () => {
      this.clearTimers();
      for (const t of this.rechecks.values()) clearTimeout(t);
      this.rechecks.clear();
      this.pending.clear();
      this.ready?.(); // a start() still waiting for chokidar's scan must not hang

      const fsw = this.fsw;
      this.fsw = undefined;
      if (fsw) await fsw.close();
    })();
    return this.closed;
  }

  private onEvent(p: string): void {
    const file = path.resolve(this.srcDir, p);
    if (this.closed || !(isWatchedFile(file) || this.outside.has(file))) return;
    this.scheduleRecheck(file);
    this.enqueue(file);
  }

  /**
   * chokidar drops the watch of a single file once it is deleted, so a bundled
   * file outside src that is made again (a `git checkout`, an editor that
   * deletes before it writes) would never be seen again; watched anew while it
   * is missing, chokidar waits for it in its folder.
   */
  private rearm(p: string): void {
    const file = path.resolve(this.srcDir, p);
    if (this.closed || !this.fsw || !this.outside.has(file) || fs.existsSync(file)) return;
    this.fsw.unwatch(file);
    this.fsw.add(file);
  }

  private scheduleRecheck(file: string): void {
    const prev = this.rechecks.get(file);
    if (prev) clearTimeout(prev);
    this.rechecks.set(
      file,
      setTimeout(() => {
        this.rechecks.delete(file);
        if (this.closed || this.pending.has(file)) return;
        if (this.seen.has(file) && this.seen.get(file) !== fingerprint(file)) {
          this.scheduleRecheck(file);
          this.enqueue(file);
        }
        this.seen.delete(file);
      }, RECHECK_AFTER_MS),
    );
  }

  private enqueue(file: string): void {
    if (this.pending.size === 0) {
      this.firstEventAt = performance.now();
      this.maxTimer = setTimeout(() => this.flush(), MAX_BATCH_DELAY_MS);
    }
    this.pending.add(file);
    if (this.quietMs <= 0) {
      this.immediate ??= setImmediate(() => this.flush());
      return;
    }
    if (this.quietTimer) clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => this.flush(), this.quietMs);
  }

  private flush(): void {
    this.clearTimers();
    if (this.pending.size === 0 || this.closed) return;
    const changed: string[] = [];
    const removed: string[] = [];
    const assets: string[] = [];
    // The disk is the final state: a file written then deleted in one burst is
    // removed, one deleted then recreated is changed, whatever order chokidar
    // reported the events in (its atomic mode delays unlinks).
    for (const file of [...this.pending].sort()) {
      // A .ts file outside the source folder is no module of its own: it is bundled into its importers.
      if (!isModuleFile(file) || !isInside(this.srcDir, file)) assets.push(file);
      else (fs.existsSync(file) ? changed : removed).push(file);
      if (this.rechecks.has(file)) this.seen.set(file, fingerprint(file));
    }
    this.pending.clear();
    this.emit("batch", { changed, removed, assets, firstEventAt: this.firstEventAt });
  }

  private clearTimers(): void {
    if (this.quietTimer) clearTimeout(this.quietTimer);
    if (this.maxTimer) clearTimeout(this.maxTimer);
    if (this.immediate) clearImmediate(this.immediate);
    this.quietTimer = this.maxTimer = this.immediate = undefined;
  }
}

/** mtime and size: what changes when a file is saved; "absent" for a deleted one. */
function fingerprint(file: string): string {
  try {
    const st = fs.statSync(file, { bigint: true });
    return `${st.mtimeNs}:${st.size}:${st.ino}`;
  } catch {
    return "absent";
  }
}

/** Files esbuild's default loaders bundle when a module imports them. */
const ASSET_FILE = /\.(json|txt|js|mjs|cjs|jsx)$/;

function isWatchedFile(file: string): boolean {
  return isModuleFile(file) || ASSET_FILE.test(file);
}

/** Two batches as one, later state winning: a file changed then removed is removed, and the reverse is changed. */
export function mergeBatches(a: ChangeBatch, b: ChangeBatch): ChangeBatch {
  const changed = new Set(a.changed);
  const removed = new Set(a.removed);
  for (const f of b.changed) (changed.add(f), removed.delete(f));
  for (const f of b.removed) (removed.add(f), changed.delete(f));
  return { changed: [...changed].sort(), removed: [...removed].sort(), assets: [...new Set([...a.assets, ...b.assets])].sort(), firstEventAt: a.firstEventAt };
}

function isInside(dir: string, file: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
}
