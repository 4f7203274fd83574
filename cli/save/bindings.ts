import { PROJECT_MODULE_PREFIX } from "../../runtime/code/loader";

/** What a compiled module exports and which names it reads from each project module it imports. */
export interface Bindings {
  /** its export names; undefined when they are not known statically (`export *`, plain CommonJS) */
  exports: Set<string> | undefined;
  /** per imported project module, the names read from it; undefined when the whole namespace escapes (`f(ns)`, `ns[k]`) */
  uses: Map<string, Set<string> | undefined>;
}

const SOURCE_MAP = /\/\/# sourceMappingURL=.*$/m;
const PROJECT_REQUIRE = new RegExp(`\\bvar ([\\w$]+) = (?:__toESM\\()?require\\("${escapeRe(PROJECT_MODULE_PREFIX)}([^"]+)"\\)`, "g");

/**
 * Reads the bindings off esbuild's CommonJS output, whose shape is fixed:
 * `module.exports = __toCommonJS(x_exports)` and `__export(x_exports, { name: () => ... })`
 * for the exports, `var import_lib = require("devcluster:project/lib")` and
 * `import_lib.name` at each use. Anything else answers "not known", which
 * checks nothing: this may let an inconsistent set through, never hold a
 * consistent one.
 */
export function bindingsOf(code: string): Bindings {
  const text = code.replace(SOURCE_MAP, "");
  return { exports: exportsOf(text), uses: usesOf(text) };
}

function exportsOf(text: string): Set<string> | undefined {
  if (/\b__reExport\(/.test(text)) return undefined;
  const entry = /\bmodule\.exports = __toCommonJS\(([\w$]+)\)/.exec(text);
  if (!entry) return undefined;
  const names = new Set<string>();
  const block = new RegExp(`\\b__export\\(${escapeRe(entry[1]!)}, \\{([\\s\\S]*?)\\n\\}\\);`).exec(text);
  if (!block) return names; // ESM with no exports
  for (const m of block[1]!.matchAll(/^\s*(?:"((?:[^"\\]|\\.)*)"|([\w$]+)):\s*\(\) =>/gm))
    names.add(m[1] !== undefined ? (JSON.parse(`"${m[1]}"`) as string) : m[2]!);
  return names;
}

function usesOf(text: string): Map<string, Set<string> | undefined> {
  const uses = new Map<string, Set<string> | undefined>();
  for (const m of text.matchAll(PROJECT_REQUIRE)) {
    const [, local, module] = m as unknown as [string, string, string];
    const all = text.match(new RegExp(`(?<![\\w$.])${escapeRe(local)}(?![\\w$])`, "g"))?.length ?? 0;
    const named = [...text.matchAll(new RegExp(`(?<![\\w$.])${escapeRe(local)}\\.([\\w$]+)`, "g"))].map((x) => x[1]!);
    const prev = uses.has(module) ? uses.get(module) : new Set<string>();
    // One occurrence is the declaration; any other that is not `local.name` lets the namespace escape.
    if (prev === undefined || all - 1 > named.length) uses.set(module, undefined);
    else uses.set(module, new Set([...prev, ...named]));
  }
  return uses;
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}
