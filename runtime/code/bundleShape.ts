/**
 * What a node can read from a bundle without running it: the names it exports,
 * the project modules it re-exports with `export *`, the names it uses from each
 * project module it imports, and its exported function declarations. PREPARE
 * checks a change set with it (docs/design.md §6), and the loader instruments the
 * bundle with it before evaluating (§4.1, §4.2).
 *
 * It reads esbuild's CommonJS output, whose shape is fixed by esbuild's runtime
 * helpers: `__export(x_exports, { name: () => local, ... })`,
 * `module.exports = __toCommonJS(x_exports)`, `var import_m = require("...")`,
 * `__reExport(x_exports, require("..."), module.exports)`. When that shape is not
 * found (a hand-written `module.exports = ...`), `exports` is undefined and the
 * checks that need it are skipped rather than guessed.
 */
/** How a bundle names another project module: `require("devcluster:project/chat/room")`. cli/save/compiler.ts writes it, the loader answers it. */
export const PROJECT_MODULE_PREFIX = "devcluster:project/";

export interface BundleShape {
  /** Export name -> the local identifier its getter returns (`default` -> `m_default`); undefined when not esbuild's shape. */
  exports?: Map<string, string>;
  /** Project modules re-exported whole (`export * from "./lib"`), in source order. */
  stars: string[];
  /** Project module -> the names this bundle reads from it (`import { a }`, `lib.a` on `import * as lib`, `export { a } from`). */
  uses: Map<string, Set<string>>;
  /** Export names whose local is a top-level function declaration, with that local: a module-internal reference to it can be redirected. */
  functions: Map<string, string>;
  /** Export names whose local is a top-level class, with that local: its methods are made trampolines where it is defined. */
  classes: Map<string, string>;
  /** The identifier of the exports object (`stdin_exports`), when found. */
  exportsVar?: string;
}

const IDENT = "[A-Za-z_$][\\w$]*";
const EXPORTS_VAR = new RegExp(`^module\\.exports = __toCommonJS\\((${IDENT})\\);`, "m");
const IMPORT_VAR = new RegExp(`\\bvar (${IDENT}) = (?:__toESM\\()?require\\(("${escape(PROJECT_MODULE_PREFIX)}[^"]+")\\)`, "g");
const STAR = new RegExp(`__reExport\\((${IDENT}), require\\(("${escape(PROJECT_MODULE_PREFIX)}[^"]+")\\)`, "g");
const EXPORT_ENTRY = new RegExp(`^\\s+(${IDENT}|"(?:[^"\\\\]|\\\\.)*"): \\(\\) => (${IDENT}),?$`);
// Strings, template literals and comments, so `"see lib.x"` is not read as a use of lib.x.
const NOT_CODE = /\/\/[^\n]*|\/\*[\s\S]*?\*\/|"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`/g;

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

/** Reads `code` (one bundle from cli/save/compiler.ts). Pure; a few regex passes over the text. */
export function readBundle(code: string): BundleShape {
  const shape: BundleShape = { stars: [], uses: new Map(), functions: new Map(), classes: new Map() };
  const exportsVar = EXPORTS_VAR.exec(code)?.[1];
  if (exportsVar !== undefined) {
    shape.exportsVar = exportsVar;
    const head = `__export(${exportsVar}, {\n`;
    const at = code.indexOf(head);
    const exports = new Map<string, string>();
    if (at >= 0) {
      const end = code.indexOf("\n});", at);
      for (const line of code.slice(at + head.length, end).split("\n")) {
        const m = EXPORT_ENTRY.exec(line);
        if (m) exports.set(m[1]!.startsWith('"') ? (JSON.parse(m[1]!) as string) : m[1]!, m[2]!);
      }
    }
    shape.exports = exports;
    for (const [name, local] of exports) {
      if (new RegExp(`^(?:async )?function\\*? ?${escape(local)}\\(`, "m").test(code)) shape.functions.set(name, local);
      else if (classStart(local).test(code)) shape.classes.set(name, local);
    }
  }
  for (const m of code.matchAll(STAR)) {
    if (m[1] === exportsVar) shape.stars.push(moduleOf(m[2]!));
  }
  const vars = new Map<string, string>();
  for (const m of code.matchAll(IMPORT_VAR)) {
    const mod = moduleOf(m[2]!);
    vars.set(m[1]!, mod);
    if (!shape.uses.has(mod)) shape.uses.set(mod, new Set());
  }
  if (vars.size > 0) {
    const text = code.replace(NOT_CODE, '""');
    for (const [v, mod] of vars) {
      const names = shape.uses.get(mod)!;
      for (const m of text.matchAll(new RegExp(`(?<![\\w$.])${escape(v)}\\.(${IDENT})`, "g"))) names.add(m[1]!);
    }
  }
  return shape;
}

/** esbuild prints a top-level class as `class K {` or `var K = class {`, and closes it with `}` or `};` at column 0. */
function classStart(local: string): RegExp {
  return new RegExp(`^(?:class ${escape(local)}\\b|var ${escape(local)} = class\\b)[^\\n]*\\{$`, "m");
}

function moduleOf(quoted: string): string {
  return (JSON.parse(quoted) as string).slice(PROJECT_MODULE_PREFIX.length);
}

/** The identifier the instrumented bundle reads the loader's helpers from (a parameter of the loader's wrapper). */
export const LIVE = "__devcluster_live";

/**
 * The bundle as the loader evaluates it, line for line the same (so its inline
 * source map still holds):
 * - esbuild's `__toESM` and `__reExport` are routed through the loader's, which
 *   hand out the live facade of a project module instead of a copy of its
 *   current names (`import * as lib`, `export * from`, docs/design.md §4.1);
 * - each exported function declaration is rebound, before any top-level code
 *   runs, to a trampoline, so the module's own references to it (`setInterval(tick)`)
 *   follow later versions (§4.2).
 */
export function instrument(code: string, shape: BundleShape): string {
  let out = code.replace(
    /^var (__toESM|__reExport) = /gm,
    (_m, helper: string) => `var ${helper} = ${LIVE}.${helper}(() => ${helper}_esbuild), ${helper}_esbuild = `,
  );
  if (shape.exportsVar !== undefined && shape.functions.size > 0) {
    const rebinds: string[] = [];
    const done = new Set<string>();
    for (const [name, local] of shape.functions) {
      if (done.has(local)) continue;
      done.add(local);
      rebinds.push(`${local} = ${LIVE}.own(${JSON.stringify(name)}, ${local});`);
    }
    const line = `module.exports = __toCommonJS(${shape.exportsVar});`;
    out = out.replace(line, () => `${line} ${rebinds.join(" ")}`);
  }
  // Each exported class hands its methods to the loader right after its definition, before any top-level code
  // can bind one (`setInterval(this.tock.bind(this))` in a constructor run at load).
  for (const [name, local] of shape.classes) {
    const start = classStart(local).exec(out);
    if (!start) continue;
    const close = /^\};?$/m;
    close.lastIndex = 0;
    const rest = out.slice(start.index);
    const end = close.exec(rest);
    if (!end) continue;
    const at = start.index + end.index + end[0].length;
    out = `${out.slice(0, at)} ${LIVE}.cls(${JSON.stringify(name)}, ${local});${out.slice(at)}`;
  }
  return out;
}
