import { existsSync } from "node:fs";
import * as path from "node:path";
import type { CodeStore } from "./codeStore";
import { CompileError, type Compiler } from "../save/compiler";

/** A module whose running version is not what its file on disk compiles to, and which file keeps them apart. */
export interface DiskDrift {
  module: string;
  /** the file, relative to the project folder (`src/counter.ts`) */
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
        out.push({ module: name, file: rel, running: running.version, disk: disk.version, why: `${rel} changed on disk and is not loaded yet` });
      }
    } catch (err) {
      const first = err instanceof CompileError ? (err.message.split("\n")[0] ?? "") : (err as Error).message;
      out.push({ module: name, file: rel, running: running.version, why: `${rel} does not compile (${first})` });
    }
  }
  return out;
}
