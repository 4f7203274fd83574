import { inspect } from "node:util";
import { evalOnce, startShell } from "../shell/repl";
import { toJson } from "../shell/views";

/** `devcluster shell --eval`: one expression, its value on stdout, the exit code says whether it threw. */
export function shellEval(projectDir: string, code: string, opts: { json?: boolean; node?: string }): Promise<number> {
  return evalOnce(projectDir, code, { ...opts, render: (value) => (opts.json ? toJson(value) : inspect(value, { depth: 6, colors: Boolean(process.stdout.isTTY) })) });
}

/** `devcluster shell`: exits non-zero when a piped script had a failing line. */
export function shell(projectDir: string, opts: { node?: string }): Promise<number> {
  return startShell(projectDir, { node: opts.node, terminal: process.env.DEVCLUSTER_SHELL_TERMINAL === "1" ? true : undefined });
}
