import { isBuiltin } from "node:module";
import { PROJECT_MODULE_PREFIX } from "./bundleShape";

/**
 * Whether a module's top level needs the time limit (docs/design.md §6). The
 * limit is vm's `timeout`, which starts and joins a watchdog thread on every
 * evaluation: 0.4 ms on an idle core, over 1 ms on a loaded one, the largest
 * part of a node's PREPARE for a small module. A top level can only run
 * endlessly through a loop, so a module whose text has no loop (esbuild's own
 * helpers aside), and whose project imports have none either, and which loads
 * nothing but Node built-ins and "devcluster", runs without it. Anything else
 * (a loop anywhere, an npm package, a word "for" in a string) keeps the limit:
 * the check errs on the guarded side. Recursion without a loop ends in a stack
 * overflow, which throws as any error does.
 */
export function needsTimeLimit(code: string, codeOf: (module: string) => string | undefined): boolean {
  const seen = new Set<string>();
  const visit = (text: string): boolean => {
    const body = withoutHelpers(text);
    if (LOOP.test(body)) return true;
    for (const [, spec] of body.matchAll(REQUIRE)) {
      if (spec!.startsWith(PROJECT_MODULE_PREFIX)) {
        const name = spec!.slice(PROJECT_MODULE_PREFIX.length);
        if (seen.has(name)) continue;
        seen.add(name);
        const imported = codeOf(name);
        if (imported === undefined || visit(imported)) return true;
      } else if (spec !== "devcluster" && !isBuiltin(spec!)) return true;
    }
    // a require of something computed cannot be followed
    return DYNAMIC_REQUIRE.test(body);
  };
  return visit(code);
}

const LOOP = /\b(?:for|while|do)\b/;
const REQUIRE = /\brequire\("([^"\\]+)"\)/g;
const DYNAMIC_REQUIRE = /\brequire\((?!"[^"\\]+"\))/;

/** esbuild's CommonJS helpers that loop over an object's keys (finite), and its comment with a "for": exactly as esbuild writes them. */
const HELPERS = [
  "// Annotate the CommonJS export names for ESM import in node:",
  `var __export = (target, all) => {
  for (var name in all)
    __defProp(target, name, { get: all[name], enumerable: true });
};`,
  `var __copyProps = (to, from, except, desc) => {
  if (from && typeof from === "object" || typeof from === "function") {
    for (let key of __getOwnPropNames(from))
      if (!__hasOwnProp.call(to, key) && key !== except)
        __defProp(to, key, { get: () => from[key], enumerable: !(desc = __getOwnPropDesc(from, key)) || desc.enumerable });
  }
  return to;
};`,
];

/** The code without its inline source map (base64 can spell "for") and without esbuild's helpers. */
function withoutHelpers(code: string): string {
  const map = code.lastIndexOf("\n//# sourceMappingURL=");
  let text = map >= 0 ? code.slice(0, map) : code;
  for (const h of HELPERS) text = text.replace(h, "");
  return text;
}
