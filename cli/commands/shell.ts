import * as vm from "node:vm";
import { inspect } from "node:util";
import { Connection, describeError, startShell } from "../shell/repl";
import { ShellContext } from "../shell/helpers";
import { toJson } from "../views/tables";

/**
 * Evaluates an expression with the shell's helpers in scope. Top-level await
 * works: the text is tried as an async expression first, then as a body.
 */
export async function evaluate(code: string, scope: Record<string, unknown>): Promise<unknown> {
  const context = vm.createContext({ ...scope, console });
  let script: vm.Script;
  try {
    script = new vm.Script(`(async () => (${code}\n))()`, { filename: "shell" });
  } catch {
    script = new vm.Script(`(async () => {${code}\n})()`, { filename: "shell" });
  }
  return script.runInContext(context) as Promise<unknown>;
}

/** `devcluster shell --eval`: one expression, its value on stdout, the exit code says whether it threw. */
export async function shellEval(projectDir: string, code: string, opts: { json?: boolean; node?: string }): Promise<number> {
  const conn = new Connection(projectDir);
  const ctx = new ShellContext(() => conn.get(), opts.node);
  try {
    conn.get();
    const value = await evaluate(code, ctx.scope());
    process.stdout.write((opts.json ? toJson(value) : inspect(value, { depth: 6, colors: Boolean(process.stdout.isTTY) })) + "\n");
    return 0;
  } catch (err) {
    process.stderr.write(describeError(err) + "\n");
    return 1;
  } finally {
    await ctx.close();
    conn.drop();
  }
}

export async function shell(projectDir: string, opts: { node?: string }): Promise<number> {
  await startShell(projectDir, { node: opts.node, terminal: process.env.DEVCLUSTER_SHELL_TERMINAL === "1" ? true : undefined });
  return 0;
}
