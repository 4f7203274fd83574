import { inspect } from "node:util";
import type { SupervisionTree } from "../../wire/protocol";

/**
 * The shell's tree(): each node's supervision trees drawn as an indented
 * tree, supervisor -> children, each line `id  pid  module  restart  names`
 * (observer's application view as text); `--json` keeps the data.
 */
export class TreeView {
  constructor(readonly byNode: Record<string, SupervisionTree[]>) {}

  render(): string {
    const out: string[] = [];
    for (const [node, roots] of Object.entries(this.byNode)) {
      out.push(`${node}${roots.length === 0 ? " (no supervisors)" : ""}`);
      roots.forEach((r, i) => draw(r, "", i === roots.length - 1, out));
    }
    return out.join("\n");
  }

  [inspect.custom](): string {
    return this.render();
  }

  toJSON(): unknown {
    return this.byNode;
  }
}

function label(t: SupervisionTree): string {
  const parts = [t.id ?? "(root)", t.pid ? t.pid.toString() : "(not running)", t.module];
  if (t.restart) parts.push(t.restart);
  if (t.names.length) parts.push(`[${t.names.join(", ")}]`);
  if (t.error) parts.push(`(${t.error})`);
  return parts.join("  ");
}

function draw(t: SupervisionTree, indent: string, last: boolean, out: string[]): void {
  out.push(`${indent}${last ? "└─ " : "├─ "}${label(t)}`);
  const kids = t.children ?? [];
  kids.forEach((c, i) => draw(c, indent + (last ? "   " : "│  "), i === kids.length - 1, out));
}
