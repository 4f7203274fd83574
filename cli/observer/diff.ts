/**
 * Two versions of a module side by side for the reloads tab: the TypeScript
 * source each compiled bundle carries in its inline source map
 * (sourcesContent), or the compiled JavaScript when a bundle has none, and a
 * line diff of the two with a few lines of context around each change.
 */
import * as path from "node:path";
import type { CompiledModule } from "../save/compiler";

export interface DiffLine {
  /** " " unchanged, "-" only in the first version, "+" only in the second, "…" unchanged lines left out */
  op: " " | "-" | "+" | "…";
  text: string;
  /** line numbers in the first (a) and second (b) version, 1-based */
  a?: number;
  b?: number;
}

export interface VersionDiff {
  module: string;
  from: string;
  to: string;
  /** what was compared: the TypeScript source from the source map, or the compiled JavaScript */
  of: "typescript" | "javascript";
  /** the file compared (relative to the project, for typescript) */
  file: string;
  added: number;
  removed: number;
  lines: DiffLine[];
}

const MAP_PREFIX = "//# sourceMappingURL=data:application/json;base64,";

/** The module's own source from the bundle's inline source map, or the compiled code without the map. */
export function sourceOf(m: CompiledModule, projectDir: string): { of: "typescript" | "javascript"; file: string; text: string } {
  const at = m.code.lastIndexOf(MAP_PREFIX);
  const js = at >= 0 ? m.code.slice(0, at).replace(/\n$/, "") : m.code;
  if (at >= 0) {
    try {
      const map = JSON.parse(Buffer.from(m.code.slice(at + MAP_PREFIX.length).trim(), "base64").toString("utf8")) as {
        sources?: string[];
        sourcesContent?: (string | null)[];
      };
      const sources = map.sources ?? [];
      const want = path.basename(m.file);
      // esbuild writes sources relative to the output file: the module's own is the one naming its file.
      let i = sources.findIndex((s) => path.basename(s) === want && path.resolve(path.dirname(m.file), s).endsWith(want));
      if (i < 0) i = sources.findIndex((s) => path.basename(s) === want);
      const text = i >= 0 ? map.sourcesContent?.[i] : undefined;
      if (typeof text === "string") return { of: "typescript", file: path.relative(projectDir, m.file).split(path.sep).join("/"), text };
    } catch {
      // an unreadable map: compare the JavaScript
    }
  }
  return { of: "javascript", file: `${m.name}.js`, text: js };
}

/** Cells of the LCS table beyond which the middle of a diff is shown as all removed, then all added. */
const MAX_CELLS = 16_000_000;

/** A line diff (longest common subsequence after the common head and tail), with `context` unchanged lines around each change. */
export function diffLines(a: string[], b: string[], context = 3): { lines: DiffLine[]; added: number; removed: number } {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const x = a.slice(head, a.length - tail);
  const y = b.slice(head, b.length - tail);
  const mid: DiffLine[] = [];
  if (x.length * y.length <= MAX_CELLS) {
    const n = x.length;
    const m = y.length;
    const w = m + 1;
    const t = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--)
      for (let j = m - 1; j >= 0; j--) t[i * w + j] = x[i] === y[j] ? t[(i + 1) * w + j + 1]! + 1 : Math.max(t[(i + 1) * w + j]!, t[i * w + j + 1]!);
    let i = 0;
    let j = 0;
    while (i < n || j < m) {
      if (i < n && j < m && x[i] === y[j]) mid.push({ op: " ", text: x[i++]!, a: head + i, b: head + ++j });
      // removals before additions, as diff(1) prints them
      else if (i < n && (j >= m || t[(i + 1) * w + j]! >= t[i * w + j + 1]!)) mid.push({ op: "-", text: x[i++]!, a: head + i });
      else mid.push({ op: "+", text: y[j++]!, b: head + j });
    }
  } else {
    x.forEach((text, i) => mid.push({ op: "-", text, a: head + i + 1 }));
    y.forEach((text, j) => mid.push({ op: "+", text, b: head + j + 1 }));
  }
  const all: DiffLine[] = [
    ...a.slice(0, head).map((text, i): DiffLine => ({ op: " ", text, a: i + 1, b: i + 1 })),
    ...mid,
    ...a.slice(a.length - tail).map((text, i): DiffLine => ({ op: " ", text, a: a.length - tail + i + 1, b: b.length - tail + i + 1 })),
  ];
  const near = new Uint8Array(all.length);
  all.forEach((l, i) => {
    if (l.op === " ") return;
    for (let k = Math.max(0, i - context); k <= Math.min(all.length - 1, i + context); k++) near[k] = 1;
  });
  const lines: DiffLine[] = [];
  let skipped = 0;
  all.forEach((l, i) => {
    if (near[i]) {
      if (skipped) lines.push({ op: "…", text: `${skipped} unchanged line${skipped === 1 ? "" : "s"}` });
      skipped = 0;
      lines.push(l);
    } else skipped++;
  });
  if (skipped) lines.push({ op: "…", text: `${skipped} unchanged line${skipped === 1 ? "" : "s"}` });
  return { lines, added: all.filter((l) => l.op === "+").length, removed: all.filter((l) => l.op === "-").length };
}

/** The diff of two versions; both compare as TypeScript only when both bundles carry their source. */
export function versionDiff(from: CompiledModule, to: CompiledModule, projectDir: string): VersionDiff {
  let a = sourceOf(from, projectDir);
  let b = sourceOf(to, projectDir);
  if (a.of !== b.of) {
    const js = (m: CompiledModule) => ({ ...sourceOf({ ...m, code: m.code.replace(/\/\/# sourceMappingURL=data:[^\n]*\n?$/, "") }, projectDir) });
    a = js(from);
    b = js(to);
  }
  const split = (s: string): string[] => s.replace(/\n$/, "").split("\n");
  const d = diffLines(split(a.text), split(b.text));
  return { module: from.name, from: from.version, to: to.version, of: a.of, file: b.file, ...d };
}
