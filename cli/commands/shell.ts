import { inspect } from "node:util";
import { evalOnce, startShell } from "../shell/repl";
import { toJson } from "../views/tables";

/** `devcluster shell --eval`: one expression, its value on stdout, the exit code says whether it threw. */
export function shellEval(projectDir: string, code: string, opts: { json?: boolean; node?: string }): Promise<number> {
  return evalOnce(projectDir, code, {
    ...opts,
    render: (value) => (opts.json ? toJson(value) : inspect(value, { depth: 6, colors: Boolean(process.stdout.isTTY) })),
  });
}

/** `devcluster shell`: the REPL until the user leaves it (non-zero when a piped script had a failing line), or with `--eval` one expression. */
export function shell(projectDir: string, opts: { eval?: string; json?: boolean; node?: string }): Promise<number> {
  if (opts.eval !== undefined) return shellEval(projectDir, opts.eval, opts);
  return startShell(projectDir, { node: opts.node, terminal: process.env.DEVCLUSTER_SHELL_TERMINAL === "1" ? true : undefined });
}
