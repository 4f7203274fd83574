/**
 * A bundle's shape as it travels with the bundle (wire/protocol.ts `Bundle.shape`):
 * what runtime/code/bundleShape.ts reads from the bundle's syntax tree, read once
 * by the coordinator at compile time instead of by every node at every PREPARE
 * (a cold parse cost a node 0.6-0.9 ms per small bundle). Plain JSON, so a
 * prepare stays a JSON frame, and every field is checked by the decoder: the
 * shape comes from the authenticated coordinator, whose code the node runs
 * anyway, but a malformed one is dropped with the frame, not half-used.
 */

/**
 * Bumped when what a field means changes: a node reads a shape of another
 * format from the bundle itself, so a coordinator of another build (a node
 * joined from another machine) never hands it positions it would misread.
 */
export const SHAPE_FORMAT = 2;

/** One instance field, in the form the loader adds it to an instance that lacks it (runtime/code/classFields.ts). */
export interface Field {
  /** a class field ([[Define]]), a `this.n = 0` in a constructor (a set), or a lowered `#private` member */
  kind: "define" | "assign" | "private";
  /** a property key expression (`"n"`) or, for `private`, the identifier of esbuild's WeakMap or WeakSet (`_balance`) */
  key: string;
  /** JavaScript text on one line; absent for a private method's brand */
  init?: string;
}

/** @internal One exported class: where it opens and closes, and what its instance fields are. */
export interface ClassSite {
  exportName: string;
  local: string;
  /** just after the `{` of the class body */
  bodyOpen: number;
  /** at the `}` of the class body */
  bodyClose: number;
  /** end of the statement that defines `local` */
  after: number;
  /** The instance fields, in declaration order (docs/design.md §4.2). */
  fields: Field[];
  /** Fields whose initializer cannot be copied out of the class (it uses `super`, a tagged multi-line template, a line comment), by name. */
  skipped: string[];
}

/** @internal Positions in the bundle's text, for runtime/code/instrument.ts. */
export interface Sites {
  /** esbuild helpers the loader routes through its own: `var <name> = <init>` with `at` the start of init. */
  helpers: { name: string; at: number }[];
  /** End of `module.exports = __toCommonJS(x_exports);`, where exported function declarations are rebound. */
  afterExports?: number;
  /** Exported classes the module defines, in source order. */
  classes: ClassSite[];
  /** `new WeakMap()` / `new WeakSet()` of a lowered `#private` member (`_balance = new WeakMap()`), with a key stable across versions. */
  privates: { key: string; start: number; end: number }[];
}

/** runtime/code/bundleShape.ts `BundleShape` with its maps and sets as arrays of entries (see there for each field). */
export interface ShippedShape {
  format: number;
  exports?: [string, string][];
  stars: string[];
  uses: [string, string[]][];
  functions: [string, string][];
  classes: [string, string][];
  bindings: string[];
  exportsVar?: string;
  loops: boolean;
  requires: string[];
  dynamicRequire: boolean;
  disposes: boolean;
  sites: Sites;
  top: string[];
}

type Check = (v: unknown) => boolean;

const str: Check = (v) => typeof v === "string";
const bool: Check = (v) => typeof v === "boolean";
const offset: Check = (v) => Number.isSafeInteger(v) && (v as number) >= 0;
const list =
  (item: Check): Check =>
  (v) =>
    Array.isArray(v) && v.every(item);
const pair =
  (a: Check, b: Check): Check =>
  (v) =>
    Array.isArray(v) && v.length === 2 && a(v[0]) && b(v[1]);
/** An object with these fields (a `?` name may be absent). */
const record =
  (fields: Record<string, Check>): Check =>
  (v) =>
    v !== null &&
    typeof v === "object" &&
    !Array.isArray(v) &&
    Object.entries(fields).every(([k, check]) => {
      const value = (v as Record<string, unknown>)[k.replace(/\?$/, "")];
      return (k.endsWith("?") && value === undefined) || check(value);
    });

const FIELD = record({ kind: (v) => v === "define" || v === "assign" || v === "private", key: str, "init?": str });
const CLASS_SITE = record({ exportName: str, local: str, bodyOpen: offset, bodyClose: offset, after: offset, fields: list(FIELD), skipped: list(str) });
const SITES = record({
  helpers: list(record({ name: str, at: offset })),
  "afterExports?": offset,
  classes: list(CLASS_SITE),
  privates: list(record({ key: str, start: offset, end: offset })),
});
/** Field by field, so a refusal names the first one that is wrong. */
const SHIPPED: Record<string, Check> = {
  "exports?": list(pair(str, str)),
  stars: list(str),
  uses: list(pair(str, list(str))),
  functions: list(pair(str, str)),
  classes: list(pair(str, str)),
  bindings: list(str),
  "exportsVar?": str,
  loops: bool,
  requires: list(str),
  dynamicRequire: bool,
  disposes: bool,
  sites: SITES,
  top: list(str),
};

/**
 * Why `v` is not a shape a node can use, or undefined when it is. A shape of
 * another {@link SHAPE_FORMAT} only needs its `format`: the node ignores it.
 */
export function shapeProblem(v: unknown): string | undefined {
  if (v === null || typeof v !== "object" || Array.isArray(v)) return "is not an object";
  const format = (v as { format?: unknown }).format;
  if (!offset(format)) return "format is not a number";
  if (format !== SHAPE_FORMAT) return undefined;
  for (const [k, check] of Object.entries(SHIPPED)) {
    const name = k.replace(/\?$/, "");
    const value = (v as Record<string, unknown>)[name];
    if (!((k.endsWith("?") && value === undefined) || check(value))) return `${name} is malformed`;
  }
  return undefined;
}
