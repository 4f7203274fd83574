/**
 * The layout rules of docs/design.md §9, checked from the sources' own imports:
 * a cycle or an import against the flow fails here before a reviewer has to see it.
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";

const ROOT = path.join(__dirname, "..", "..", "..");
const FOLDERS = ["wire", "runtime", "cli", "bench"];
const IMPORT =
  /(?:import|export)\s[^'"]*?from\s*["'](\.{1,2}\/[^"']+)["']|import\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)|require\(\s*["'](\.{1,2}\/[^"']+)["']\s*\)/g;

function sources(dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) {
      if (e !== "templates" && e !== "node_modules") sources(p, out);
    } else if (e.endsWith(".ts") && !e.endsWith(".d.ts")) out.push(p);
  }
  return out;
}

/** file (relative to the root) -> the project files it imports, type-only imports included: they tie files together too. */
function importGraph(): Map<string, string[]> {
  const files = FOLDERS.map((f) => path.join(ROOT, f))
    .filter(existsSync)
    .flatMap((d) => sources(d));
  const known = new Set(files);
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const out: string[] = [];
    for (const m of readFileSync(f, "utf8").matchAll(IMPORT)) {
      const base = path.resolve(path.dirname(f), m[1] ?? m[2] ?? m[3]!);
      const hit = [base + ".ts", path.join(base, "index.ts")].find((c) => known.has(c));
      if (hit) out.push(path.relative(ROOT, hit));
    }
    graph.set(path.relative(ROOT, f), out);
  }
  return graph;
}

function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (f: string): void => {
    state.set(f, "open");
    stack.push(f);
    for (const g of graph.get(f) ?? []) {
      if (state.get(g) === "open") found.push([...stack.slice(stack.indexOf(g)), g]);
      else if (!state.has(g)) visit(g);
    }
    stack.pop();
    state.set(f, "done");
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f);
  return found;
}

describe("the layout of docs/design.md §9", () => {
  const graph = importGraph();

  test("the sources were found (a moved root would make every rule pass vacuously)", () => {
    assert.ok(
      [...graph.keys()].some((f) => f.startsWith("runtime/")),
      "no runtime/ sources found",
    );
    assert.ok(
      [...graph.keys()].some((f) => f.startsWith("cli/")),
      "no cli/ sources found",
    );
  });

  test("no import cycles in wire/, runtime/, cli/, bench/", () => {
    assert.deepEqual(
      cycles(graph).map((c) => c.join(" -> ")),
      [],
    );
  });

  test("runtime/ never imports cli/, and wire/ imports neither", () => {
    const against = [...graph].flatMap(([f, deps]) =>
      deps
        .filter((d) => (f.startsWith("runtime/") && d.startsWith("cli/")) || (f.startsWith("wire/") && (d.startsWith("cli/") || d.startsWith("runtime/"))))
        .map((d) => `${f} -> ${d}`),
    );
    assert.deepEqual(against, []);
  });
});
