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
import { evalFailed, missingImport } from "./refusals";

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
    return { load, keep };
  }
}
