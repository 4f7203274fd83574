import { LIVE, type BundleShape } from "./bundleShape";
import type { Field } from "./classFields";
import { applyEdits, type Edit } from "./textEdits";

/**
 * The bundle as the loader evaluates it, line for line the same (every insert
 * goes at a node position read by `readBundle`, none holds a line break, so the
 * inline source map still holds):
 * - esbuild's `__toESM` and `__reExport` are routed through the loader's, which
 *   hand out the live facade of a project module instead of a copy of its
 *   current names (`import * as lib`, `export * from`, docs/design.md §4.1);
 * - so are its `#private` helpers (`__privateGet`, ...), which see the class
 *   behind a class's stable proxy (`this.#items` in a static method called as
 *   `Registry.add()` from another module, §4.2);
 * - each lowered `#private` member's WeakMap or WeakSet is the one every
 *   version of the class shares, so instances made before a save keep their
 *   private state under the new methods (§4.2);
 * - each exported function declaration is rebound, before any top-level code
 *   runs, to a trampoline, so the module's own references to it (`setInterval(tick)`)
 *   follow later versions (§4.2);
 * - each exported class records its instances as they are made, hands the
 *   loader a way to add its fields to an instance that lacks them, and hands its
 *   methods to the loader right after its definition, before any top-level code
 *   can bind one (`setInterval(this.tock.bind(this))` in a constructor run at load).
 */
export function instrument(code: string, shape: BundleShape): string {
  const inserts: Edit[] = [];
  const { sites } = shape;
  for (const h of sites.helpers) inserts.push({ start: h.at, end: h.at, text: `${LIVE}.${h.name}(() => ${h.name}_esbuild), ${h.name}_esbuild = ` });
  if (sites.afterExports !== undefined && shape.functions.size > 0) {
    const rebinds: string[] = [];
    const done = new Set<string>();
    for (const [name, local] of shape.functions) {
      if (done.has(local)) continue;
      done.add(local);
      rebinds.push(`${local} = ${LIVE}.own(${JSON.stringify(name)}, ${local});`);
    }
    inserts.push({ start: sites.afterExports, end: sites.afterExports, text: ` ${rebinds.join(" ")}` });
  }
  for (const p of sites.privates) {
    inserts.push({ start: p.start, end: p.start, text: `${LIVE}.priv(${JSON.stringify(p.key)}, ` });
    inserts.push({ start: p.end, end: p.end, text: ")" });
  }
  for (const c of sites.classes) {
    const name = JSON.stringify(c.exportName);
    // A private field: invisible to the class's own code, to JSON and to Object.keys, and it runs in every
    // constructor of the class and of its subclasses, wherever they are defined.
    inserts.push({ start: c.bodyOpen, end: c.bodyOpen, text: ` #__devcluster = ${LIVE}.track(this, ${name});` });
    if (c.fields.length > 0)
      inserts.push({ start: c.bodyClose, end: c.bodyClose, text: ` static { ${LIVE}.fields(this, function () { ${c.fields.map(adding).join(" ")} }); } ` });
    inserts.push({ start: c.after, end: c.after, text: ` ${LIVE}.cls(${name}, ${c.local});` });
  }
  return applyEdits(code, inserts);
}

/** The statement that adds `f` to `this` when it lacks it, on one line: `__devcluster_live.field(this, "n", () => (0));`. */
function adding(f: Field): string {
  const init = f.init === undefined ? "" : `, () => (${f.init})`;
  switch (f.kind) {
    case "define":
      return `${LIVE}.field(this, ${f.key}${init});`;
    case "assign":
      return `${LIVE}.field(this, ${f.key}${init}, true);`;
    case "private":
      return `${LIVE}.privateField(this, ${f.key}${init});`;
    default: {
      const unhandled: never = f.kind;
      return unhandled;
    }
  }
}
