/**
 * A module's top-level scope, kept the same shape across its versions so that V8's
 * LiveEdit can still patch the closures of an earlier version after a save adds,
 * removes or moves a top-level binding (docs/design.md §4.2).
 *
 * V8 patches a closure in place only when every variable its enclosing scopes keep
 * in a context slot has the same slot index and name in the new text (liveedit.cc,
 * `HasChangedScope`); otherwise it keeps the old body and still answers "Ok".
 * Context slots are given in declaration order to the variables some inner function
 * reads. So a save that adds `import { log } from "./log"` used in a timer callback
 * would leave every earlier closure of the module on its old body for good.
 *
 * What keeps the shape:
 * - every version's script ends with a tail that reads each top-level binding, in
 *   declaration order, and every parameter of the loader's wrapper from an inner
 *   function, so all of them are in the context, in an order read off the text
 *   (the tail also names them, for the next patch, and hands the loader a way to
 *   read them);
 * - the text that patches an earlier script declares that script's bindings first,
 *   in its order, with `var` (so the version's own `const`, `let` and `class`
 *   declarations become `var` and assignments), and its closures read any binding
 *   the earlier script does not have through the module's holder
 *   (`__devcluster_top.log`), whose getters read the current version's binding.
 *
 * A patched script's top level never runs again, so only its functions need to be
 * right. Every edit stays on its line: the inline source map still holds.
 */
import * as acorn from "acorn";
import { analyze } from "eslint-scope";
import type * as ESTree from "estree";
import { LIVE, type BundleShape } from "./bundleShape";
import { applyEdits, type Edit } from "./textEdits";
import { IMPORT_META } from "./importMeta";
import type { Instance, ModuleEntry } from "./moduleTable";

/** The wrapper parameter through which a patched closure reads a binding its own script lacks. */
export const TOP = "__devcluster_top";

/** The loader's wrapper's parameters (evaluate.ts), read by every version's tail so each keeps its context slot. */
export const WRAPPER_PARAMS: readonly string[] = ["exports", "require", "module", "__filename", "__dirname", "__devcluster_hot", LIVE, IMPORT_META, TOP];

const MARK = `\n;${LIVE}.expose(`;
const LAYOUT_FN = "function __devcluster_layout(k)";
/** Before the names a patch's closures read through the holder although the script has their slot (changed consts). */
const HELD = ", /* held */ ";

type Node = acorn.Node & Record<string, unknown>;

function parse(code: string, ranges = false): Node {
  // eslint-scope reads `range` off identifiers.
  return acorn.parse(code, { ecmaVersion: "latest", sourceType: "script", allowReturnOutsideFunction: true, allowHashBang: true, ranges }) as unknown as Node;
}

/**
 * The top-level names of a bundle as the loader instruments it, in declaration
 * order: the shape's, with the `<helper>_esbuild` each routed esbuild helper's
 * declaration gains right after it (instrument.ts).
 */
export function layoutNames(shape: BundleShape): string[] {
  const routed = new Set(shape.sites.helpers.map((h) => h.name));
  return shape.top.flatMap((n) => (routed.has(n) ? [n, `${n}_esbuild`] : [n]));
}

/**
 * What ends every version's script, and every patch text, before the wrapper's
 * `});`: one line that reads `names` (in this order) and the wrapper's parameters
 * from an inner function. In a loaded version it also runs, and hands the loader
 * that function (the holder's getters call it); a patch's never runs.
 */
export function scopeTail(names: readonly string[], clear: readonly string[] = [], held: readonly string[] = []): string {
  const cases = names.map((n, i) => `case ${i}: return ${n};`).join(" ");
  // A patch's: empties the bindings the new version no longer has, which nothing of the patched script reads any more.
  const empty = clear.length > 0 ? ` case -1: ${clear.map((n) => `${n} = void 0;`).join(" ")} return;` : "";
  return `${MARK}${JSON.stringify(names)}, ${LAYOUT_FN} { switch (k) { ${cases}${empty} } return [${WRAPPER_PARAMS.join(", ")}]; }${held.length > 0 ? `${HELD}${JSON.stringify(held)}` : ""});`;
}

/** The names a script's tail reads, in order; undefined for a text without one. */
export function layoutOf(text: string): string[] | undefined {
  const at = text.lastIndexOf(MARK);
  if (at < 0) return undefined;
  const from = at + MARK.length;
  const end = text.indexOf(`, ${LAYOUT_FN}`, from);
  if (end < 0) return undefined;
  try {
    return JSON.parse(text.slice(from, end)) as string[];
  } catch {
    return undefined;
  }
}

/** The names a patch text's closures read through the holder although its script has a slot for them. */
function heldOf(text: string): string[] {
  const at = text.lastIndexOf(HELD);
  if (at < 0 || at < text.lastIndexOf(MARK)) return [];
  const from = at + HELD.length;
  try {
    return JSON.parse(text.slice(from, text.indexOf("]", from) + 1)) as string[];
  } catch {
    return [];
  }
}

/**
 * The top-level `const`s of `after` whose initializer differs from `before`'s
 * declaration of the same name (both whole scripts): `const GREETING = "v2"`.
 */
export function changedConsts(before: string, after: string): string[] {
  const was = initializers(before);
  const out: string[] = [];
  for (const [name, init] of initializers(after)) {
    const w = was.get(name);
    if (init.kind === "const" && w !== undefined && w.text !== init.text) out.push(name);
  }
  return out;
}

const inits = new Map<string, Map<string, { kind: string; text: string }>>();

/** Each top-level `x = init` declarator of a whole script: its declaration's kind and its initializer's text. Cached per text. */
function initializers(text: string): Map<string, { kind: string; text: string }> {
  const hit = inits.get(text);
  if (hit) return hit;
  const out = new Map<string, { kind: string; text: string }>();
  const code = withoutTail(text);
  let stmts: Node[] = [];
  try {
    stmts = ((wrapperOf(parse(`${code}\n});`))?.body as Node | undefined)?.body ?? []) as Node[];
  } catch {
    // not JavaScript: nothing to compare
  }
  for (const s of stmts) {
    if (s.type !== "VariableDeclaration") continue;
    for (const d of s.declarations as Node[]) {
      const id = d.id as Node;
      const init = d.init as Node | null;
      // A patch text declares with `var  ` what its version declared with `const`: the initializer's text is what counts.
      if (id.type === "Identifier" && init) out.set(id.name as string, { kind: s.kind as string, text: code.slice(init.start, init.end) });
    }
  }
  if (inits.size > 200) inits.clear();
  inits.set(text, out);
  return out;
}

/** The text before the tail (the wrapper's head and the bundle), or the whole text without one. */
export function withoutTail(text: string): string {
  const at = text.lastIndexOf(MARK);
  return at < 0 ? text : text.slice(0, at);
}

/**
 * The text that patches a script whose source is `before` with the new version
 * `compiled` (both whole scripts as the loader compiled them): `compiled` itself when
 * their layouts agree, else `compiled` rewritten to `before`'s layout (see the top of
 * this file). Undefined when `compiled` cannot be read; LiveEdit then uses it as is
 * and the report names what V8 kept.
 */
export function fitLayout(compiled: string, before: string): string | undefined {
  try {
    return fit(compiled, before);
  } catch {
    return undefined;
  }
}

function fit(compiled: string, before: string): string | undefined {
  const old = layoutOf(before);
  const now = layoutOf(compiled);
  if (!old || !now) return undefined;
  // A `const` whose initializer a save changed is read by old closures through the holder from then on: the old
  // scope's slot keeps the value the script was made with.
  const held = [...new Set([...heldOf(before), ...changedConsts(before, compiled)])].filter((n) => old.includes(n) && now.includes(n));
  if (held.length === 0 && old.length === now.length && old.every((n, i) => n === now[i])) return compiled;
  const body = withoutTail(compiled);
  const ast = parse(`${body}\n});`, true);
  const wrapper = wrapperOf(ast);
  if (!wrapper) return undefined;
  const block = wrapper.body as Node;
  const keep = new Set(old.filter((n) => !held.includes(n)));
  const inserts: Edit[] = [];
  // The earlier script's bindings, declared first and in its order.
  if (old.length > 0) inserts.push({ start: block.start + 1, end: block.start + 1, text: ` var ${old.join(", ")};` });
  for (const s of block.body as Node[]) {
    if (s.type === "VariableDeclaration" && s.kind !== "var") {
      // `const x = 1` after `var x` is a redeclaration; `var x = 1` is not, and never runs anyway.
      inserts.push({ start: s.start, end: s.start + (s.kind as string).length, text: s.kind === "const" ? "var  " : "var" });
    } else if (s.type === "ClassDeclaration" && old.includes((s.id as Node).name as string)) {
      inserts.push({ start: s.start, end: s.start, text: `var ${(s.id as Node).name as string} = ` });
      inserts.push({ start: s.end, end: s.end, text: ";" });
    }
  }
  // Closures that read a binding the earlier script has no slot for read it through the holder.
  const scopes = analyze(ast as unknown as ESTree.Program, { ecmaVersion: 2022, sourceType: "script" });
  const fnScope = scopes.acquire(wrapper as unknown as ESTree.Node);
  if (!fnScope) return undefined;
  const shorthand = new Set<number>();
  collectShorthand(block, shorthand);
  for (const v of fnScope.variables) {
    if (keep.has(v.name) || WRAPPER_PARAMS.includes(v.name) || v.name === "arguments") continue;
    for (const ref of v.references) {
      if (ref.from.variableScope === fnScope) continue;
      const at = (ref.identifier as unknown as Node).start;
      inserts.push({ start: at, end: at, text: shorthand.has(at) ? `${v.name}: ${TOP}.` : `${TOP}.` });
    }
  }
  const out = applyEdits(body, inserts);
  const gone = old.filter((n) => !now.includes(n));
  return out + scopeTail(old, gone, held) + compiled.slice(body.length + tailLength(compiled, body.length));
}

/** Length of the tail line that starts at `at` (up to the wrapper's closing line). */
function tailLength(text: string, at: number): number {
  const end = text.indexOf("\n", at + 1);
  return (end < 0 ? text.length : end) - at;
}

/** The loader's wrapper function in a parsed script (`module.exports = (function (...) {...});`). */
function wrapperOf(ast: Node): Node | undefined {
  const first = (ast.body as Node[])[0];
  const expr = first?.type === "ExpressionStatement" ? (first.expression as Node) : undefined;
  const fn = expr?.type === "AssignmentExpression" ? (expr.right as Node) : undefined;
  return fn?.type === "FunctionExpression" ? fn : undefined;
}

/** Offsets of the identifiers of `{ x }` shorthand properties (a read `x` must become `x: holder.x`). */
function collectShorthand(node: Node, out: Set<number>): void {
  if (node.type === "Property" && node.shorthand) {
    const value = node.value as Node;
    out.add(value.type === "AssignmentPattern" ? (value.left as Node).start : value.start);
  }
  for (const [k, v] of Object.entries(node)) {
    if (k === "type" || k === "start" || k === "end") continue;
    if (Array.isArray(v)) {
      for (const c of v) if (c && typeof c === "object" && typeof (c as Node).type === "string") collectShorthand(c as Node, out);
    } else if (v && typeof v === "object" && typeof (v as Node).type === "string") collectShorthand(v as Node, out);
  }
}

/** Each version's way to read its own bindings, by index, and the index of each name. */
const readers = new WeakMap<Instance, { index: Map<string, number>; read: (i: number) => unknown }>();
/**
 * module -> version -> that version's reader, which {@link emptyGone} calls, while the version's instance is kept.
 * Weak: a strong one would keep every version's scope, and so its functions, alive, and LiveEdit would patch every
 * earlier version at every save (measured: 0.3-0.6 s a save, growing).
 */
const byVersion = new Map<string, Map<string, WeakRef<(i: number) => unknown>>>();
/** Each module's holder: one object for all its versions. */
const holders = new WeakMap<ModuleEntry, Record<string, unknown>>();

/** The holder of `entry`, passed to every version's wrapper. */
export function holderOf(entry: ModuleEntry): Record<string, unknown> {
  let top = holders.get(entry);
  if (!top) {
    top = Object.create(null) as Record<string, unknown>;
    holders.set(entry, top);
  }
  return top;
}

/**
 * Called by a version's tail once its top level has run: its bindings become
 * readable through the holder, each name a getter of the module's current version.
 */
export function expose(entry: ModuleEntry, instance: Instance, names: string[], read: (i: number) => unknown): void {
  readers.set(instance, { index: new Map(names.map((n, i) => [n, i])), read });
  let versions = byVersion.get(entry.name);
  if (!versions) byVersion.set(entry.name, (versions = new Map()));
  for (const [v, ref] of versions) if (ref.deref() === undefined) versions.delete(v);
  versions.set(instance.version, new WeakRef(read));
  const top = holderOf(entry);
  for (const name of names) {
    if (Object.prototype.hasOwnProperty.call(top, name)) continue;
    Object.defineProperty(top, name, {
      enumerable: true,
      get() {
        const r = readers.get(entry.current ?? instance);
        const i = r?.index.get(name);
        return r && i !== undefined ? r.read(i) : undefined;
      },
    });
  }
}

/**
 * Empties, in version `version` of `module`, the top-level bindings a patch of its
 * script found gone from the new version (see {@link scopeTail}): the old scope
 * then no longer keeps a removed helper alive, so finding it in the heap means
 * something still holds it. Call only once no closure of that script kept its old
 * body (a kept one may still call the helper). False when the version is gone.
 */
export function emptyGone(module: string, version: string): boolean {
  const read = byVersion.get(module)?.get(version)?.deref();
  if (!read) return false;
  read(-1);
  return true;
}
