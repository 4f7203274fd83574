import { inspect } from "node:util";
import { evaluate } from "../shell/evaluate";
import { Connection, describeError, startShell } from "../shell/repl";
import { ShellContext } from "../shell/helpers";
import { toJson } from "../views/tables";

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

/** `devcluster shell`: the REPL until the user leaves it, or with `--eval` one expression. */
export async function shell(projectDir: string, opts: { eval?: string; json?: boolean; node?: string }): Promise<number> {
  if (opts.eval !== undefined) return shellEval(projectDir, opts.eval, opts);
  await startShell(projectDir, { node: opts.node, terminal: process.env.DEVCLUSTER_SHELL_TERMINAL === "1" ? true : undefined });
  return 0;
}
