import * as path from "node:path";
import type { Logger } from "../../wire/log";
import { HotInstance, type HotContext } from "./hot";
import { ModuleEntry, rawExports, type Instance } from "./moduleTable";
import type { Bundle } from "../../wire/protocol";
import { PROJECT_MODULE_PREFIX, type BundleShape } from "./bundleShape";
import { shapeOf } from "./shippedShape";
import { ClusterError } from "../../wire/errors";
import { checkShape, checkStaticShape, loadError, missingImport, notPurged } from "./refusals";
import { compile, type Compiled, type EvaluateHost, type Source } from "./evaluate";
import { checkRemovedExports } from "./removedExports";

export { PROJECT_MODULE_PREFIX };

export type { Bundle };

/**
 * The codes a load fails with, each a {@link ClusterError} naming the module:
 * - `eval_failed`: its top level threw.
 * - `timeout`: its top level ran past `evalTimeoutMs`.
 * - `bad_shape`: its exports are not what the table needs (not an object, or a behaviour lost `init`).
 * - `not_purged`: processes still run the oldest version, so a third cannot be loaded (`pids` says which).
 * - `missing_import`: it imports a project module that is neither loaded nor in the same reload.
 */
export type { LoadErrorCode } from "./refusals";

/** Options of {@link ModuleTable}. */
export interface ModuleTableOptions {
  /** Absolute path of the project's source folder: modules evaluate as `<srcDir>/<name>.js` and resolve npm packages from there. */
  srcDir: string;
  /** What `require("devcluster")` returns inside `moduleName`. */
  runtimeFor(moduleName: string, hot: HotContext): unknown;
  /** Pids (as text) still running the OLD version of `moduleName`; consulted by the `not_purged` check. */
  oldVersionUsers?(moduleName: string): string[];
  log: Logger;
  /** Time limit for one module's top level, in ms. Default 2000. */
  evalTimeoutMs?: number;
}

/** One module version swapped by a commit. */
export interface Change {
  name: string;
  /** Version replaced; absent for a module loaded for the first time. */
  from?: string;
  to: string;
}

/** One module of a prepared load: evaluated at PREPARE (`instance`), or only compiled, to be evaluated at COMMIT (`deferred`). */
interface PreparedModule {
  readonly bundle: Bundle;
  instance?: Instance;
  deferred?: Compiled;
}

/** Modules prepared by {@link ModuleTable.prepare}, waiting for commit or abort. */
export class PreparedLoad {
  /** @internal */ state: "prepared" | "committed" | "aborted" = "prepared";

  /** @internal */
  constructor(
    /** @internal In commit order. */ readonly items: readonly PreparedModule[],
    /** @internal Module names this batch added to the table's entries. */ readonly created: readonly string[],
  ) {}

  /** The modules in commit order. */
  get modules(): { name: string; version: string }[] {
    return this.items.map((i) => ({ name: i.bundle.name, version: i.bundle.version }));
  }

  /** Modules whose top level runs at COMMIT, after the outgoing version's dispose (docs/design.md §6). */
  get deferred(): string[] {
    return this.items.filter((i) => i.deferred).map((i) => i.bundle.name);
  }
}

/**
 * The module table of one node, and its loader: PREPARE checks new versions and
 * evaluates them aside, COMMIT swaps them in, ABORT throws them away (docs/design.md
 * §6). Importers get a facade per module whose functions and classes stay the
 * same objects across versions (docs/design.md §4.1, §4.2). One reload at a time:
 * the caller serializes them.
 *
 * A module that holds resources across versions (it calls `hot.dispose`, or its
 * current instance registered a dispose callback or hot timer) is not run at
 * PREPARE: two versions of a server cannot both listen on its port. Its top
 * level, and that of every module after it in the batch, runs at COMMIT, after
 * the outgoing instance's dispose; if it throws there, the commit is undone and
 * the outgoing versions run again (§6).
 *
 * @example
 *   const p = table.prepare(bundles); // throws ClusterError
 *   table.commit(p);                  // or table.abort(p); throws ClusterError after undoing itself
 */
export class ModuleTable {
  private readonly entries = new Map<string, ModuleEntry>();
  /** facade -> its entry, for the live `import * as` and `export * from` helpers. */
  private readonly byFacade = new WeakMap<object, ModuleEntry>();
  private readonly sources = new WeakMap<Instance, Source>();
  private readonly listeners: ((changed: Change[]) => void)[] = [];
  private readonly srcDir: string;
  private readonly timeout: number;
  /** the shapes of the bundles of the PREPARE under way, by module, for needsTimeLimit */
  private batchShapes = new Map<string, BundleShape>();
  /** what compile() reaches of this table */
  private readonly host: EvaluateHost;

  constructor(private readonly opts: ModuleTableOptions) {
    this.srcDir = path.resolve(opts.srcDir);
    this.timeout = opts.evalTimeoutMs ?? 2000;
    this.host = {
      srcDir: this.srcDir,
      timeout: this.timeout,
      log: opts.log,
      entries: this.entries,
      byFacade: this.byFacade,
      runtimeFor: (moduleName, hot) => this.opts.runtimeFor(moduleName, hot),
      entry: (name) => this.entry(name),
      shapeOf: (n) => {
        const current = this.entries.get(n)?.current;
        return this.batchShapes.get(n) ?? (current && this.sources.get(current)?.shape);
      },
      evaluated: (instance, source) => this.sources.set(instance, source),
    };
    // Without this, Module#_compile ignores the bundles' inline source maps and stacks point at bundle lines.
    process.setSourceMapsEnabled(true);
  }

  /**
   * PREPARE: checks `bundles` against the table, then evaluates them aside, in
   * order (importees first), and checks each one's shape. Modules that hold
   * resources across versions, and every module after the first of them, are
   * only compiled and checked from their text; they run at COMMIT. Nothing
   * visible changes. On the first failure, clears what it evaluated and throws
   * {@link ClusterError}.
   * @param opts.force load even if processes still run the version that would be dropped (`not_purged`)
   */
  prepare(bundles: Bundle[], opts: { force?: boolean } = {}): PreparedLoad {
    const batch = new Set<string>();
    for (const b of bundles) {
      if (batch.has(b.name)) throw new TypeError(`prepare: ${b.name} appears twice in one reload`);
      batch.add(b.name);
    }
    // Like code.erl's prepare_loading: whatever the input alone shows is refused before anything runs.
    for (const b of bundles) {
      for (const imp of b.imports) {
        if (!batch.has(imp) && !this.has(imp)) throw missingImport(b.name, imp);
      }
      if (!opts.force && this.has(b.name)) {
        const pids = this.opts.oldVersionUsers?.(b.name) ?? [];
        if (pids.length > 0) throw notPurged(b.name, pids);
      }
    }
    const shapes = new Map(bundles.map((b) => [b.name, shapeOf(b)] as const));
    checkRemovedExports(shapes, this.entries, (i) => this.sources.get(i)?.shape);

    const created: string[] = [];
    for (const name of batch) {
      if (!this.entries.has(name)) {
        this.newEntry(name);
        created.push(name);
      }
    }
    const items: PreparedModule[] = [];
    let evaluating: HotInstance | undefined;
    let defer = false;
    this.batchShapes = shapes;
    try {
      for (const b of bundles) {
        const entry = this.entries.get(b.name)!;
        const shape = shapes.get(b.name)!;
        evaluating = new HotInstance(b.name, b.version, entry.data);
        const compiled = compile(this.host, b, shape, evaluating, batch);
        defer ||= holdsResources(shape, entry);
        if (defer) {
          checkStaticShape(entry, b.name, shape);
          items.push({ bundle: b, deferred: compiled });
        } else {
          compiled.run();
          checkShape(entry, compiled.instance);
          items.push({ bundle: b, instance: compiled.instance });
          entry.stage(compiled.instance);
        }
        evaluating = undefined;
      }
    } catch (err) {
      this.batchShapes = new Map();
      evaluating?.close();
      for (const i of items) i.instance?.hot.close();
      for (const name of batch) this.entries.get(name)!.unstage();
      for (const name of created) this.entries.delete(name);
      throw err;
    }
    this.batchShapes = new Map();
    for (const name of batch) this.entries.get(name)!.unstage();
    return new PreparedLoad(items, created);
  }

  /**
   * COMMIT: for each prepared module in order, disposes the outgoing instance
   * (its `hot.dispose` callbacks run, its hot timers and listeners are cleared),
   * evaluates the new one if PREPARE deferred it, then makes it current and
   * patches its classes. Dispose callback errors are logged. If a deferred
   * module throws (or fails its shape check), the commit is undone: the failed
   * instance is disposed, every module of the batch points at its previous
   * version again, re-evaluated where disposing it tore something down (its
   * server, its timers), and the error is thrown. Returns what changed.
   */
  commit(p: PreparedLoad): Change[] {
    if (p.state !== "prepared") throw new Error(`cannot commit a load that was already ${p.state}`);
    p.state = "committed";
    const changed: Change[] = [];
    const undo: { entry: ModuleEntry; current?: Instance; old?: Instance; rerun: boolean }[] = [];
    let index = 0;
    try {
      for (; index < p.items.length; index++) {
        const item = p.items[index]!;
        const entry = this.entry(item.bundle.name);
        const outgoing = entry.current;
        undo.push({ entry, current: outgoing, old: entry.old, rerun: outgoing?.hot.holdsResources ?? false });
        if (outgoing) {
          for (const err of outgoing.hot.disposeInstance()) {
            this.opts.log.error({ err, module: outgoing.name, version: outgoing.version }, "hot.dispose callback failed");
          }
        }
        let instance = item.instance;
        if (!instance) {
          const compiled = item.deferred!;
          try {
            compiled.run();
            checkShape(entry, compiled.instance);
          } catch (err) {
            // It ran, so it may hold what its predecessor held (a port): its own dispose callbacks release it before the old version runs again.
            for (const e of compiled.instance.hot.disposeInstance()) this.opts.log.error({ err: e, module: item.bundle.name }, "hot.dispose callback failed");
            throw err;
          }
          instance = compiled.instance;
        }
        entry.install(instance);
        for (const p of entry.problems.splice(0)) {
          this.opts.log.error({ err: p.err, class: p.label, failed: p.failed, instances: p.total }, "instances not migrated to the new version");
        }
        changed.push(outgoing ? { name: instance.name, from: outgoing.version, to: instance.version } : { name: instance.name, to: instance.version });
      }
    } catch (err) {
      for (const item of p.items.slice(index + 1)) item.instance?.hot.close();
      this.undo(undo, p.created);
      throw err;
    }
    this.opts.log.debug({ changed }, "modules committed");
    for (const cb of this.listeners) {
      try {
        cb(changed);
      } catch (err) {
        this.opts.log.error({ err }, "commit listener failed");
      }
    }
    return changed;
  }

  /**
   * Puts back what a failed commit changed: first every entry points at its
   * previous instance (importees' facades are right before anything runs), then,
   * importees first, each previous instance whose dispose tore something down is
   * evaluated again from its bundle, so its server listens and its timers run.
   */
  private undo(undo: { entry: ModuleEntry; current?: Instance; old?: Instance; rerun: boolean }[], created: readonly string[]): void {
    for (const u of [...undo].reverse()) {
      // Instances of the batch that were installed are dropped: their own resources go with them.
      const installed = u.entry.current;
      if (installed && installed !== u.current) installed.hot.disposeInstance();
      u.entry.revert(u.current, u.old);
    }
    for (const u of undo) {
      const source = u.current && u.rerun ? this.sources.get(u.current) : undefined;
      if (!u.current || !source) continue;
      const hot = new HotInstance(source.bundle.name, source.bundle.version, u.entry.data);
      try {
        const again = compile(this.host, source.bundle, source.shape, hot, new Set());
        again.run();
        u.entry.revert(again.instance, u.old);
      } catch (err) {
        hot.close();
        this.opts.log.error(
          { err, module: source.bundle.name, version: source.bundle.version },
          "the previous version failed to evaluate again after a failed commit",
        );
      }
    }
    for (const name of created) {
      if (this.entries.get(name)?.current === undefined) this.entries.delete(name);
    }
  }

  /** ABORT: clears the prepared instances' hot timers and listeners; the table is unchanged. Idempotent. */
  abort(p: PreparedLoad): void {
    if (p.state !== "prepared") return;
    p.state = "aborted";
    for (const i of p.items) i.instance?.hot.close();
    for (const name of p.created) {
      if (this.entries.get(name)?.current === undefined) this.entries.delete(name);
    }
  }

  /** True when `name` has a current version. */
  has(name: string): boolean {
    return this.entries.get(name)?.current !== undefined;
  }

  /** Current raw exports of `name`, for per-message dispatch. */
  current(name: string): { version: string; exports: Record<string, unknown> } | undefined {
    return view(this.entries.get(name)?.current);
  }

  /** The old version of `name`, if one is kept. */
  old(name: string): { version: string; exports: Record<string, unknown> } | undefined {
    return view(this.entries.get(name)?.old);
  }

  /** The live view importers get. Throws ClusterError `missing_import` when `name` is not loaded. */
  facade(name: string): Record<string, unknown> {
    const entry = this.entries.get(name);
    if (entry?.current === undefined) {
      throw loadError("missing_import", name, `${name} is not loaded on this node. Load it first (a reload sends importees before importers).`);
    }
    return entry.facade;
  }

  /** Module name -> current version. */
  versions(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, e] of this.entries) if (e.current) out[name] = e.current.version;
    return out;
  }

  /** The text the current version of `name` was compiled from, its script name (`<srcDir>/<name>.js?v=<version>`), and the old version's text. */
  compiled(name: string): { filename: string; text: string; previous?: string } | undefined {
    const entry = this.entries.get(name);
    const script = entry?.current && this.sources.get(entry.current)?.script;
    const previous = entry?.old && this.sources.get(entry.old)?.script.text;
    return script && (previous !== undefined ? { ...script, previous } : script);
  }

  /** `commit` fires after every commit with what changed (the process layer runs codeChange from it). */
  on(event: "commit", cb: (changed: Change[]) => void): void {
    if (event !== "commit") throw new TypeError(`ModuleTable has no event "${String(event)}"; the only one is "commit"`);
    this.listeners.push(cb);
  }

  /**
   * Clears the hot timers and listeners of every loaded instance (node
   * shutdown); dispose callbacks do not run, as no version follows. Idempotent.
   */
  close(): void {
    for (const e of this.entries.values()) {
      e.current?.hot.close();
      e.old?.hot.close();
    }
  }

  private entry(name: string): ModuleEntry {
    return this.entries.get(name) ?? this.newEntry(name);
  }

  private newEntry(name: string): ModuleEntry {
    const e = new ModuleEntry(name);
    this.entries.set(name, e);
    this.byFacade.set(e.facade, e);
    return e;
  }
}

/**
 * True when a bundle must not run while its current version is still in place:
 * it may register `hot.dispose` (Vite's pattern for a server opened at top level,
 * read from its syntax tree: `disposes.ts`), or the current instance holds
 * something its dispose releases.
 */
function holdsResources(shape: BundleShape, entry: ModuleEntry): boolean {
  return (entry.current?.hot.holdsResources ?? false) || shape.disposes;
}

function view(i: Instance | undefined): { version: string; exports: Record<string, unknown> } | undefined {
  return i && { version: i.version, exports: rawExports(i) };
}
