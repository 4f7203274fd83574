import * as vm from "node:vm";
import { inspect } from "node:util";
import { ClusterClient } from "../client";
import { ShellContext } from "../shellContext";
import { toJson } from "../output";

/**
 * Evaluates an expression with the shell's helpers in scope. Top-level await
 * works: the text is tried as an async expression first, then as a body.
 */
export async function evaluate(code: string, helpers: Record<string, unknown>): Promise<unknown> {
  const context = vm.createContext({ ...helpers, console });
  let script: vm.Script;
  try {
    script = new vm.Script(`(async () => (${code}\n))()`, { filename: "shell" });
  } catch {
    script = new vm.Script(`(async () => {${code}\n})()`, { filename: "shell" });
  }
  return script.runInContext(context) as Promise<unknown>;
}

export async function shellEval(projectDir: string, code: string, opts: { json?: boolean; node?: string }): Promise<number> {
  const client = ClusterClient.connect(projectDir);
  try {
    const ctx = new ShellContext(client, opts.node);
    const value = await evaluate(code, ctx.helpers());
    process.stdout.write((opts.json ? toJson(value) : inspect(value, { depth: 8, colors: Boolean(process.stdout.isTTY) })) + "\n");
    return 0;
  } catch (err) {
    const e = err as Error & { code?: string };
    process.stderr.write(`${e.code ? `${e.code}: ` : ""}${e.message}\n`);
    return 1;
  } finally {
    client.close();
  }
}
