/**
 * The names a function body declares in its own scope, in the order V8 declares
 * them: `var` anywhere outside nested functions, and `let`, `const`, `class` and
 * function declarations at its top. V8 gives context slots in this order
 * (moduleScope.ts relies on it); the bundle's shape carries them (bundleShape.ts).
 */
import type * as acorn from "acorn";

type Node = acorn.Node & Record<string, unknown>;

export function declaredNames(body: Node[]): string[] {
  const names: string[] = [];
  const seen = new Set<string>();
  const add = (n: string): void => {
    if (!seen.has(n)) {
      seen.add(n);
      names.push(n);
    }
  };
  const patternNames = (p: Node | null | undefined): void => {
    if (!p) return;
    switch (p.type) {
      case "Identifier":
        add(p.name as string);
        break;
      case "ObjectPattern":
        for (const prop of p.properties as Node[]) patternNames((prop.type === "RestElement" ? prop.argument : prop.value) as Node);
        break;
      case "ArrayPattern":
        for (const el of p.elements as (Node | null)[]) patternNames(el);
        break;
      case "RestElement":
        patternNames(p.argument as Node);
        break;
      case "AssignmentPattern":
        patternNames(p.left as Node);
        break;
    }
  };
  // `var` anywhere outside nested functions belongs to this scope; let, const and class only at its top.
  const visit = (s: Node, top: boolean): void => {
    switch (s.type) {
      case "VariableDeclaration":
        if (top || s.kind === "var") for (const d of s.declarations as Node[]) patternNames(d.id as Node);
        return;
      case "FunctionDeclaration":
        if (top) add((s.id as Node).name as string);
        return;
      case "ClassDeclaration":
        if (top) add((s.id as Node).name as string);
        return;
      case "BlockStatement":
        for (const c of s.body as Node[]) visit(c, false);
        return;
      case "IfStatement":
        visit(s.consequent as Node, false);
        if (s.alternate) visit(s.alternate as Node, false);
        return;
      case "ForStatement":
        if (s.init && (s.init as Node).type === "VariableDeclaration") visit(s.init as Node, false);
        visit(s.body as Node, false);
        return;
      case "ForInStatement":
      case "ForOfStatement":
        if ((s.left as Node).type === "VariableDeclaration") visit(s.left as Node, false);
        visit(s.body as Node, false);
        return;
      case "WhileStatement":
      case "DoWhileStatement":
      case "LabeledStatement":
        visit(s.body as Node, false);
        return;
      case "TryStatement":
        visit(s.block as Node, false);
        if (s.handler) visit((s.handler as Node).body as Node, false);
        if (s.finalizer) visit(s.finalizer as Node, false);
        return;
      case "SwitchStatement":
        for (const c of s.cases as Node[]) for (const x of c.consequent as Node[]) visit(x, false);
        return;
    }
  };
  for (const s of body) visit(s, true);
  return names;
}
