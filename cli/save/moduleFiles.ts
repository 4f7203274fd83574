import * as fs from "node:fs";
import * as path from "node:path";

/**
 * What a project module's file may end with, in the order a module name picks
 * its file when two share a stem: `lib.ts` beside `lib.js` (tsc's output left
 * in the source folder) is the module `lib`, and the `.js` is not a second one.
 * `.js`, `.mjs` and `.cjs` are modules as `.ts` is: one instance shared by every
 * importer, reloaded live (bundled into each importer instead, a stateful file
 * ran once per importer).
 */
export const MODULE_EXTENSIONS = [".ts", ".tsx", ".js", ".mjs", ".cjs"] as const;

const DECLARATION_FILE = /\.d\.(ts|tsx|mts|cts)$/;

/** True for a module file's name (`room.ts`, `counter.cjs`), false for `types.d.ts` and anything else. */
export function isModuleFile(file: string): boolean {
  return MODULE_EXTENSIONS.some((ext) => file.endsWith(ext)) && !DECLARATION_FILE.test(file);
}

/** `<srcDir>/chat/room` -> its file: the first of {@link MODULE_EXTENSIONS} that exists, else the `.ts` one. */
export function moduleFileOf(base: string): string {
  return MODULE_EXTENSIONS.map((ext) => base + ext).find(isFile) ?? base + ".ts";
}

/** Every module file under `srcDir` (not in node_modules or dot folders), one per module name, absolute, sorted. */
export function listModuleFiles(srcDir: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    const files = new Set<string>();
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) {
        if (entry.name !== "node_modules" && !entry.name.startsWith(".")) walk(full);
      } else if (entry.isFile() && isModuleFile(entry.name)) {
        files.add(full);
      }
    }
    for (const f of files) if (moduleFileOf(stemOf(f)) === f) found.push(f);
  };
  walk(srcDir);
  return found.sort();
}

/**
 * The module file an import names, tried as TypeScript users write imports:
 * as given, with each module extension, as a folder's index, and with `.js`
 * meaning `.ts` when only the `.ts` exists.
 */
export function resolveModuleFile(target: string): string | undefined {
  const candidates = [target, ...MODULE_EXTENSIONS.map((ext) => target + ext), ...MODULE_EXTENSIONS.map((ext) => path.join(target, "index" + ext))];
  const js = /\.(js|jsx|mjs|cjs)$/.exec(target);
  if (js) {
    const stem = target.slice(0, -js[0].length);
    candidates.push(stem + ".ts", stem + ".tsx");
  }
  return candidates.find((c) => isModuleFile(c) && isFile(c));
}

/** What a missing import was looked for as, for the error: `./nope.ts, ./nope.tsx, ./nope.js or ./nope/index.ts`. */
export function displayCandidates(spec: string): string {
  const stem = spec.replace(/\.(js|jsx|mjs|cjs|ts|tsx)$/, "");
  return `${stem}.ts, ${stem}.tsx, ${stem}.js or ${stem}/index.ts`;
}

export function isInside(dir: string, file: string): boolean {
  const rel = path.relative(dir, file);
  return rel !== "" && !rel.startsWith("..") && !path.isAbsolute(rel);
}

export function isFile(p: string): boolean {
  try {
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

function stemOf(file: string): string {
  return file.slice(0, file.length - path.extname(file).length);
}
