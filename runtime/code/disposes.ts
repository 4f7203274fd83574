/**
 * Whether a bundle may register a `hot.dispose` callback, read off its syntax
 * tree: such a module holds something across versions (a server on a port), so
 * its new top level must not run beside the old one (docs/design.md §6). A
 * regex over the text (`/\.dispose\(/`) took `sub.dispose()` on any object and
 * `"hot.dispose("` in a string for it, and missed `hot["dispose"](cb)`.
 *
 * The hot object is `__devcluster_hot` (what `import.meta.hot` compiles to),
 * `<x>.hot` where `x` is the module's `require("devcluster")` (plain or through
 * esbuild's `__toESM`), or a top-level alias of either (`const h = import.meta.hot`,
 * `const { hot } = require("devcluster")`). A read of its `dispose` counts, called
 * or not; so does a use the tree cannot follow (the hot object or the devcluster
 * module handed to a function, a computed member `hot[k]`): the answer errs on
 * "yes", which only moves the module's top level to COMMIT.
 */
import type { AnyNode, Expression, Node, Pattern, Program } from "acorn";
import { ancestor } from "acorn-walk";

const HOT = "__devcluster_hot";

/** Whether the bundle whose tree is `program` may register a `hot.dispose` callback; errs on yes. */
export function disposes(program: Program): boolean {
  const hots = new Set([HOT]);
  const runtimes = new Set<string>();
  /** top-level declarators of an alias recorded here: their init is not a use that escapes */
  const aliases = new Set<Node>();
  for (const stmt of program.body) {
    if (stmt.type !== "VariableDeclaration") continue;
    for (const d of stmt.declarations) {
      if (!d.init) continue;
      if (d.id.type === "Identifier" && isHot(d.init, hots, runtimes)) hots.add(d.id.name);
      else if (d.id.type === "Identifier" && isRuntime(d.init, runtimes)) runtimes.add(d.id.name);
      else if (d.id.type === "ObjectPattern" && isRuntime(d.init, runtimes) && plainNames(d.id)) {
        for (const p of d.id.properties) if (p.type === "Property" && keyName(p.key) === "hot" && p.value.type === "Identifier") hots.add(p.value.name);
      } else continue;
      aliases.add(d);
    }
  }
  let found = false;
  /** `e` is the hot object; `parent` holds it. */
  const use = (e: Node, parent: AnyNode | undefined): void => {
    if (parent === undefined || (parent.type === "VariableDeclarator" && aliases.has(parent))) return;
    if (parent.type === "MemberExpression" && parent.object === e) {
      const name = memberName(parent);
      if (name === undefined || name === "dispose") found = true;
      return;
    }
    // Tested, not handed on: `if (import.meta.hot)`, `!hot`, `hot && hot.accept()`.
    if (parent.type === "IfStatement" || parent.type === "UnaryExpression" || parent.type === "BinaryExpression") return;
    if (parent.type === "ConditionalExpression" && parent.test === e) return;
    if (parent.type === "LogicalExpression" && parent.operator === "&&" && parent.left === e) return;
    found = true;
  };
  ancestor(program, {
    Identifier(n, _state, path) {
      if (found) return;
      const parent = path[path.length - 2];
      if (hots.has(n.name)) return use(n, parent);
      // The devcluster module: a name bound to it, or a `require("devcluster")` (n is its callee).
      let node: AnyNode;
      let i: number;
      if (runtimes.has(n.name)) [node, i] = [n, path.length - 2];
      else if (parent && isRequireOfRuntime(parent, n)) [node, i] = [parent, path.length - 3];
      else return;
      let outer = path[i];
      while (outer?.type === "CallExpression" && isNamed(outer.callee, "__toESM") && outer.arguments[0] === node) [node, outer] = [outer, path[--i]];
      if (outer === undefined || (outer.type === "VariableDeclarator" && aliases.has(outer))) return;
      if (outer.type === "MemberExpression" && outer.object === node) {
        const name = memberName(outer);
        if (name === "hot") use(outer, path[i - 1]);
        else if (name === undefined) found = true;
        return;
      }
      // Handed to a function, re-exported, stored: whoever gets it may call hot.dispose.
      found = true;
    },
  });
  return found;
}

/** `require("devcluster")` whose callee `n` is: the call is `parent`. */
function isRequireOfRuntime(parent: AnyNode, n: Node): boolean {
  return parent.type === "CallExpression" && parent.callee === n && isRequire(parent);
}

function isRequire(e: AnyNode): boolean {
  return (
    e.type === "CallExpression" &&
    isNamed(e.callee, "require") &&
    e.arguments.length === 1 &&
    e.arguments[0]!.type === "Literal" &&
    e.arguments[0]!.value === "devcluster"
  );
}

/** `require("devcluster")`, `__toESM(require("devcluster"))`, or a name already known to be the module. */
function isRuntime(e: Expression, runtimes: ReadonlySet<string>): boolean {
  if (e.type === "Identifier") return runtimes.has(e.name);
  if (e.type === "CallExpression" && isNamed(e.callee, "__toESM") && e.arguments[0]) return isRuntime(e.arguments[0] as Expression, runtimes);
  return isRequire(e);
}

/** The hot object: `__devcluster_hot` or a known alias, or `<runtime>.hot`. */
function isHot(e: Expression, hots: ReadonlySet<string>, runtimes: ReadonlySet<string>): boolean {
  if (e.type === "Identifier") return hots.has(e.name);
  return e.type === "MemberExpression" && e.object.type !== "Super" && isRuntime(e.object, runtimes) && memberName(e) === "hot";
}

/** `{ hot, spawn: s }`: names taken out of the module, each bound to a plain name (no rest, no nested pattern, no computed key). */
function plainNames(p: Pattern): boolean {
  return p.type === "ObjectPattern" && p.properties.every((q) => q.type === "Property" && !q.computed && q.value.type === "Identifier");
}

function keyName(k: AnyNode): string | undefined {
  return k.type === "Identifier" ? k.name : k.type === "Literal" && typeof k.value === "string" ? k.value : undefined;
}

function isNamed(n: AnyNode, name: string): boolean {
  return n.type === "Identifier" && n.name === name;
}

function memberName(m: { computed: boolean; property: AnyNode }): string | undefined {
  if (!m.computed) return m.property.type === "Identifier" ? m.property.name : undefined;
  return m.property.type === "Literal" && typeof m.property.value === "string" ? m.property.value : undefined;
}
