import * as path from "node:path";
import type { SavePlan } from "./pendingSaves";
import type { ChangeBatch } from "./watcher";

/**
 * The words `up` says about one save beside its reload report: which saved
 * file rebuilt which modules, and which files were held back and why. A save
 * that sends part of itself says so here; nothing else would (docs/design.md §3:
 * every report is true).
 */

/** A file the save did not send, for people and for `--json`. */
export interface HeldFile {
  /** relative to the project folder, forward slashes */
  file: string;
  /** `does not compile: src/bad.ts:3:5`, `waits for lib (src/lib.ts) to export bonus` */
  why: string;
}

/** Every file of the plan that stays dirty, the ones that do not compile first. */
export function heldFiles(plan: SavePlan, projectDir: string): HeldFile[] {
  const rel = relTo(projectDir);
  return [
    ...plan.broken.map((b) => ({ file: rel(b.file), why: `does not compile: ${b.at}` })),
    ...plan.held.map((h) => ({ file: rel(h.file), why: `waits for ${h.waitsFor}` })),
  ];
}

/**
 * The compile error as `up` logs it: each error with file:line:col and its
 * line, then what happened to the rest of the save. The compiler's own last
 * sentence ("Nothing was sent") speaks for a set compiled as one, which is
 * true only when this save sends nothing.
 */
export function compileErrorText(plan: SavePlan, projectDir: string): string {
  const err = plan.error;
  if (!err) return "";
  if (plan.send.length === 0) return err.message;
  const body = err.message.slice(0, Math.max(0, err.message.lastIndexOf("\n")));
  const rel = relTo(projectDir);
  const broken = plan.broken.map((b) => rel(b.file));
  const sent = plan.send.map((m) => `${m.name} (${rel(m.file)})`);
  const one = broken.length === 1;
  return `${body}\n${broken.join(", ")} ${one ? "is" : "are"} held back until ${one ? "it compiles" : "they compile"}; the nodes keep ${one ? "its" : "their"} last good version. The rest of this save goes to the nodes without ${one ? "it" : "them"}: ${sent.join(", ")}.`;
}

/**
 * A file that was held back (it did not compile, it waited for another, the
 * nodes refused it) saved back to the version every node runs: `up` said it
 * was held, so it says that is over, instead of going quiet while the
 * warning seems to stand.
 */
export function backText(plan: SavePlan, projectDir: string): string | undefined {
  if (plan.back.length === 0) return undefined;
  const rel = relTo(projectDir);
  const one = plan.back.length === 1;
  const files = plan.back.map((b) => rel(b.file)).join(", ");
  const versions = plan.back.map((b) => `${b.module}@${b.version.slice(0, 8)}`).join(", ");
  return `${files} ${one ? "is" : "are"} back to the running version${one ? "" : "s"} ${versions}`;
}

/**
 * What the save's transaction line adds after the report: the saved files
 * that are bundled into the modules sent (a `.json` in src, `../shared/fmt.ts`),
 * and every file held back with why.
 */
export function saveClauses(plan: SavePlan, batch: ChangeBatch, projectDir: string): string[] {
  const rel = relTo(projectDir);
  const clauses: string[] = [];
  for (const asset of batch.assets) {
    const into = plan.send.filter((m) => m.bundled.includes(asset)).map((m) => m.name);
    if (into.length) clauses.push(`saved ${rel(asset)}, which is bundled into ${into.join(", ")}`);
  }
  const held = heldFiles(plan, projectDir);
  if (held.length) clauses.push(`held back: ${held.map((h) => `${h.file} (${h.why})`).join(", ")}`);
  const back = backText(plan, projectDir);
  if (back) clauses.push(back);
  return clauses;
}

function relTo(projectDir: string): (file: string) => string {
  return (file) => path.relative(projectDir, file).split(path.sep).join("/");
}
