import * as fs from "node:fs";
import * as path from "node:path";
import type { Logger } from "../../wire/log";
import { bindingsOf, type Bindings } from "./bindings";
import type { CodeStore } from "../dev/codeStore";
import { CompileError, importeesFirst, type CompiledModule, type Compiler } from "./compiler";
import type { ReloadReport } from "../dev/reloadTransaction";
import type { ChangeBatch } from "./watcher";

/** A module kept back from a reload because the set would not be consistent without another file. */
export interface HeldModule {
  module: string;
  file: string;
  /** what it waits for, for people: `fresh2 (src/fresh2.ts), which is not loaded` */
  waitsFor: string;
}

/** A module file kept back because it, or a file bundled into it, does not compile. */
export interface BrokenModule {
  file: string;
  /** the first error's place, relative to the project: `src/chat/room.ts:14:3`, `shared/fmt.ts:2:9` */
  at: string;
}

/** What to send for a batch of saves, and what stays behind. */
export interface SavePlan {
  /** the files looked at: the batch's, those its assets are bundled into, and every dirty one */
  files: string[];
  /** a consistent set, importees first; empty when nothing is to be sent */
  send: CompiledModule[];
  held: HeldModule[];
  /** the files that do not compile, each module left out */
  error?: CompileError;
  /** the module files left out because they (or a file bundled into them) do not compile, each with where the first error is */
  broken: BrokenModule[];
  /** modules of `send` that were dirty before this batch (held or refused earlier) */
  carried: Set<string>;
  /** files that were held back and now compile to the version the nodes run (saved back): clean, with nothing to send */
  back: BackModule[];
}

/** A held-back module file saved back to the version every node runs. */
export interface BackModule {
  file: string;
  module: string;
  version: string;
}

/**
 * Keeps what every node runs equal to what is on disk across any sequence of
 * saves (docs/design.md §3). A file whose new version did not reach the nodes
 * (it did not compile, it was held back, the nodes refused it) stays dirty and
 * is compiled again with every later batch until it goes through, so a burst
 * split in two, or an importer saved before the file that defines its new
 * export, ends with the nodes running the disk. A set is sent only when it is
 * consistent: every project import is loaded or in the set, with the names
 * its importers read, and no loaded importer loses a name it reads.
 */
export class PendingSaves {
  /** absolute file -> why the nodes do not run it yet */
  private readonly dirty = new Map<string, string>();
  private readonly bindingsCache = new Map<string, Bindings>();
  /** module file -> the other files its last compile read (bundled, or named by its errors); what to watch while it is dirty */
  private readonly inputs = new Map<string, string[]>();

  constructor(
    private readonly host: {
      compiler: Compiler;
      store: CodeStore;
      log: Logger;
    },
  ) {}

  /**
   * Files held back outside the plan (`--typecheck=strict` while the project
   * has type errors): dirty like the rest, so a save back to the running
   * version is said, not silent.
   */
  hold(files: string[], why: string): void {
    for (const f of files) this.dirty.set(f, why);
  }

  /** Files whose saved version the nodes do not run yet, with why: what `up` says keeps them apart. */
  pending(): Map<string, string> {
    return new Map(this.dirty);
  }

  /**
   * Every file outside the source folder that a module is built from: the
   * ones the nodes run, and the ones a dirty module's last compile read. The
   * watcher watches exactly these, so saving one rebuilds its importers.
   */
  watchedFiles(): string[] {
    const { store, compiler } = this.host;
    const files = new Set<string>();
    for (const name of store.names()) for (const f of store.get(name)!.bundled ?? []) files.add(f);
    for (const f of this.dirty.keys()) for (const b of this.inputs.get(f) ?? []) files.add(b);
    return [...files].filter((f) => !isInside(compiler.srcDir, f)).sort();
  }

  async plan(batch: ChangeBatch): Promise<SavePlan> {
    const { compiler, store } = this.host;
    for (const f of batch.removed) this.dirty.delete(f);
    const files = new Set(batch.changed);
    // A saved JSON (or other bundled) file: rebuild the modules it is inlined into.
    if (batch.assets.length) {
      const assets = new Set(batch.assets);
      for (const name of store.names()) {
        const m = store.get(name)!;
        if ((m.bundled ?? []).some((f) => assets.has(f))) files.add(m.file);
      }
    }
    const fromBatch = new Set(files);
    for (const f of this.dirty.keys()) {
      if (fs.existsSync(f)) files.add(f);
      else this.dirty.delete(f);
    }
    const { modules, error, broken } = await this.compileEach([...files].sort());

    // A project import that is neither loaded nor in the set, but whose file is on disk (its save is still on its way): take it along.
    for (let round = 0; round < 5; round++) {
      const compiled = new Set(modules.map((m) => m.name));
      const more = [...new Set(modules.flatMap((m) => m.imports))].filter((n) => !compiled.has(n) && !store.has(n) && fs.existsSync(compiler.fileOf(n)));
      if (more.length === 0) break;
      const extra = await this.compileEach(more.map((n) => compiler.fileOf(n)));
      modules.push(...extra.modules);
      for (const m of extra.modules) files.add(m.file);
    }

    const candidates = new Map<string, CompiledModule>();
    const back: BackModule[] = [];
    for (const m of modules) {
      if (store.get(m.name)?.version === m.version) {
        // Held back before, and the nodes run exactly this: the warning that held it is over, which `up` says.
        if (this.dirty.delete(m.file)) back.push({ file: m.file, module: m.name, version: m.version });
      } else candidates.set(m.name, m);
    }
    const held = this.consistent(candidates);
    for (const h of held) {
      this.dirty.set(h.file, `waits for ${h.waitsFor}`);
      this.host.log.warn({ file: h.file, module: h.module, waitsFor: h.waitsFor }, `${this.rel(h.file)} is held back: it waits for ${h.waitsFor}`);
    }
    const heldNames = new Set(held.map((h) => h.module));
    const send = importeesFirst([...candidates.values()].filter((m) => !heldNames.has(m.name)));
    const carried = new Set(send.filter((m) => !fromBatch.has(m.file)).map((m) => m.name));
    return { files: [...files].sort(), send, held, carried, broken, back, ...(error ? { error } : {}) };
  }

  /**
   * After the transaction: what committed is clean; what the nodes refused
   * stays dirty. Returns the modules of this batch worth sending again without
   * the refused ones, when only modules carried over from earlier batches
   * were refused (a module that still fails must not block every later save).
   */
  settle(plan: SavePlan, report: ReloadReport): CompiledModule[] | undefined {
    if (report.ok) {
      for (const m of plan.send) this.dirty.delete(m.file);
      return undefined;
    }
    const refused = new Set<string>();
    for (const n of report.nodes) if (n.error?.module) refused.add(n.error.module);
    const why = report.nodes.find((n) => n.error)?.error?.message ?? "the nodes refused it";
    for (const m of plan.send)
      this.dirty.set(m.file, refused.has(m.name) || refused.size === 0 ? `the nodes refused it: ${why}` : "its reload was refused with the rest of its set");
    // A set refused at COMMIT was put back on every node (report.rolledBack), so it can be retried like one refused at PREPARE.
    if ((report.failedIn !== "prepare" && !report.rolledBack) || refused.size === 0 || ![...refused].every((n) => plan.carried.has(n))) return undefined;
    const rest = new Map(plan.send.filter((m) => !refused.has(m.name)).map((m) => [m.name, m]));
    const held = new Set(this.consistent(rest).map((h) => h.module));
    const retry = [...rest.values()].filter((m) => !held.has(m.name));
    return retry.length ? importeesFirst(retry) : undefined;
  }

  /** Holds back, until nothing changes, each candidate that would leave the cluster inconsistent. */
  private consistent(candidates: Map<string, CompiledModule>): HeldModule[] {
    const { store, compiler } = this.host;
    const held = new Map<string, HeldModule>();
    const live = (n: string): CompiledModule | undefined => (candidates.has(n) && !held.has(n) ? candidates.get(n) : store.get(n));
    const hold = (m: CompiledModule, waitsFor: string): void => void held.set(m.name, { module: m.name, file: m.file, waitsFor });
    for (let changed = true; changed;) {
      changed = false;
      for (const m of candidates.values()) {
        if (held.has(m.name)) continue;
        const mine = this.bindings(m);
        for (const dep of m.imports) {
          const d = live(dep);
          // A dependency saved broken is what the user must fix: say so where the wait is named.
          const broken = this.dirty.get(compiler.fileOf(dep)) === "it does not compile" ? ", which does not compile" : "";
          const where = `${dep} (${this.rel(compiler.fileOf(dep))}${broken})`;
          if (!d) {
            hold(m, `${where}, which is not loaded${candidates.has(dep) ? " and is held back itself" : ""}`);
            break;
          }
          const missing = missingNames(mine.uses.get(dep), this.bindings(d).exports);
          if (missing.length) {
            hold(m, `${where} to export ${missing.join(", ")}`);
            break;
          }
        }
        if (held.has(m.name)) {
          changed = true;
          continue;
        }
        // A loaded importer that stays on its version must still find every name it reads.
        const exports = this.bindings(m).exports;
        for (const name of store.names()) {
          if (name === m.name || (candidates.has(name) && !held.has(name))) continue;
          const importer = store.get(name)!;
          if (!importer.imports.includes(m.name)) continue;
          const missing = missingNames(this.bindings(importer).uses.get(m.name), exports);
          if (missing.length) {
            hold(m, `${name} (${this.rel(importer.file)}), which as loaded still reads ${missing.join(", ")} from it`);
            changed = true;
            break;
          }
        }
      }
    }
    return [...held.values()];
  }

  /**
   * Compiles the files together (one esbuild call, the fast way); when that
   * fails, one by one, so a file that does not compile holds back only itself
   * and what needs it.
   */
  private async compileEach(files: string[]): Promise<{ modules: CompiledModule[]; error?: CompileError; broken: BrokenModule[] }> {
    const { compiler } = this.host;
    if (files.length === 0) return { modules: [], broken: [] };
    try {
      return { modules: this.noteInputs(await compiler.compile(files)), broken: [] };
    } catch (err) {
      if (!(err instanceof CompileError)) throw err;
      if (files.length === 1) return { modules: [], error: err, broken: [this.noteBroken(files[0]!, err.diagnostics)] };
    }
    const modules: CompiledModule[] = [];
    const diagnostics: CompileError["diagnostics"] = [];
    const broken: BrokenModule[] = [];
    for (const f of files) {
      try {
        modules.push(...this.noteInputs(await compiler.compile([f])));
      } catch (err) {
        if (!(err instanceof CompileError)) throw err;
        // A diagnostic located in a bundled file still belongs to this module.
        const mine = err.diagnostics.map((d) => (d.file ? d : { ...d, file: path.relative(compiler.projectDir, f) }));
        // An error in a file bundled into several modules (`../shared/fmt.ts`) is said once.
        const said = new Set(diagnostics.map(diagnosticKey));
        diagnostics.push(...mine.filter((d) => !said.has(diagnosticKey(d))));
        broken.push(this.noteBroken(f, mine));
      }
    }
    return { modules, broken, ...(diagnostics.length ? { error: new CompileError(diagnostics) } : {}) };
  }

  /** Remembers which files each compiled module was built from, for {@link watchedFiles}. */
  private noteInputs(modules: CompiledModule[]): CompiledModule[] {
    for (const m of modules) this.inputs.set(m.file, m.bundled);
    return modules;
  }

  /**
   * A file that does not compile stays dirty; the files its errors are in are
   * watched until it compiles (a typo in a newly imported `../shared/fmt.ts`
   * is fixed there, not in the importer).
   */
  private noteBroken(file: string, diagnostics: CompileError["diagnostics"]): BrokenModule {
    const { projectDir } = this.host.compiler;
    this.dirty.set(file, "it does not compile");
    this.inputs.set(file, [...new Set(diagnostics.filter((d) => d.file).map((d) => path.resolve(projectDir, d.file)))]);
    const d = diagnostics.find((x) => x.file && x.line > 0) ?? diagnostics[0];
    const at = d?.file ? (d.line > 0 ? `${d.file}:${d.line}:${d.column}` : d.file) : this.rel(file);
    return { file, at: at.split(path.sep).join("/") };
  }

  private bindings(m: CompiledModule): Bindings {
    const key = `${m.name}@${m.version}`;
    let b = this.bindingsCache.get(key);
    if (!b) {
      b = m.bindings ?? bindingsOf(m.code);
      if (this.bindingsCache.size > 2000) this.bindingsCache.clear();
      this.bindingsCache.set(key, b);
    }
    return b;
  }

  private rel(file: string): string {
    return path.relative(this.host.compiler.projectDir, file).split(path.sep).join("/");
  }
}

function diagnosticKey(d: CompileError["diagnostics"][number]): string {
  return `${d.file}:${d.line}:${d.column}:${d.text}`;
}

function isInside(dir: string, file: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
}

function missingNames(uses: Set<string> | undefined, exports: Set<string> | undefined): string[] {
  if (!uses || !exports) return [];
  return [...uses].filter((n) => !exports.has(n) && n !== "__esModule").sort();
}
