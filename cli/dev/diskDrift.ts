import { existsSync, readFileSync } from "node:fs";
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
 * Compiles every module the nodes run from its file as it is now and compares
 * versions (a version is the hash of the compiled bundle, so a save that
 * changed only whitespace is no drift). Each module on its own, so one that
 * does not compile does not hide the others. A module whose file is saved
 * but held back, refused or broken shows here until the nodes run the disk.
 */
export async function diskDrift(compiler: Compiler, store: CodeStore): Promise<DiskDrift[]> {
  const out: DiskDrift[] = [];
  for (const name of store.names()) {
    const running = store.get(name)!;
    const file = running.file;
    const rel = path.relative(compiler.projectDir, file).split(path.sep).join("/");
    if (!existsSync(file)) {
      out.push({ module: name, file: rel, running: running.version, why: `${rel} was deleted; the nodes keep the version they have` });
      continue;
    }
    try {
      const [disk] = await compiler.compile([file]);
      if (disk && disk.version !== running.version) {
        const changed = changedInputs(running, compiler).map(relOf);
        const first = changed[0];
        out.push({
          module: name,
          // The file that was saved, which may be one bundled into the module (`../shared/fmt.ts`), not the module's own.
          file: first ?? rel,
          running: running.version,
          disk: disk.version,
          why:
            first === undefined
              ? `${rel} changed on disk and is not loaded yet`
              : `${changed.join(", ")} changed on disk and ${changed.length > 1 ? "are" : "is"} not loaded yet${first === rel ? "" : ` (bundled into ${rel})`}`,
        });
      }
    } catch (err) {
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
      out.push({
        module: name,
        file: culprit,
        running: running.version,
        why: `${culprit} does not compile${culprit === rel ? "" : ` (bundled into ${rel})`} (${first})`,
      });
    }
  }
  return out;

  function relOf(file: string): string {
    return path.relative(compiler.projectDir, file).split(path.sep).join("/");
  }
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
