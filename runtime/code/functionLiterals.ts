/**
 * The function literals of one compiled module text, read with acorn: each one's
 * text as `Function.prototype.toString` shows it, a name a person recognizes
 * ("RaftNode.setupRoutes", `app.post("/set") callback in RaftNode.setupRoutes`),
 * and the code that runs in it without its nested functions. LiveEdit
 * (`liveEdit.ts`) compares two versions with it to know which live functions
 * would still run old code (docs/design.md §4.2).
 */
import * as acorn from "acorn";
import * as walk from "acorn-walk";

export interface FunctionLiteral {
  /** what a report calls it */
  name: string;
  /** the text `Function.prototype.toString` gives for a function made from it */
  text: string;
  /** offset of `text` in the code */
  start: number;
  kind: "wrapper" | "function" | "method" | "constructor" | "arrow" | "class";
  /** the class a method or constructor belongs to */
  className?: string;
  /** a method's name */
  key?: string;
  /** `text` with each nested function literal cut out: what runs when this function runs */
  own: string;
  /** `this.m(...)` calls in its own code */
  thisCalls: string[];
  /** an async function or a generator: a call of it can be suspended, running this text, long after it started */
  suspends?: boolean;
}

type Node = acorn.Node & Record<string, unknown>;

const cache = new Map<string, FunctionLiteral[]>();

/** The function literals of `code` (a whole compiled module), in text order. Cached per text: an old version is read at every later save. */
export function readFunctions(code: string): FunctionLiteral[] {
  const hit = cache.get(code);
  if (hit) return hit;
  const ast = acorn.parse(code, { ecmaVersion: "latest", sourceType: "script", allowReturnOutsideFunction: true, allowHashBang: true }) as unknown as Node;
  const out: FunctionLiteral[] = [];
  const nested = new Map<FunctionLiteral, { start: number; end: number }[]>();
  const visit = (node: Node, parents: Node[], outer: FunctionLiteral | undefined): void => {
    let here = outer;
    const isFn = node.type === "FunctionDeclaration" || node.type === "FunctionExpression" || node.type === "ArrowFunctionExpression";
    const isClass = node.type === "ClassDeclaration" || node.type === "ClassExpression";
    if (isFn || isClass) {
      here = literal(node, parents, outer, code);
      out.push(here);
      nested.set(here, []);
      if (outer) nested.get(outer)!.push({ start: here.start, end: node.end });
    } else if (node.type === "CallExpression" && outer) {
      const callee = node.callee as Node;
      if (callee.type === "MemberExpression" && !callee.computed && (callee.object as Node).type === "ThisExpression") {
        outer.thisCalls.push(keyName(callee.property as Node, code));
      }
    }
    parents.push(node);
    for (const [k, v] of Object.entries(node)) {
      if (k === "type" || k === "start" || k === "end") continue;
      if (Array.isArray(v)) {
        for (const c of v) if (isNode(c)) visit(c, parents, here);
      } else if (isNode(v)) visit(v, parents, here);
    }
    parents.pop();
    if (here && here !== outer) {
      // Own code: the text with each nested literal cut out, so a change inside a closure (which LiveEdit patches) is not a change of the code around it.
      let own = "";
      let at = here.start;
      for (const g of nested.get(here)!) {
        own += code.slice(at, g.start) + "\u0192";
        at = g.end;
      }
      here.own = own + code.slice(at, node.end);
    }
  };
  visit(ast, [], undefined);
  if (cache.size > 200) cache.clear();
  cache.set(code, out);
  return out;
}

function isNode(v: unknown): v is Node {
  return v !== null && typeof v === "object" && typeof (v as { type?: unknown }).type === "string";
}

function literal(node: Node, parents: Node[], outer: FunctionLiteral | undefined, code: string): FunctionLiteral {
  const parent = parents[parents.length - 1];
  const isClass = node.type === "ClassDeclaration" || node.type === "ClassExpression";
  let start = node.start;
  let kind: FunctionLiteral["kind"] = isClass ? "class" : outer === undefined ? "wrapper" : node.type === "ArrowFunctionExpression" ? "arrow" : "function";
  let className: string | undefined;
  let key: string | undefined;
  if (!isClass && parent && (parent.type === "MethodDefinition" || (parent.type === "Property" && (parent.method || parent.kind !== "init")))) {
    // A method's toString starts at its name (with async, *, get, set), not at `static`.
    start = parent.start;
    const stat = /^static\s+/.exec(code.slice(start, node.start));
    if (stat) start += stat[0].length;
    key = keyName(parent.key as Node, code);
    if (parent.type === "MethodDefinition") {
      className = classNameOf(parents.slice(0, -1), code);
      kind = parent.kind === "constructor" ? "constructor" : "method";
    } else kind = "method";
  }
  const lit: FunctionLiteral = {
    name: "",
    text: code.slice(start, node.end),
    start,
    kind,
    ...(className !== undefined ? { className } : {}),
    ...(key !== undefined ? { key } : {}),
    own: "",
    thisCalls: [],
    ...(node.async === true || node.generator === true ? { suspends: true } : {}),
  };
  lit.name = nameOf(node, lit, parents, outer, code);
  return lit;
}

/** Every `.m` (and `["m"]`) member read of `code` with its offset: a method read anywhere but the constructor may run again. */
export function memberReads(code: string): { name: string; at: number }[] {
  const ast = acorn.parse(code, { ecmaVersion: "latest", sourceType: "script", allowReturnOutsideFunction: true, allowHashBang: true });
  const out: { name: string; at: number }[] = [];
  walk.simple(ast, {
    MemberExpression(m) {
      const node = m as unknown as Node;
      const prop = node.property as Node;
      if (!node.computed && prop.type === "Identifier") out.push({ name: prop.name as string, at: node.start });
      else if (prop.type === "Literal" && typeof prop.value === "string") out.push({ name: prop.value, at: node.start });
    },
  });
  return out;
}

function keyName(key: Node, code: string): string {
  if (key.type === "Identifier") return key.name as string;
  if (key.type === "PrivateIdentifier") return `#${key.name as string}`;
  if (key.type === "Literal") return String(key.value);
  return `[${code.slice(key.start, key.end)}]`;
}

function classNameOf(parents: Node[], code: string): string | undefined {
  for (let i = parents.length - 1; i >= 0; i--) {
    const p = parents[i]!;
    if (p.type !== "ClassDeclaration" && p.type !== "ClassExpression") continue;
    const id = p.id as Node | null;
    if (id) return id.name as string;
    const holder = parents[i - 1];
    if (holder?.type === "VariableDeclarator") return keyName(holder.id as Node, code);
    return undefined;
  }
  return undefined;
}

/** Source text as the user wrote it: esbuild calls an import as `(0, import_lib.f)` and reads `import_lib.bus`. */
const short = (raw: string): string => {
  const text = raw.replace(/^\(0, ([^()]*)\)$/, "$1").replace(/\bimport_[\w$]+\./g, "");
  return text.length > 40 ? `${text.slice(0, 37)}...` : text;
};

function nameOf(node: Node, lit: FunctionLiteral, parents: Node[], outer: FunctionLiteral | undefined, code: string): string {
  const inside = outer && outer.kind !== "wrapper" ? ` in ${outer.name}` : "";
  const parent = parents[parents.length - 1];
  const id = node.id as Node | null | undefined;
  if (lit.kind === "wrapper") return "(module)";
  if (lit.kind === "class") return id ? (id.name as string) : (classNameOf([...parents, node], code) ?? `class${inside}`);
  if (lit.kind === "method" || lit.kind === "constructor") return lit.className ? `${lit.className}.${lit.key}` : `${lit.key}${inside}`;
  if (node.type === "FunctionDeclaration" && id) return id.name as string;
  if (!parent) return `function${inside}`;
  switch (parent.type) {
    case "VariableDeclarator":
      return keyName(parent.id as Node, code);
    case "PropertyDefinition": {
      const cls = classNameOf(parents.slice(0, -1), code);
      return `${cls ? `${cls}.` : ""}${keyName(parent.key as Node, code)}`;
    }
    case "Property":
      return `${keyName(parent.key as Node, code)}${inside}`;
    case "AssignmentExpression": {
      const left = parent.left as Node;
      return short(code.slice(left.start, left.end));
    }
    case "CallExpression":
    case "NewExpression": {
      const callee = parent.callee as Node;
      if (callee === node) return `function${inside}`;
      const first = (parent.arguments as Node[])[0];
      const arg = first && first !== node && first.type === "Literal" && typeof first.value === "string" ? JSON.stringify(first.value) : "";
      return `${short(code.slice(callee.start, callee.end))}(${arg}) callback${inside}`;
    }
    default:
      return `${id ? (id.name as string) : lit.kind === "arrow" ? "arrow function" : "function"}${inside}`;
  }
}
