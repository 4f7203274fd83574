/**
 * The instance fields of a class in esbuild's output, read off its syntax tree
 * for the loader to add to instances made before a save (docs/design.md §4.2).
 */
import type { AnyNode, Class, Node } from "acorn";
import { simple } from "acorn-walk";
import type { Field } from "../../wire/moduleShape";

export type { Field };

/**
 * The instance fields of `cls`, in declaration order, as statements that add
 * each one to an existing `this` that lacks it. Two shapes: a field esbuild
 * left as it is (`n = 0;`), and the ones it lowered into the constructor
 * because the class has `#private` members (`__publicField(this, "n", 0)`,
 * `__privateAdd(this, _balance, 0)`).
 */
export function fieldsOf(cls: Class, code: string, lineComments: readonly [number, number][]): { fields: Field[]; skipped: string[] } {
  const fields: Field[] = [];
  const skipped: string[] = [];
  const copy = (n: Node): string | undefined => oneLine(n, code, lineComments);
  for (const el of cls.body.body) {
    if (el.type === "PropertyDefinition" && !el.static && !el.computed && el.key.type !== "PrivateIdentifier") {
      const key = el.key.type === "Identifier" ? el.key.name : el.key.type === "Literal" ? String(el.key.value) : undefined;
      if (key === undefined) continue;
      const init = el.value ? copy(el.value) : "void 0";
      if (init === undefined) skipped.push(key);
      else fields.push({ kind: "define", key: JSON.stringify(key), init });
    }
    if (el.type !== "MethodDefinition" || el.kind !== "constructor") continue;
    const params = new Set<string>(["arguments"]);
    for (const p of el.value.params) simple(p, { Identifier: (id) => void params.add(id.name) }, undefined, undefined);
    // The constructor's leading statements: super(), then the fields esbuild put there, in declaration order.
    for (const s of el.value.body.body) {
      if (s.type !== "ExpressionStatement") break;
      const e = s.expression;
      if (e.type === "CallExpression" && e.callee.type === "Super") continue;
      if (e.type === "AssignmentExpression" && e.operator === "=" && e.left.type === "MemberExpression" && e.left.object.type === "ThisExpression") {
        // `this.n = 0`: a field under `useDefineForClassFields: false` (a tsconfig target below ES2022), set as the
        // constructor sets it. One that reads a constructor parameter (`this.name = name`) is not a field.
        const key = !e.left.computed && e.left.property.type === "Identifier" ? e.left.property.name : literalKey(e.left.property);
        if (key === undefined) break;
        if (reads(e.right, params)) continue;
        const init = copy(e.right);
        if (init === undefined) skipped.push(key);
        else fields.push({ kind: "assign", key: JSON.stringify(key), init });
        continue;
      }
      if (e.type !== "CallExpression" || e.callee.type !== "Identifier" || e.arguments[0]?.type !== "ThisExpression") break;
      const helper = e.callee.name;
      const [, member, value] = e.arguments;
      if (!member || member.type === "SpreadElement" || value?.type === "SpreadElement") break;
      if (helper === "__publicField") {
        const key = code.slice(member.start, member.end);
        const init = value ? copy(value) : "void 0";
        if (init === undefined) skipped.push(key);
        else fields.push({ kind: "define", key, init });
      } else if (helper === "__privateAdd" && member.type === "Identifier") {
        if (!value) fields.push({ kind: "private", key: member.name });
        else {
          const init = copy(value);
          if (init === undefined) skipped.push(member.name);
          else fields.push({ kind: "private", key: member.name, init });
        }
      } else break;
    }
  }
  return { fields, skipped };
}

function literalKey(n: AnyNode): string | undefined {
  return n.type === "Literal" && (typeof n.value === "string" || typeof n.value === "number") ? String(n.value) : undefined;
}

/** Whether `n` reads one of `names` (a constructor's parameters). Shadowing is ignored: a false "yes" only leaves a field out. */
function reads(n: Node, names: ReadonlySet<string>): boolean {
  let found = false;
  simple(n, { Identifier: (id) => void (found ||= names.has(id.name)) });
  return found;
}

/**
 * The text of an initializer on one line, so the copy adds no line to the
 * bundle (its inline source map must keep holding). esbuild ends every
 * statement with `;`, so a line break outside a template is a space; one inside
 * a template becomes `\n`. Undefined when the copy would not mean the same
 * outside the class (`super`), or cannot be put on one line (a tagged
 * template spanning lines, a line comment).
 */
function oneLine(n: Node, code: string, lineComments: readonly [number, number][]): string | undefined {
  if (lineComments.some(([s]) => s >= n.start && s < n.end)) return undefined;
  let unsafe = false;
  const quasis: [number, number][] = [];
  simple(n, {
    Super: () => (unsafe = true),
    MetaProperty: () => (unsafe = true),
    TaggedTemplateExpression: (t) => {
      if (/[\n\r\u2028\u2029]/.test(code.slice(t.quasi.start, t.quasi.end))) unsafe = true;
    },
    TemplateElement: (q) => {
      quasis.push([q.start, q.end]);
    },
  });
  if (unsafe) return undefined;
  let out = "";
  let at = n.start;
  for (const [s, e] of quasis.sort((a, b) => a[0] - b[0])) {
    out += code.slice(at, s).replace(/\r?\n|[\r\u2028\u2029]/g, " ");
    out += code
      .slice(s, e)
      .replace(/\r?\n|\r/g, "\\n")
      .replace(/\u2028/g, "\\u2028")
      .replace(/\u2029/g, "\\u2029");
    at = e;
  }
  return out + code.slice(at, n.end).replace(/\r?\n|[\r\u2028\u2029]/g, " ");
}
