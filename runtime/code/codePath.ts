/**
 * A node's code path (docs/design.md §4.5, §6): the latest committed bundle of
 * every project module, evaluated or not. A node evaluates what its entry
 * reaches at boot and any other module on first use (a spawn by name), as
 * Erlang's code server loads a module from its path the first time it is
 * called: a launcher script kept in the source folder (one that forks, or
 * exits without its `process.argv`) is compiled and checked on every save but
 * never runs on a node that has no use for it.
 */
import * as path from "node:path";
import * as vm from "node:vm";
import type { Bundle } from "../../wire/protocol";
import { evalFailed, missingImport, removedExports } from "./refusals";
import { shapeOf } from "./shippedShape";

/** What a reload does on this node: the modules it evaluates (importees first), and those it only checks and keeps. */
export interface Split {
  load: Bundle[];
  keep: Bundle[];
}

/** The wrapper's parameters: a kept module is compiled as the loader would compile it, and not called. */
const WRAPPER_PARAMS = ["exports", "require", "module", "__filename", "__dirname"];

export class CodePath {
  private readonly bundles = new Map<string, Bundle>();

  constructor(private readonly srcDir: string) {}

  /** Records the latest versions: the welcome's, or a committed reload's. */
  file(bundles: readonly Bundle[]): void {
    for (const b of bundles) this.bundles.set(b.name, b);
  }

  /** Module name -> the version this node has, evaluated or kept: what it tells a coordinator it is behind on. */
  versions(): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [name, b] of this.bundles) out[name] = b.version;
    return out;
  }

  has(name: string): boolean {
    return this.bundles.has(name);
  }

  names(): string[] {
    return [...this.bundles.keys()];
  }

  /**
   * The bundles to evaluate so that `wanted` run: each of them, and every
   * project module they import, transitively, that is not loaded yet;
   * importees first. `newer` (a reload's bundles) take the place of the
   * path's. An import known nowhere is left to the loader, which refuses it
   * as `missing_import` naming the importer.
   */
  closure(wanted: readonly string[], loaded: (name: string) => boolean, newer: ReadonlyMap<string, Bundle> = new Map()): Bundle[] {
    const roots = new Set(wanted);
    const seen = new Set<string>();
    const out: Bundle[] = [];
    const visit = (name: string): void => {
      if (seen.has(name) || (!roots.has(name) && loaded(name))) return;
      seen.add(name);
      const bundle = newer.get(name) ?? this.bundles.get(name);
      if (!bundle) return;
      for (const imp of bundle.imports) visit(imp);
      out.push(bundle);
    };
    for (const name of wanted) visit(name);
    return out;
  }

  /**
   * A reload's bundles on this node: the loaded modules move to their new
   * versions, with whatever new imports they reach (a module saved for the
   * first time and imported in the same save); the others are only checked
   * (their imports exist, their code compiles) and kept for a later first use.
   * Throws the loader's refusal for a kept module that fails the check.
   */
  split(batch: readonly Bundle[], loaded: (name: string) => boolean): Split {
    const newer = new Map(batch.map((b) => [b.name, b] as const));
    const load = this.closure(
      batch.filter((b) => loaded(b.name)).map((b) => b.name),
      loaded,
      newer,
    );
    const evaluated = new Set(load.map((b) => b.name));
    const keep = batch.filter((b) => !evaluated.has(b.name));
    for (const b of keep) {
      for (const imp of b.imports) if (!newer.has(imp) && !this.bundles.has(imp) && !loaded(imp)) throw missingImport(b.name, imp);
      const filename = path.join(this.srcDir, ...b.name.split("/")) + ".js";
      try {
        // Compiled, never called: its top level does not run here.
        vm.compileFunction(b.code, WRAPPER_PARAMS, { filename });
      } catch (err) {
        throw evalFailed(b.name, err, this.srcDir);
      }
    }
    this.checkKeptImporters(newer, (n) => loaded(n) || evaluated.has(n));
    return { load, keep };
  }

  /**
   * The rule of docs/design.md §6 for the modules this node keeps without running them (the loader checks those
   * it runs): an export a kept module imports may not disappear unless that module changes in the same reload;
   * else the reload would be reported done and the kept module fail at its first use. Only kept modules that reach
   * the reload's modules through their imports are read, from their shapes (shipped with their bundles).
   */
  private checkKeptImporters(newer: ReadonlyMap<string, Bundle>, runs: (name: string) => boolean): void {
    const before = (name: string): Bundle | undefined => this.bundles.get(name);
    const after = (name: string): Bundle | undefined => newer.get(name) ?? this.bundles.get(name);
    const importersOf = new Map<string, string[]>();
    for (const b of new Map([...this.bundles, ...newer]).values()) {
      for (const imp of b.imports) importersOf.set(imp, [...(importersOf.get(imp) ?? []), b.name]);
    }
    const reached = new Set(newer.keys());
    for (const name of reached) for (const user of importersOf.get(name) ?? []) reached.add(user);
    const removed = new Map<string, string[]>(); // importee -> ["importer (a, b), kept"]
    for (const name of reached) {
      if (runs(name)) continue;
      for (const [importee, names] of shapeOf(after(name)!).uses) {
        const was = exportsOf(importee, before);
        const now = exportsOf(importee, after);
        const gone = was && now ? [...names].filter((n) => was.has(n) && !now.has(n)) : [];
        if (gone.length > 0) removed.set(importee, [...(removed.get(importee) ?? []), `${name} (${gone.join(", ")}; not run on this node yet)`]);
      }
    }
    if (removed.size > 0) throw removedExports(removed);
  }
}

/** The names `name` exports in the versions `version` gives, `export *` followed; undefined when its text does not show them. */
function exportsOf(name: string, version: (name: string) => Bundle | undefined, seen = new Set<string>()): Set<string> | undefined {
  const bundle = version(name);
  const shape = bundle && shapeOf(bundle);
  if (!shape?.exports) return undefined;
  const names = new Set(shape.exports.keys());
  if (seen.has(name)) return names;
  seen.add(name);
  for (const star of shape.stars) {
    const more = exportsOf(star, version, seen);
    if (!more) return undefined;
    for (const n of more) if (n !== "default") names.add(n);
  }
  return names;
}
