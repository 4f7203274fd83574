/**
 * A bundle's shape, read once where the bundle is made and shipped with it
 * (wire/moduleShape.ts), as Vite's import analysis reads generated code once
 * and nothing downstream parses it again. The coordinator reads the FINAL code
 * (after the compiler's require rewrite), the very text a node instruments, so
 * every position in it holds there. A node given a bundle without a shape, or
 * with one of another format, reads the bundle itself.
 */
import type { Bundle } from "../../wire/protocol";
import { SHAPE_FORMAT, type ShippedShape } from "../../wire/moduleShape";
import { readBundle, type BundleShape } from "./bundleShape";

/** The shape of `code` as it travels: {@link readBundle}'s, with maps and sets as arrays of entries. */
export function shipShape(code: string): ShippedShape {
  const s = readBundle(code);
  return {
    format: SHAPE_FORMAT,
    ...(s.exports && { exports: [...s.exports] }),
    stars: s.stars,
    uses: [...s.uses].map(([m, names]) => [m, [...names]]),
    functions: [...s.functions],
    classes: [...s.classes],
    bindings: [...s.bindings],
    ...(s.exportsVar !== undefined && { exportsVar: s.exportsVar }),
    loops: s.loops,
    requires: s.requires,
    dynamicRequire: s.dynamicRequire,
    disposes: s.disposes,
    sites: s.sites,
    top: s.top,
  };
}

/** Shapes already made from a shipped one: the loader asks again for an importee's during the same PREPARE. */
const made = new WeakMap<Bundle, BundleShape>();

/** What a node knows of `bundle`: the shape it came with, or, without one, its own read of the code. */
export function shapeOf(bundle: Bundle): BundleShape {
  const shipped = bundle.shape;
  if (shipped?.format !== SHAPE_FORMAT) return readBundle(bundle.code);
  let shape = made.get(bundle);
  if (!shape) {
    shape = {
      ...(shipped.exports && { exports: new Map(shipped.exports) }),
      stars: shipped.stars,
      uses: new Map(shipped.uses.map(([m, names]) => [m, new Set(names)])),
      functions: new Map(shipped.functions),
      classes: new Map(shipped.classes),
      bindings: new Set(shipped.bindings),
      ...(shipped.exportsVar !== undefined && { exportsVar: shipped.exportsVar }),
      loops: shipped.loops,
      requires: shipped.requires,
      dynamicRequire: shipped.dynamicRequire,
      disposes: shipped.disposes,
      sites: shipped.sites,
      top: shipped.top,
    };
    made.set(bundle, shape);
  }
  return shape;
}
