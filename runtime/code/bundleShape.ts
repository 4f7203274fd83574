/**
 * What a node can read from a bundle without running it: the names it exports,
 * the project modules it re-exports with `export *`, the names it uses from each
 * project module it imports, its exported function declarations and classes
 * (with their fields), its loops and requires. PREPARE checks a change set with
 * it (docs/design.md §6), the loader instruments the bundle with it before
 * evaluating (§4.1, §4.2, `instrument.ts`), and the watchdog reads its loops.
 *
 * One acorn parse of esbuild's CommonJS output, whose shape is fixed by
 * esbuild's runtime helpers: `__export(x_exports, { name: () => local, ... })`,
 * `module.exports = __toCommonJS(x_exports)`, `var import_m = require("...")`,
 * `__reExport(x_exports, require("..."), module.exports)`. When that shape is not
 * found (a hand-written `module.exports = ...`), `exports` is undefined and the
 * checks that need it are skipped rather than guessed. A syntax tree, not
 * regexes, so `"see lib.x"` in a string is not a use of lib.x and a `for` in a
 * comment is not a loop.
 */
import { Parser, type AnyNode, type Class, type Expression, type Options, type Program, type Statement } from "acorn";
import { simple } from "acorn-walk";
import type { Sites } from "../../wire/moduleShape";
import { fieldsOf } from "./classFields";
import { declaredNames } from "./declaredNames";
import { disposes } from "./disposes";

export type { ClassSite, Sites } from "../../wire/moduleShape";

/** How a bundle names another project module: `require("devcluster:project/chat/room")`. cli/save/compiler.ts writes it, the loader answers it. */
export const PROJECT_MODULE_PREFIX = "devcluster:project/";

export interface BundleShape {
  /** Export name -> what its getter returns: a local identifier (`default` -> `m_default`), or the text of a re-export (`import_w.Widget`); undefined when not esbuild's shape. */
  exports?: Map<string, string>;
  /** Project modules re-exported whole (`export * from "./lib"`), in source order. */
  stars: string[];
  /** Project module -> the names this bundle reads from it (`import { a }`, `lib.a` on `import * as lib`, `export { a } from`). */
  uses: Map<string, Set<string>>;
  /** Export names whose local is a top-level function declaration, with that local: a module-internal reference to it can be redirected. */
  functions: Map<string, string>;
  /** Export names whose local is a top-level class, with that local: its methods are made trampolines where it is defined. */
  classes: Map<string, string>;
  /** Export names whose local is a top-level `let` or `var` the module assigns again (`export let now = ...; now = ...`): importers read the binding live. */
  bindings: Set<string>;
  /** The identifier of the exports object (`stdin_exports`), when found. */
  exportsVar?: string;
  /** A loop anywhere outside esbuild's own helpers (for the watchdog); true when the text does not parse. */
  loops: boolean;
  /** Every `require("literal")`, in order. */
  requires: string[];
  /** A `require` that is not a call with a string literal (`require(name)`, `const r = require`): it cannot be followed. */
  dynamicRequire: boolean;
  /** It may register a `hot.dispose` callback (`disposes.ts`), so its top level waits for COMMIT; true when the text does not parse. */
  disposes: boolean;
  /** @internal Where the loader's instrumentation goes, from the same parse (`instrument.ts`). */
  sites: Sites;
  /** Its top-level names in declaration order, esbuild's helpers first: the layout of its scope (moduleScope.ts). */
  top: string[];
}

/** The identifier the instrumented bundle reads the loader's helpers from (a parameter of the loader's wrapper). */
export const LIVE = "__devcluster_live";

/** esbuild helpers the loader replaces with its own (see instrument.ts). */
const ROUTED = new Set(["__toESM", "__reExport", "__privateGet", "__privateSet", "__privateAdd", "__privateMethod", "__privateIn"]);
/** esbuild's helpers whose loops are finite (over an object's keys, a list of decorators). */
const FINITE_HELPERS = new Set(["__export", "__copyProps", "__decorateClass", "__decorateElement", "__runInitializers", "__decoratorMetadata"]);

/**
 * The last bundles read: PREPARE reads each bundle, then the watchdog reads it and its importees again; a
 * string's hash is computed once and kept by V8, so a hit costs a lookup, not a parse. Shapes are never changed after.
 */
const recent = new Map<string, BundleShape>();
const RECENT = 64;

/** Reads `code` (one bundle from cli/save/compiler.ts). Pure; one parse, kept for the next {@link RECENT} reads of other bundles. */
export function readBundle(code: string): BundleShape {
  const known = recent.get(code);
  if (known) return known;
  const shape = read(code);
  if (recent.size >= RECENT) recent.delete(recent.keys().next().value!);
  recent.set(code, shape);
  return shape;
}

function read(code: string): BundleShape {
  const shape: BundleShape = {
    stars: [],
    uses: new Map(),
    functions: new Map(),
    classes: new Map(),
    bindings: new Set(),
    loops: false,
    requires: [],
    dynamicRequire: false,
    disposes: false,
    sites: { helpers: [], classes: [], privates: [] },
    top: [],
  };
  const lineComments: [number, number][] = [];
  let program: Program;
  // The inline source map is a third of a bundle and only a comment: the parse stops before it.
  const map = code.lastIndexOf("\n//# sourceMappingURL=");
  const text = map >= 0 ? code.slice(0, map) : code;
  // esbuild's runtime helpers open every bundle, over half of a small one, and are the same text in each: they are
  // read with a regex and the parse starts after them (positions kept), which halves a small module's cost on a node,
  // where the parser runs cold at each save. Only when everything before the exports object is helpers (else: parsed).
  const preamble = helpersEnd(text);
  for (const m of preamble > 0 ? text.slice(0, preamble).matchAll(/^var (__\w+) = /gm) : []) {
    shape.top.push(m[1]!);
    if (ROUTED.has(m[1]!)) shape.sites.helpers.push({ name: m[1]!, at: m.index + m[0].length });
  }
  try {
    program = new (Parser as unknown as ParserFrom)(
      {
        ecmaVersion: "latest",
        sourceType: "script",
        allowReturnOutsideFunction: true,
        allowHashBang: true,
        onComment: (block, _text, start, end) => {
          if (!block) lineComments.push([start, end]);
        },
      },
      text,
      preamble,
    ).parse();
  } catch {
    // Not JavaScript: the loader's compile reports the syntax error; nothing here is guessed or instrumented.
    shape.loops = true;
    shape.disposes = true;
    shape.sites.helpers = [];
    return shape;
  }
  const source = (n: { start: number; end: number }): string => code.slice(n.start, n.end);
  for (const name of declaredNames(program.body as unknown as Parameters<typeof declaredNames>[0])) if (!shape.top.includes(name)) shape.top.push(name);

  // Top-level bindings: what each name is, so an export's local can be classified.
  const classOf = new Map<string, Class>();
  const aliasOf = new Map<string, string>();
  const declaredBy = new Map<string, { kind: "function" | "let" | "var" | "const" | "class"; stmt: Statement }>();
  const importVars = new Map<string, string>();
  let exportsObject: { var: string; props: AnyNode[] } | undefined;
  let lastClass: string | undefined;
  const privates: { cls: string; member: string; start: number; end: number }[] = [];
  const stars: { target: string; spec: string }[] = [];
  /** names of top-level `var a, b;` declarations without initializers, as esbuild declares lowered private stores */
  const bareVars = new Set<string>();

  for (const stmt of program.body) {
    if (stmt.type === "FunctionDeclaration" && stmt.id) declaredBy.set(stmt.id.name, { kind: "function", stmt });
    else if (stmt.type === "ClassDeclaration" && stmt.id) {
      declaredBy.set(stmt.id.name, { kind: "class", stmt });
      classOf.set(stmt.id.name, stmt);
      lastClass = stmt.id.name;
    } else if (stmt.type === "VariableDeclaration") {
      if (stmt.kind === "var" && stmt.declarations.every((d) => !d.init)) {
        for (const d of stmt.declarations) if (d.id.type === "Identifier") bareVars.add(d.id.name);
      }
      for (const d of stmt.declarations) {
        if (d.id.type !== "Identifier") continue;
        const name = d.id.name;
        declaredBy.set(name, { kind: stmt.kind === "using" || stmt.kind === "await using" ? "const" : stmt.kind, stmt });
        const init = d.init;
        if (!init) continue;
        if (init.type === "ClassExpression") {
          classOf.set(name, init);
          lastClass = name;
        } else if (init.type === "Identifier") aliasOf.set(name, init.name);
        if (ROUTED.has(name)) shape.sites.helpers.push({ name, at: init.start });
        const spec = requiredProject(init);
        if (spec !== undefined) importVars.set(name, spec);
      }
    } else if (stmt.type === "ExpressionStatement") {
      const e = stmt.expression;
      if (e.type === "CallExpression" && e.callee.type === "Identifier" && e.arguments.length >= 2) {
        const [target, second] = e.arguments;
        if (e.callee.name === "__export" && target?.type === "Identifier" && second?.type === "ObjectExpression") {
          exportsObject = { var: target.name, props: second.properties };
        } else if (e.callee.name === "__reExport" && target?.type === "Identifier") {
          const spec = second && second.type !== "SpreadElement" ? requiredProject(second) : undefined;
          if (spec !== undefined) stars.push({ target: target.name, spec });
        }
      } else if (
        e.type === "AssignmentExpression" &&
        e.operator === "=" &&
        e.left.type === "MemberExpression" &&
        source(e.left) === "module.exports" &&
        e.right.type === "CallExpression" &&
        e.right.callee.type === "Identifier" &&
        e.right.callee.name === "__toCommonJS" &&
        e.right.arguments[0]?.type === "Identifier"
      ) {
        shape.exportsVar = e.right.arguments[0].name;
        shape.sites.afterExports = stmt.end;
      } else if (
        e.type === "AssignmentExpression" &&
        e.operator === "=" &&
        e.left.type === "Identifier" &&
        // esbuild declares a lowered member's store first (`var _balance, _Account_instances;`) and names it with a `_`:
        // a module's own `cache = new WeakMap()` is left alone
        e.left.name.startsWith("_") &&
        bareVars.has(e.left.name) &&
        e.right.type === "NewExpression" &&
        e.right.callee.type === "Identifier" &&
        (e.right.callee.name === "WeakMap" || e.right.callee.name === "WeakSet") &&
        e.right.arguments.length === 0 &&
        lastClass !== undefined
      ) {
        privates.push({ cls: lastClass, member: e.left.name, start: e.right.start, end: e.right.end });
      }
    }
  }
  // A star re-export counts only when it targets the exports object (esbuild's shape).
  shape.stars = stars.filter((s) => s.target === shape.exportsVar).map((s) => s.spec);

  // One walk: uses of imported modules, loops, requires, assigned names.
  const assigned = new Set<string>();
  let requireCallees = 0;
  let requireRefs = 0;
  for (const stmt of program.body) {
    const helper = stmt.type === "VariableDeclaration" && stmt.declarations.some((d) => d.id.type === "Identifier" && FINITE_HELPERS.has(d.id.name));
    const loop = (): void => {
      if (!helper) shape.loops = true;
    };
    simple(stmt, {
      ForStatement: loop,
      ForInStatement: loop,
      ForOfStatement: loop,
      WhileStatement: loop,
      DoWhileStatement: loop,
      MemberExpression(n) {
        if (n.object.type !== "Identifier") return;
        const mod = importVars.get(n.object.name);
        if (mod === undefined) return;
        const name =
          !n.computed && n.property.type === "Identifier"
            ? n.property.name
            : n.property.type === "Literal" && typeof n.property.value === "string"
              ? n.property.value
              : undefined;
        if (name !== undefined) usesOf(shape, mod).add(name);
      },
      CallExpression(n) {
        if (n.callee.type !== "Identifier" || n.callee.name !== "require") return;
        const arg = n.arguments[0];
        if (n.arguments.length === 1 && arg?.type === "Literal" && typeof arg.value === "string") {
          requireCallees++;
          shape.requires.push(arg.value);
        }
      },
      Identifier(n) {
        if (n.name === "require") requireRefs++;
      },
      AssignmentExpression(n) {
        if (n.left.type === "Identifier") assigned.add(n.left.name);
      },
      UpdateExpression(n) {
        if (n.argument.type === "Identifier") assigned.add(n.argument.name);
      },
    });
  }
  shape.dynamicRequire = requireRefs > requireCallees;
  shape.disposes = disposes(program);
  for (const mod of importVars.values()) usesOf(shape, mod);

  /** class binding -> its export name, so a private member's key survives renaming an exported class (`export default class`) */
  const exportOf = new Map<string, string>();
  // esbuild names a lowered `#balance` `_balance`, and `_balance2` when another class of the module has one too;
  // the key names the class by its export name, drops that suffix and counts instead, so it names the same member in every version.
  const finish = (): BundleShape => {
    const counts = new Map<string, number>();
    for (const p of privates) {
      const base = `${exportOf.get(p.cls) ?? p.cls.replace(/^_+/, "").replace(/\d+$/, "")}:${p.member.replace(/\d+$/, "")}`;
      const n = counts.get(base) ?? 0;
      counts.set(base, n + 1);
      shape.sites.privates.push({ key: `${base}:${n}`, start: p.start, end: p.end });
    }
    return shape;
  };
  if (shape.exportsVar === undefined || exportsObject?.var !== shape.exportsVar) {
    // No exports object, and nothing that could export another way (`module.exports =`, `exports.x =`): a file saved
    // with everything commented out, or emptied, exports nothing; the rule on removed exports must see that.
    if (shape.exportsVar !== undefined || !mentionsExports(program)) shape.exports = new Map();
    return finish();
  }
  const exports = new Map<string, string>();
  for (const p of exportsObject.props) {
    if (p.type !== "Property" || p.computed) continue;
    const name = p.key.type === "Identifier" ? p.key.name : p.key.type === "Literal" ? String(p.key.value) : undefined;
    if (name === undefined || p.value.type !== "ArrowFunctionExpression" || p.value.body.type === "BlockStatement") continue;
    exports.set(name, p.value.body.type === "Identifier" ? p.value.body.name : source(p.value.body));
  }
  shape.exports = exports;
  const seenClass = new Set<string>();
  for (const [name, local] of exports) {
    const decl = declaredBy.get(local);
    if (!decl) continue;
    if (decl.kind === "function") {
      shape.functions.set(name, local);
      continue;
    }
    let target = local;
    for (let hops = 0; !classOf.has(target) && aliasOf.has(target) && hops < 4; hops++) target = aliasOf.get(target)!;
    const cls = classOf.get(target);
    if (cls) {
      shape.classes.set(name, local);
      if (!exportOf.has(target)) exportOf.set(target, name);
      if (seenClass.has(local)) continue;
      seenClass.add(local);
      shape.sites.classes.push({
        exportName: name,
        local,
        bodyOpen: cls.body.start + 1,
        bodyClose: cls.body.end - 1,
        after: decl.stmt.end,
        ...fieldsOf(cls, code, lineComments),
      });
    } else if ((decl.kind === "let" || decl.kind === "var") && assigned.has(local)) {
      shape.bindings.add(name);
    }
  }
  shape.sites.classes.sort((a, b) => a.after - b.after);
  return finish();
}

/** acorn's Parser starts reading at `startPos` when given one; its typings keep the constructor protected. */
type ParserFrom = new (options: Options, input: string, startPos: number) => { parse(): Program };

/**
 * Where esbuild's runtime helpers end: the start of its exports object
 * (`var x_exports = {};`), when every line before it at column 0 opens a helper
 * (`var __name = `), closes one, or is a comment or "use strict"; 0 otherwise (a bundle without exports, code
 * of an inlined file among them), and the whole text is parsed.
 */
function helpersEnd(text: string): number {
  const at = text.search(/^var [\w$]+_exports = \{\};$/m);
  if (at <= 0) return 0;
  for (const line of text.slice(0, at).split("\n")) {
    if (line === "" || line === '"use strict";' || /^(?:var __\w+ = |\/\/ |[\s}\])])/.test(line)) continue;
    return 0;
  }
  return at;
}

function usesOf(shape: BundleShape, mod: string): Set<string> {
  let names = shape.uses.get(mod);
  if (!names) shape.uses.set(mod, (names = new Set()));
  return names;
}

/** `require("devcluster:project/m")` or `__toESM(require(...))` -> "m". */
function requiredProject(e: Expression): string | undefined {
  if (e.type === "CallExpression" && e.callee.type === "Identifier" && e.callee.name === "__toESM" && e.arguments[0]?.type === "CallExpression") {
    e = e.arguments[0];
  }
  if (e.type !== "CallExpression" || e.callee.type !== "Identifier" || e.callee.name !== "require") return undefined;
  const arg = e.arguments[0];
  if (arg?.type !== "Literal" || typeof arg.value !== "string" || !arg.value.startsWith(PROJECT_MODULE_PREFIX)) return undefined;
  return arg.value.slice(PROJECT_MODULE_PREFIX.length);
}

/** Whether a script names `exports` or `module` anywhere: how a CommonJS file exports, which its text may not show. */
function mentionsExports(program: Program): boolean {
  let found = false;
  simple(program, {
    Identifier(n) {
      if (n.name === "exports" || n.name === "module") found = true;
    },
  });
  return found;
}
