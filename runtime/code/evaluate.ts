import Module from "node:module";
import * as path from "node:path";
import * as vm from "node:vm";
import type { Logger } from "../../wire/log";
import type { HotContext, HotInstance } from "./hot";
import type { ModuleEntry, Instance } from "./moduleTable";
import type { Bundle } from "../../wire/protocol";
import { needsTimeLimit } from "./watchdog";
import { IMPORT_META, importMetas } from "./importMeta";
import { LIVE, PROJECT_MODULE_PREFIX, type BundleShape } from "./bundleShape";
import { instrument } from "./instrument";
import { watchTopLevel } from "./topLevelHandles";
import { WRAPPER_PARAMS, expose, holderOf, scopeTail, topNames } from "./moduleScope";
import { classHelpers } from "./classHelpers";
import { evalFailed, isLoadError, loadError, missingImport } from "./refusals";

/**
 * What {@link compile} needs of the module table it loads into (the loader's
 * `ModuleTable`): its entries, the facades' entries, and where to record what
 * an evaluated instance came from.
 */
export interface EvaluateHost {
  /** Absolute path of the project's source folder. */
  readonly srcDir: string;
  /** Time limit for one module's top level, in ms. */
  readonly timeout: number;
  readonly log: Logger;
  readonly entries: ReadonlyMap<string, ModuleEntry>;
  /** facade -> its entry, for the live `import * as` and `export * from` helpers. */
  readonly byFacade: WeakMap<object, ModuleEntry>;
  /** What `require("devcluster")` returns inside `moduleName`. */
  runtimeFor(moduleName: string, hot: HotContext): unknown;
  /** The entry of `name`, made when there is none. */
  entry(name: string): ModuleEntry;
  /** The shape of module `name` for needsTimeLimit: from the PREPARE under way, or its current version's. */
  shapeOf(name: string): BundleShape | undefined;
  /** Called when `instance`'s top level has run: the table keeps `source` to evaluate that version again. */
  evaluated(instance: Instance, source: Source): void;
}

/** A bundle compiled into its wrapper function, its top level not yet run. */
export interface Compiled {
  readonly instance: Instance;
  readonly define: Function;
  readonly run: () => void;
}

const EVAL_SLOT = Symbol.for("devcluster.eval");
// vm.Script has no source maps, so it only calls a function compiled by Module#_compile
// (which does); it exists for its `timeout`, which interrupts an endless top level.
const RUN_EVAL = new vm.Script("globalThis[Symbol.for('devcluster.eval')]()", { filename: "devcluster:eval" });
// Same first line as the code, so only line 1's columns shift in the source map.
const WRAP_HEAD = `module.exports = (function (${WRAPPER_PARAMS.join(", ")}) {`;
const WRAP_TAIL = "\n});";

type CompilableModule = Module & { _compile(code: string, filename: string): unknown };

/** What the loader keeps of each instance it evaluated: enough to evaluate that version again (a revert). */
export interface Source {
  bundle: Bundle;
  shape: BundleShape;
  /** the text passed to Module#_compile and the script name it was compiled under: LiveEdit patches earlier versions with it */
  script: { filename: string; text: string };
}

/**
 * Compiles `bundle` into its wrapper (a syntax error throws here) and
 * returns the instance it will fill and a `run` that evaluates its top level
 * with a time limit.
 */
export function compile(host: EvaluateHost, bundle: Bundle, shape: BundleShape, hot: HotInstance, batch: ReadonlySet<string>): Compiled {
  const filename = path.join(host.srcDir, ...bundle.name.split("/")) + ".js";
  const dirname = path.dirname(filename);
  const entry = host.entry(bundle.name);
  let nodeRequire: NodeRequire | undefined;
  const require = (spec: string): unknown => {
    if (spec.startsWith(PROJECT_MODULE_PREFIX)) {
      const name = spec.slice(PROJECT_MODULE_PREFIX.length);
      const e = host.entries.get(name);
      if (e && (e.current || batch.has(name))) return e.facade;
      throw missingImport(bundle.name, name);
    }
    if (spec === "devcluster") return host.runtimeFor(bundle.name, hot);
    return (nodeRequire ??= Module.createRequire(filename))(spec);
  };
  const stars: ModuleEntry[] = [];
  const instance: Instance = { name: bundle.name, version: bundle.version, exports: {}, hot, module: {}, code: bundle.code, stars, bindings: shape.bindings };
  type Helper = (...args: unknown[]) => unknown;
  // The helpers the instrumented bundle calls instead of esbuild's (instrument.ts).
  const live = {
    // `import * as lib`: the facade itself, whose names follow lib's versions, not a copy of today's.
    __toESM:
      (esbuild: () => Helper) =>
      (mod: unknown, ...rest: unknown[]) =>
        host.byFacade.has(mod as object) ? mod : esbuild()(mod, ...rest),
    // `export * from "./lib"`: recorded, so the facade of this module lists lib's names as they are at each moment.
    __reExport:
      (esbuild: () => Helper) =>
      (target: unknown, mod: unknown, ...rest: unknown[]): unknown => {
        const source = host.byFacade.get(mod as object);
        if (!source) return esbuild()(target, mod, ...rest);
        if (!stars.includes(source)) stars.push(source);
        return target;
      },
    own: (key: string, fn: Function) => entry.ownFunction(instance, key, fn),
    cls: (key: string, klass: Function) => entry.defineClass(instance, key, klass),
    // The version's top-level bindings, readable by earlier versions' patched closures (moduleScope.ts).
    expose: (names: string[], read: (i: number) => unknown) => expose(entry, instance, names, read),
    // Classes' instances, fields and `#private` members, across versions (docs/design.md §4.2).
    ...classHelpers(entry, instance),
  };

  const meta = importMetas(host.srcDir, bundle.name, hot);
  const m = new Module(filename) as CompilableModule;
  m.filename = filename;
  m.require = require as NodeRequire;
  (instance as { module: object }).module = m;
  let define: Function;
  // The version in the script name keeps each version's source map apart:
  // Node looks maps up by script name and the newest same-named one wins.
  const code = instrument(bundle.code, shape);
  const script = { filename: `${filename}?v=${bundle.version}`, text: WRAP_HEAD + code + scopeTail(topNames(code)) + WRAP_TAIL };
  try {
    m._compile(script.text, script.filename);
    define = m.exports as Function;
  } catch (err) {
    throw evalFailed(bundle.name, err, host.srcDir);
  }
  m.exports = {};
  for (const c of entry.current ? shape.sites.classes : []) {
    if (c.skipped.length > 0)
      host.log.warn({ module: bundle.name, class: c.exportName, fields: c.skipped }, "fields not added to instances made before this version");
  }
  const limited = needsTimeLimit(shape, (n) => host.shapeOf(n));
  const run = (): void => {
    const g = globalThis as Record<symbol, unknown>;
    const outer = g[EVAL_SLOT];
    // Named so ClusterError can cut the loader's own frames off the user's stack.
    g[EVAL_SLOT] = function devclusterEvaluate() {
      return define.call(m.exports, m.exports, require, m, filename, dirname, hot, live, meta, holderOf(entry));
    };
    try {
      // The time limit costs a thread per evaluation; a top level that cannot loop runs without it (watchdog.ts).
      // Intervals and listeners it starts are recorded: a later version's start another each (topLevelHandles.ts).
      watchTopLevel(bundle.name, bundle.version, host.srcDir, () => {
        if (limited) RUN_EVAL.runInThisContext({ timeout: host.timeout });
        else (g[EVAL_SLOT] as () => unknown)();
      });
    } catch (err) {
      if (isLoadError(err)) throw err;
      if ((err as { code?: unknown } | null)?.code === "ERR_SCRIPT_EXECUTION_TIMEOUT") {
        throw loadError(
          "timeout",
          bundle.name,
          `${bundle.name} did not finish evaluating within ${host.timeout}ms (an endless loop at top level?). Fix the file and save again.`,
        );
      }
      throw evalFailed(bundle.name, err, host.srcDir);
    } finally {
      g[EVAL_SLOT] = outer;
    }
    m.loaded = true;
    instance.exports = m.exports as Record<string, unknown>;
    host.evaluated(instance, { bundle, shape, script });
  };
  return { instance, define, run };
}
