import * as acorn from "acorn";
import * as walk from "acorn-walk";

/**
 * esbuild's CommonJS output read as a syntax tree (acorn), for the compiler's
 * rewrite of project imports and for the bindings a save is checked with. A
 * parse, not a text search: `"require(\"./lib\")"` in a string literal, a
 * comment or a template is text, and only a real call is an import. acorn
 * rather than a lexer (es-module-lexer reads ESM, cjs-module-lexer only
 * export names): the rewrite needs each call's position, and the bindings each
 * member read off an import's variable.
 */

/** One `require("<literal>")` or `import("<literal>")` of esbuild's output, with its position. */
export interface ImportSite {
  spec: string;
  kind: "require" | "import";
  /** offsets of the whole call in the code */
  start: number;
  end: number;
  /** `__toESM(require(spec))` around it (esbuild's namespace and default imports), without node mode's flag: that call's offsets */
  interop?: { start: number; end: number };
}

/** esbuild's output as a script; it always parses, so a throw here is a bug in the caller's input. */
export function parseOutput(code: string): acorn.Program {
  return acorn.parse(code, { ecmaVersion: "latest", sourceType: "script" });
}

/** Every import of `tree`, in source order. */
export function importSites(tree: acorn.Program): ImportSite[] {
  const sites = new Map<acorn.Node, ImportSite>();
  walk.simple(tree, {
    CallExpression(node) {
      const spec = requireSpec(node);
      if (spec !== undefined) sites.set(node, { spec, kind: "require", start: node.start, end: node.end });
      // Visited after its arguments, so the require inside is already known.
      const inner = isIdentifier(node.callee, "__toESM") && node.arguments.length === 1 ? sites.get(node.arguments[0]!) : undefined;
      if (inner?.kind === "require") inner.interop = { start: node.start, end: node.end };
    },
    ImportExpression(node) {
      const spec = stringLiteral(node.source);
      if (spec !== undefined) sites.set(node, { spec, kind: "import", start: node.start, end: node.end });
    },
  });
  return [...sites.values()].sort((a, b) => a.start - b.start);
}

/** The spec of `require("<literal>")`, or undefined for any other node. */
export function requireSpec(node: acorn.Node): string | undefined {
  if (node.type !== "CallExpression") return undefined;
  const call = node as acorn.CallExpression;
  if (!isIdentifier(call.callee, "require") || call.arguments.length !== 1) return undefined;
  return stringLiteral(call.arguments[0]!);
}

export function isIdentifier(node: acorn.Node | undefined, name: string): boolean {
  return node?.type === "Identifier" && (node as acorn.Identifier).name === name;
}

export function stringLiteral(node: acorn.Node): string | undefined {
  if (node.type !== "Literal") return undefined;
  const value = (node as acorn.Literal).value;
  return typeof value === "string" ? value : undefined;
}

export { applyEdits, type Edit } from "../../runtime/code/textEdits";
