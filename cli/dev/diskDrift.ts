import { existsSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import type { CodeStore } from "./codeStore";
import { CompileError, type CompiledModule, type Compiler } from "../save/compiler";

/** A module whose running version is not what its file on disk compiles to, and which file keeps them apart. */
export interface DiskDrift {
  module: string;
  /** the file that keeps them apart, relative to the project folder: the module's own (`src/counter.ts`) or one bundled into it (`shared/fmt.ts`) */
  file: string;
  /** the version the nodes run (the code store's) */
  running: string;
  /** what the file compiles to now; absent when it does not compile or is gone */
  disk?: string;
  /** why they differ, for people: not loaded yet, does not compile, deleted */
  why: string;
  /** no node runs it: `running` is the version the nodes keep for its first spawn (docs/design.md §4.5) */
  kept?: boolean;
}

/**
 * Within this long of a file's last change (ctime), its stamp may not tell a
 * later write apart: Linux stamps files from a clock that ticks once a jiffy
 * (up to 10 ms), so a second write in the same tick leaves the same ctime, and
 * the same size when only a letter changed. Such a file is compiled again on
 * every look until its stamp is older than this (git's "racy" index entries).
 */
const RACY_MS = 100;

/** What one module's files compiled to, and the stamps of every file that compile read, to know when it must compile again. */
interface Compiled {
  version: string;
  /** the module's own file and each file bundled into it (the disk's and the running version's), with `stampOf` */
  stamps: Map<string, string>;
  tsconfig: unknown;
}

/** Size, mtime, ctime and inode: any write changes ctime, which no tool can set back (unlike mtime: `touch -d`, `cp -p`). */
function stampOf(file: string): string | undefined {
  try {
    const st = statSync(file);
    return `${st.size}:${st.mtimeMs}:${st.ctimeMs}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/**
 * Which modules the nodes run are not what their files on disk compile to.
 * Each module's files compile again only when one of them changed since the
 * last look (its stamp differs, docs/design.md §3): with 500 modules, compiling
 * every one on each `status` (and each `ps()`, `nodes()` and Tab in the shell,
 * which read status) took 2 s; a look where nothing changed stats the files.
 */
export class DriftCheck {
  private readonly compiled = new Map<string, Compiled>();
  /** the module files of the source folder at the last look: a file added or removed can change what an import resolves to */
  private listing = "";
  /** modules compiled by the last {@link find}, for the size bench */
  lastCompiled = 0;

  constructor(
    private readonly compiler: Compiler,
    private readonly store: CodeStore,
    /** @internal tests trust stamps at once (-Infinity) and write files of differing sizes instead of waiting out the clock's tick */
    private readonly racyMs = RACY_MS,
  ) {}

  /**
   * What `up` compiled at boot, so its first `status` compiles nothing either:
   * `files` is the source folder's listing that compile was given, `startedAt`
   * (Date.now()) and `tsconfig` taken before it began.
   */
  seed(modules: CompiledModule[], at: { files: string[]; startedAt: number; tsconfig: unknown }): void {
    this.listing = at.files.join("\n");
    for (const m of modules) this.remember(m.name, m, m, at.tsconfig, at.startedAt);
  }

  /**
   * Compares every module the nodes run with what its file compiles to now
   * (a version is the hash of the compiled bundle, so a save that changed only
   * whitespace is no drift). Each module on its own, so one that does not
   * compile does not hide the others. A module whose file is saved but held
   * back, refused or broken shows here until the nodes run the disk.
   */
  async find(): Promise<DiskDrift[]> {
    const { compiler, store } = this;
    const listing = compiler.listModules().join("\n");
    if (listing !== this.listing) this.compiled.clear();
    this.listing = listing;
    const tsconfig = compiler.tsconfig();
    this.lastCompiled = 0;
    const names = store.names();
    const found = await mapLimited(names, COMPILES_AT_ONCE, (name) => this.check(name, tsconfig));
    return found.filter((d): d is DiskDrift => d !== undefined);
  }

  private async check(name: string, tsconfig: unknown): Promise<DiskDrift | undefined> {
    const { compiler } = this;
    const running = this.store.get(name)!;
    const file = running.file;
    const rel = relOf(compiler, file);
    if (!existsSync(file)) {
      this.compiled.delete(name);
      return { module: name, file: rel, running: running.version, why: `${rel} was deleted; the nodes keep the version they have` };
    }
    let disk = this.unchanged(name, running, tsconfig);
    if (disk === undefined) {
      const startedAt = Date.now();
      try {
        this.lastCompiled++;
        const [out] = await compiler.compile([file]);
        if (!out) return undefined;
        disk = out.version;
        this.remember(name, out, running, tsconfig, startedAt);
      } catch (err) {
        // Not remembered: a file that does not compile is compiled again on each look (there are few), so its fix shows at once.
        this.compiled.delete(name);
        const first = err instanceof CompileError ? (err.message.split("\n")[0] ?? "") : (err as Error).message;
        // An error in a file bundled into the module (`shared/fmt.ts:2:9: error: ...`) names that file.
        const at =
          err instanceof CompileError
            ? err.diagnostics
                .find((d) => d.file)
                ?.file.split(path.sep)
                .join("/")
            : undefined;
        const culprit = at ?? rel;
        return {
          module: name,
          file: culprit,
          running: running.version,
          why: `${culprit} does not compile${culprit === rel ? "" : ` (bundled into ${rel})`} (${first})`,
        };
      }
    }
    if (disk === running.version) return undefined;
    const changed = changedInputs(running, compiler).map((f) => relOf(compiler, f));
    const first = changed[0];
    return {
      module: name,
      // The file that was saved, which may be one bundled into the module (`../shared/fmt.ts`), not the module's own.
      file: first ?? rel,
      running: running.version,
      disk,
      why:
        first === undefined
          ? `${rel} changed on disk and is not loaded yet`
          : `${changed.join(", ")} changed on disk and ${changed.length > 1 ? "are" : "is"} not loaded yet${first === rel ? "" : ` (bundled into ${rel})`}`,
    };
  }

  /** The version module `name`'s files compiled to at the last look, if none of them changed since (and the running version's inputs are the same files). */
  private unchanged(name: string, running: CompiledModule, tsconfig: unknown): string | undefined {
    const c = this.compiled.get(name);
    if (!c || c.tsconfig !== tsconfig) return undefined;
    for (const f of [running.file, ...running.bundled]) if (!c.stamps.has(f)) return undefined;
    for (const [f, stamp] of c.stamps) if (stampOf(f) !== stamp) return undefined;
    return c.version;
  }

  /** Keeps what `out` compiled to, unless one of its files changed so near the compile that its stamp may hide a write after the read. */
  private remember(name: string, out: CompiledModule, running: CompiledModule, tsconfig: unknown, startedAt: number): void {
    const stamps = new Map<string, string>();
    for (const f of new Set([out.file, ...out.bundled, running.file, ...running.bundled])) {
      let ctime: number;
      try {
        ctime = statSync(f).ctimeMs;
      } catch {
        this.compiled.delete(name);
        return;
      }
      // Changed during the compile, or in the same clock tick as its start: the text read may not be the text stamped.
      if (ctime >= startedAt - this.racyMs) {
        this.compiled.delete(name);
        return;
      }
      stamps.set(f, stampOf(f)!);
    }
    this.compiled.set(name, { version: out.version, stamps, tsconfig });
  }
}

/** esbuild runs compiles on its own threads; more at once than this only queues there, and the coordinator's other requests wait behind them. */
const COMPILES_AT_ONCE = 8;

async function mapLimited<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** One look, nothing remembered: what `status` reads through {@link DriftCheck}, for a caller without one. */
export function diskDrift(compiler: Compiler, store: CodeStore): Promise<DiskDrift[]> {
  return new DriftCheck(compiler, store).find();
}

function relOf(compiler: Compiler, file: string): string {
  return path.relative(compiler.projectDir, file).split(path.sep).join("/");
}

/**
 * The files the running version was built from whose text on disk is not
 * what it was built from, module file first. Read from the bundle's inline
 * source map (the compiler keeps each input's text in `sourcesContent`), so a
 * save of a bundled file is told apart from a save of the module itself.
 */
function changedInputs(running: CompiledModule, compiler: Compiler): string[] {
  const map = inlineSourceMap(running.code);
  if (!map) return [];
  // Source paths are relative to where the loader evaluates the bundle: <srcDir>/<name>.js.
  const outDir = path.dirname(path.join(compiler.srcDir, ...running.name.split("/")));
  const changed: string[] = [];
  map.sources.forEach((src, i) => {
    const file = path.resolve(outDir, src);
    const then = map.sourcesContent?.[i];
    if (typeof then !== "string") return;
    let now: string | undefined;
    try {
      now = readFileSync(file, "utf8");
    } catch {
      now = undefined;
    }
    if (now !== then) changed.push(file);
  });
  return changed.sort((a, b) => (a === running.file ? -1 : b === running.file ? 1 : a.localeCompare(b)));
}

const INLINE_MAP = "//# sourceMappingURL=data:application/json;base64,";

function inlineSourceMap(code: string): { sources: string[]; sourcesContent?: (string | null)[] } | undefined {
  const at = code.lastIndexOf(INLINE_MAP);
  if (at < 0) return undefined;
  try {
    const map = JSON.parse(Buffer.from(code.slice(at + INLINE_MAP.length).trim(), "base64").toString("utf8")) as unknown;
    if (typeof map !== "object" || map === null || !Array.isArray((map as { sources?: unknown }).sources)) return undefined;
    return map as { sources: string[]; sourcesContent?: (string | null)[] };
  } catch {
    return undefined;
  }
}
