/**
 * The everyday edits the real-project tests (issue 17: raftKv, tusServer) make to a running cluster's files, as a
 * developer's editor makes them: a change or a rename in a file's current text, a save that waits for its reports,
 * and the check that every node reloaded and runs the reported version.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import type { DevServer, SaveReport } from "../../cli/dev/devServer";
import type { LogCapture, Project } from "./cluster";

/** Getters, since the suite makes its cluster in `before`. */
export interface EditContext {
  server(): DevServer;
  project(): Project;
  logs(): LogCapture;
  /** every node's name, sorted */
  nodes: string[];
}

export function projectEdits(ctx: EditContext) {
  /** The first log line after the `mark`-th that matches `re`, once one does; fails at the deadline. */
  async function loggedSince(mark: number, re: RegExp, timeoutMs = 5_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = ctx
        .logs()
        .lines.slice(mark)
        .find((l) => re.test(l));
      if (line) return line;
      if (Date.now() > deadline) assert.fail(`up logged no line matching ${re} within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  const current = (rel: string): string => readFileSync(path.join(ctx.project().dir, rel), "utf8");

  /** The text of `rel` with each `[from, to]` applied in turn; each `from` must be there exactly once. */
  function edited(rel: string, ...edits: [from: string, to: string][]): string {
    let text = current(rel);
    for (const [from, to] of edits) {
      const count = text.split(from).length - 1;
      assert.equal(count, 1, `${rel}: expected one ${JSON.stringify(from)}, found ${count}`);
      text = text.replace(from, () => to);
    }
    return text;
  }

  /** The text of `rel` with every `from` made `to`, as an editor's rename does. */
  function renamed(rel: string, from: string, to: string): string {
    const text = current(rel);
    assert.ok(text.includes(from), `${rel}: no ${JSON.stringify(from)}`);
    return text.split(from).join(to);
  }

  /**
   * Saves the files as an editor does and returns the save reports until each of `reported` was in one (a
   * file whose output does not change, as a type-only edit, is no reload and gets no report).
   */
  async function save(changes: Record<string, string>, reported = Object.keys(changes)): Promise<SaveReport[]> {
    const waiting = new Set(reported);
    const reports: SaveReport[] = [];
    const done = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no save report for ${[...waiting].join(", ")} within 20 s`)), 20_000);
      const on = (s: SaveReport): void => {
        reports.push(s);
        for (const f of s.files)
          waiting.delete(
            f
              .split(path.sep)
              .join("/")
              .replace(/^.*?(src\/)/, "$1"),
          );
        if (waiting.size === 0 || s.error) {
          clearTimeout(timer);
          ctx.server().off("saved", on);
          resolve();
        }
      };
      ctx.server().on("saved", on);
    });
    for (const [rel, text] of Object.entries(changes)) ctx.project().write(rel, text);
    await done;
    return reports;
  }

  /** Saves and asserts that each report says every node reloaded the saved modules. */
  async function saveReloaded(changes: Record<string, string>, reported = Object.keys(changes)): Promise<void> {
    const reports = await save(changes, reported);
    for (const s of reports) {
      assert.ok(s.report, `no reload report: ${s.error?.message}`);
      assert.equal(s.report.ok, true, JSON.stringify(s.report));
      assert.deepEqual(
        s.report.nodes.map((n) => [n.node, n.ok]).sort(),
        ctx.nodes.map((n) => [n, true]),
      );
      assert.deepEqual([s.report.skipped ?? [], s.report.silent ?? []], [[], []]);
    }
    // and each node's own status names the version the report gave (a type-only module, which no node runs, is left out)
    const versions = new Map(reports.flatMap((s) => s.report!.modules.map((m): [string, string] => [m.name, m.version])));
    const nodes = (await ctx.server().coordinator.status()).nodes;
    for (const rel of reported) {
      const name = rel.replace(/^src\//, "").replace(/\.ts$/, "");
      assert.ok(versions.has(name), `${rel} not in the reports`);
      for (const n of nodes) assert.equal(n.modules[name], versions.get(name), `${n.name} runs ${name}@${n.modules[name]}, not the reported version`);
    }
  }

  return { loggedSince, edited, renamed, save, saveReloaded };
}
