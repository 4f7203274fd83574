import type * as acorn from "acorn";
import * as walk from "acorn-walk";
import { PROJECT_MODULE_PREFIX } from "../../runtime/code/loader";
import { isIdentifier, parseOutput, requireSpec, stringLiteral } from "./outputTree";

/** What a compiled module exports and which names it reads from each project module it imports. */
export interface Bindings {
  /** its export names; undefined when they are not known statically (`export *`, plain CommonJS) */
  exports: Set<string> | undefined;
  /** per imported project module, the names read from it; undefined when the whole namespace escapes (`f(ns)`, `ns[k]`) */
  uses: Map<string, Set<string> | undefined>;
}

/**
 * Reads the bindings off esbuild's CommonJS output as a syntax tree:
 * `module.exports = __toCommonJS(x_exports)` and `__export(x_exports, { name: () => ... })`
 * for the exports, `var import_lib = require("devcluster:project/lib")` and
 * `import_lib.name` at each use. Anything else answers "not known", which
 * checks nothing: this may let an inconsistent set through, never hold a
 * consistent one.
 */
export function bindingsOf(code: string): Bindings {
  let tree: acorn.Program;
  try {
    tree = parseOutput(code);
  } catch {
    return { exports: undefined, uses: new Map() };
  }
  return bindingsOfTree(tree, (spec) => (spec.startsWith(PROJECT_MODULE_PREFIX) ? spec.slice(PROJECT_MODULE_PREFIX.length) : undefined));
}

/**
 * {@link bindingsOf} from a tree already parsed (the compiler's, before it
 * rewrote the specifiers): `moduleOf` names the project module a require's
 * specifier means, undefined for anything else.
 */
export function bindingsOfTree(tree: acorn.Program, moduleOf: (spec: string) => string | undefined): Bindings {
  return { exports: exportsOf(tree), uses: usesOf(tree, moduleOf) };
}

function exportsOf(tree: acorn.Program): Set<string> | undefined {
  let exportsVar: string | undefined;
  for (const s of tree.body) {
    const e = s.type === "ExpressionStatement" ? s.expression : undefined;
    // esbuild writes `export * from` as a top-level `__reExport(x_exports, require(...), module.exports)`.
    if (e?.type === "CallExpression" && isIdentifier(e.callee, "__reExport")) return undefined;
    if (e?.type !== "AssignmentExpression" || !isModuleExports(e.left)) continue;
    const call = e.right;
    if (call.type === "CallExpression" && isIdentifier(call.callee, "__toCommonJS") && call.arguments[0]?.type === "Identifier")
      exportsVar = call.arguments[0].name;
  }
  if (exportsVar === undefined) return undefined;
  const names = new Set<string>();
  for (const s of tree.body) {
    const call = s.type === "ExpressionStatement" ? s.expression : undefined;
    if (call?.type !== "CallExpression" || !isIdentifier(call.callee, "__export") || !isIdentifier(call.arguments[0], exportsVar)) continue;
    const list = call.arguments[1];
    if (list?.type !== "ObjectExpression") continue;
    for (const p of list.properties) {
      if (p.type !== "Property") continue;
      const name = p.key.type === "Identifier" ? p.key.name : stringLiteral(p.key);
      if (name !== undefined) names.add(name);
    }
  }
  return names;
}

function usesOf(tree: acorn.Program, moduleOf: (spec: string) => string | undefined): Map<string, Set<string> | undefined> {
  // The variables a project import is bound to at top level: `var import_lib = [__toESM(]require("devcluster:project/lib")[)]`.
  const locals = new Map<string, string>();
  for (const s of tree.body) {
    if (s.type !== "VariableDeclaration") continue;
    for (const d of s.declarations) {
      if (d.id.type !== "Identifier" || !d.init) continue;
      const init = d.init.type === "CallExpression" && isIdentifier(d.init.callee, "__toESM") ? d.init.arguments[0] : d.init;
      const spec = init && requireSpec(init);
      const module = spec === undefined ? undefined : moduleOf(spec);
      if (module !== undefined) locals.set(d.id.name, module);
    }
  }
  const uses = new Map<string, Set<string> | undefined>();
  for (const module of locals.values()) uses.set(module, new Set());
  if (locals.size === 0) return uses;
  // Identifier fires for references only: declarations, property keys and `a.b`'s `b` are other node kinds.
  walk.ancestor(tree, {
    Identifier(node, _state, ancestors) {
      const module = locals.get(node.name);
      if (module === undefined) return;
      const names = uses.get(module);
      if (names === undefined) return;
      const parent = ancestors[ancestors.length - 2];
      const name = parent?.type === "MemberExpression" && parent.object === node ? memberName(parent) : undefined;
      // Any other use (`f(lib)`, `lib[k]`) lets the namespace escape: every name may be read.
      if (name === undefined) uses.set(module, undefined);
      else names.add(name);
    },
  });
  return uses;
}

function memberName(m: acorn.MemberExpression): string | undefined {
  if (!m.computed) return m.property.type === "Identifier" ? m.property.name : undefined;
  return stringLiteral(m.property);
}

function isModuleExports(node: acorn.Node): boolean {
  if (node.type !== "MemberExpression") return false;
  const m = node as acorn.MemberExpression;
  return isIdentifier(m.object, "module") && memberName(m) === "exports";
}
