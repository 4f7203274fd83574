import { isBuiltin } from "node:module";
import { PROJECT_MODULE_PREFIX, type BundleShape } from "./bundleShape";

/**
 * Whether a module's top level needs the time limit (docs/design.md §6). The
 * limit is vm's `timeout`, which starts and joins a watchdog thread on every
 * evaluation: 0.4 ms on an idle core, over 1 ms on a loaded one, the largest
 * part of a node's PREPARE for a small module. A top level can only run
 * endlessly through a loop, so a module with no loop statement (esbuild's own
 * helpers aside, whose loops walk an object's keys), whose project imports have
 * none either, and which loads nothing but Node built-ins and "devcluster", runs
 * without it. Anything else (a loop anywhere, an npm package, a `require` that
 * is not a call with a string) keeps the limit: the check errs on the guarded
 * side. Recursion without a loop ends in a stack overflow, which throws as any
 * error does. It reads the bundles' shapes (a syntax tree's, read once: shipped
 * with the bundle or read by the node), so a "for" in a string, a comment or the
 * source map is not a loop. `shapeOf` gives an imported module's shape.
 */
export function needsTimeLimit(shape: BundleShape, shapeOf: (module: string) => BundleShape | undefined): boolean {
  const seen = new Set<string>();
  const visit = (shape: BundleShape): boolean => {
    if (shape.loops || shape.dynamicRequire) return true;
    for (const spec of shape.requires) {
      if (spec.startsWith(PROJECT_MODULE_PREFIX)) {
        const name = spec.slice(PROJECT_MODULE_PREFIX.length);
        if (seen.has(name)) continue;
        seen.add(name);
        const imported = shapeOf(name);
        if (imported === undefined || visit(imported)) return true;
      } else if (spec !== "devcluster" && !isBuiltin(spec)) return true;
    }
    return false;
  };
  return visit(shape);
}
