import Module from "node:module";
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import * as vm from "node:vm";
import type { Logger } from "../../wire/log";
import { HotInstance, type HotContext } from "./hot";
import { ModuleEntry, type Instance } from "./moduleTable";
import type { Bundle } from "../../wire/protocol";
import { ClusterError, type ErrorCode } from "../../wire/errors";

/** How a bundle names another project module: `require("devcluster:project/chat/room")`. Same constant as cli/compiler.ts. */
export const PROJECT_MODULE_PREFIX = "devcluster:project/";

export type { Bundle };

/**
 * The codes a load fails with, each a {@link ClusterError} naming the module:
 * - `eval_failed`: its top level threw.
 * - `timeout`: its top level ran past `evalTimeoutMs`.
 * - `bad_shape`: its exports are not what the table needs (not an object, or a behaviour lost `init`).
 * - `not_purged`: processes still run the oldest version, so a third cannot be loaded (`pids` says which).
 * - `missing_import`: it imports a project module that is neither loaded nor in the same reload.
 */
export type LoadErrorCode = Extract<ErrorCode, "eval_failed" | "timeout" | "bad_shape" | "not_purged" | "missing_import">;

/** The loader's own failures: one raised while a nested require ran is passed on as it is, not wrapped as eval_failed. */
const loadErrors = new WeakSet<ClusterError>();

function loadError(code: LoadErrorCode, module: string, message: string, options: { cause?: unknown; pids?: string[] } = {}): ClusterError {
  const err = new ClusterError(code, message, { ...options, module });
  loadErrors.add(err);
  return err;
}

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

/** Instances evaluated by {@link ModuleTable.prepare}, waiting for commit or abort. */
export class PreparedLoad {
  /** @internal */ state: "prepared" | "committed" | "aborted" = "prepared";

  /** @internal */
  constructor(
    /** @internal */ readonly instances: readonly Instance[],
    /** @internal Module names this batch added to the table's entries. */ readonly created: readonly string[],
  ) {}

  /** The modules in commit order. */
  get modules(): { name: string; version: string }[] {
    return this.instances.map((i) => ({ name: i.name, version: i.version }));
  }
}

const EVAL_SLOT = Symbol.for("devcluster.eval");
// vm.Script has no source maps, so it only calls a function compiled by Module#_compile
// (which does); it exists for its `timeout`, which interrupts an endless top level.
const RUN_EVAL = new vm.Script("globalThis[Symbol.for('devcluster.eval')]()", { filename: "devcluster:eval" });
// Same first line as the code, so only line 1's columns shift in the source map.
const WRAP_HEAD = "module.exports = (function (exports, require, module, __filename, __dirname, __devcluster_hot) {";
const WRAP_TAIL = "\n});";
const TS_FRAME = /([^\s()]+\.(?:ts|tsx|mts|cts)):(\d+):(\d+)/g;

type CompilableModule = Module & { _compile(code: string, filename: string): unknown };

/**
 * The module table of one node, and its loader: PREPARE evaluates new versions
 * aside, COMMIT swaps them in, ABORT throws them away (docs/design.md §6). Importers get
 * a facade per module whose functions and classes stay the same objects across
 * versions (docs/design.md §4.1, §4.2). One reload at a time: the caller serializes them.
 *
 * @example
 *   const p = table.prepare(bundles); // throws ClusterError
 *   table.commit(p);                  // or table.abort(p)
 */
export class ModuleTable {
  private readonly entries = new Map<string, ModuleEntry>();
  private readonly listeners: ((changed: Change[]) => void)[] = [];
  private readonly srcDir: string;
  private readonly timeout: number;

  constructor(private readonly opts: ModuleTableOptions) {
    this.srcDir = path.resolve(opts.srcDir);
    this.timeout = opts.evalTimeoutMs ?? 2000;
    // Without this, Module#_compile ignores the bundles' inline source maps and stacks point at bundle lines.
    process.setSourceMapsEnabled(true);
  }

  /**
   * PREPARE: evaluates `bundles` aside, in order (importees first), and checks
   * each one's shape. Nothing visible changes. On the first failure, clears
   * what it evaluated and throws {@link ClusterError}.
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

    const created: string[] = [];
    for (const name of batch) {
      if (!this.entries.has(name)) {
        this.entries.set(name, new ModuleEntry(name));
        created.push(name);
      }
    }
    const instances: Instance[] = [];
    let evaluating: HotInstance | undefined;
    try {
      for (const b of bundles) {
        const entry = this.entries.get(b.name)!;
        evaluating = new HotInstance(b.name, b.version, entry.data);
        const instance = this.evaluate(b, evaluating, batch);
        checkShape(entry, instance);
        instances.push(instance);
        evaluating = undefined;
        entry.stage(instance);
      }
    } catch (err) {
      evaluating?.close();
      for (const i of instances) i.hot.close();
      for (const name of batch) this.entries.get(name)!.unstage();
      for (const name of created) this.entries.delete(name);
      throw err;
    }
    for (const name of batch) this.entries.get(name)!.unstage();
    return new PreparedLoad(instances, created);
  }

  /**
   * COMMIT: for each prepared module in order, disposes the outgoing instance
   * (its `hot.dispose` callbacks run, its hot timers and listeners are cleared),
   * then makes the new one current and patches its classes. Never fails half
   * way: dispose callback errors are logged. Returns what changed.
   */
  commit(p: PreparedLoad): Change[] {
    if (p.state !== "prepared") throw new Error(`cannot commit a load that was already ${p.state}`);
    p.state = "committed";
    const changed: Change[] = [];
    for (const instance of p.instances) {
      const entry = this.entry(instance.name);
      const outgoing = entry.current;
      if (outgoing) {
        for (const err of outgoing.hot.disposeInstance()) {
          this.opts.log.error({ err, module: outgoing.name, version: outgoing.version }, "hot.dispose callback failed");
        }
      }
      entry.install(instance);
      changed.push(outgoing ? { name: instance.name, from: outgoing.version, to: instance.version } : { name: instance.name, to: instance.version });
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

  /** ABORT: clears the prepared instances' hot timers and listeners; the table is unchanged. Idempotent. */
  abort(p: PreparedLoad): void {
    if (p.state !== "prepared") return;
    p.state = "aborted";
    for (const i of p.instances) i.hot.close();
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
    let e = this.entries.get(name);
    if (!e) this.entries.set(name, (e = new ModuleEntry(name)));
    return e;
  }

  private evaluate(bundle: Bundle, hot: HotInstance, batch: ReadonlySet<string>): Instance {
    const filename = path.join(this.srcDir, ...bundle.name.split("/")) + ".js";
    const dirname = path.dirname(filename);
    let nodeRequire: NodeRequire | undefined;
    const require = (spec: string): unknown => {
      if (spec.startsWith(PROJECT_MODULE_PREFIX)) {
        const name = spec.slice(PROJECT_MODULE_PREFIX.length);
        const entry = this.entries.get(name);
        if (entry && (entry.current || batch.has(name))) return entry.facade;
        throw missingImport(bundle.name, name);
      }
      if (spec === "devcluster") return this.opts.runtimeFor(bundle.name, hot);
      return (nodeRequire ??= Module.createRequire(filename))(spec);
    };

    const m = new Module(filename) as CompilableModule;
    m.filename = filename;
    m.require = require as NodeRequire;
    let define: Function;
    try {
      // The version in the script name keeps each version's source map apart:
      // Node looks maps up by script name and the newest same-named one wins.
      m._compile(WRAP_HEAD + bundle.code + WRAP_TAIL, `${filename}?v=${bundle.version}`);
      define = m.exports as Function;
    } catch (err) {
      throw evalFailed(bundle.name, err, this.srcDir);
    }
    m.exports = {};
    const g = globalThis as Record<symbol, unknown>;
    const outer = g[EVAL_SLOT];
    // Named so ClusterError can cut the loader's own frames off the user's stack.
    g[EVAL_SLOT] = function devclusterEvaluate() {
      return define.call(m.exports, m.exports, require, m, filename, dirname, hot);
    };
    try {
      RUN_EVAL.runInThisContext({ timeout: this.timeout });
    } catch (err) {
      if (err instanceof ClusterError && loadErrors.has(err)) throw err;
      if ((err as { code?: unknown } | null)?.code === "ERR_SCRIPT_EXECUTION_TIMEOUT") {
        throw loadError(
          "timeout",
          bundle.name,
          `${bundle.name} did not finish evaluating within ${this.timeout}ms (an endless loop at top level?). Fix the file and save again.`,
        );
      }
      throw evalFailed(bundle.name, err, this.srcDir);
    } finally {
      g[EVAL_SLOT] = outer;
    }
    m.loaded = true;
    return { name: bundle.name, version: bundle.version, exports: m.exports as Record<string, unknown>, hot, module: m };
  }
}

function view(i: Instance | undefined): { version: string; exports: Record<string, unknown> } | undefined {
  return i && { version: i.version, exports: i.exports };
}

function checkShape(entry: ModuleEntry, instance: Instance): void {
  const exp: unknown = instance.exports;
  if (exp === null || typeof exp !== "object") {
    throw loadError(
      "bad_shape",
      instance.name,
      `${instance.name} must export an object of named exports, but module.exports is ${exp === null ? "null" : typeof exp}. Use named exports (export function ...).`,
    );
  }
  const prev = entry.current;
  if (prev && typeof prev.exports.init === "function" && typeof instance.exports.init !== "function") {
    throw loadError(
      "bad_shape",
      instance.name,
      `${instance.name} no longer exports init as a function, but version ${prev.version} did and processes may run it: a behaviour must stay a behaviour. Export init again, or restart those processes.`,
    );
  }
}

function missingImport(module: string, imported: string): ClusterError {
  return loadError(
    "missing_import",
    module,
    `${module} imports ${imported}, which is not loaded on this node and not in this reload. Reload ${imported} together with ${module}.`,
  );
}

function notPurged(module: string, pids: string[]): ClusterError {
  const n = pids.length;
  return loadError(
    "not_purged",
    module,
    `cannot load a third version of ${module}: ${n} process${n === 1 ? "" : "es"} still run${n === 1 ? "s" : ""} the oldest (${pids.join(", ")}). Wait for them, or run \`devcluster reload ${module} --force\`.`,
    { pids },
  );
}

function evalFailed(module: string, err: unknown, srcDir: string): ClusterError {
  const cause = err instanceof Error ? err : new Error(String(err));
  // The first frame in the project's sources: frames above it may be Node's or the loader's own.
  let where = "";
  for (const at of (cause.stack ?? "").matchAll(TS_FRAME)) {
    const rel = relativeFile(srcDir, at[1]!);
    if (rel.startsWith("..") || path.isAbsolute(rel)) continue;
    where = ` at ${rel}:${at[2]}:${at[3]}`;
    break;
  }
  return loadError("eval_failed", module, `${module} failed to evaluate (${cause.name}${where}): ${cause.message}. Fix the file and save again.`, {
    cause: err,
  });
}

function relativeFile(srcDir: string, file: string): string {
  const abs = file.startsWith("file://") ? fileURLToPath(file) : file;
  return path.relative(srcDir, abs).split(path.sep).join("/");
}
