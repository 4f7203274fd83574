import { inspect } from "node:util";
import { ClusterError } from "../../wire/errors";
import { ClusterClient } from "../dev/client";
import type { StatusReport } from "../dev/coordinator";
import { evalOnce, startShell } from "../shell/repl";
import { toJson } from "../views/tables";

/**
 * `--node n9` for a node the cluster does not have is refused before anything
 * runs, with the nodes it does have: otherwise the shell would start, and
 * every spawn or evalOn would fail later and further from the typo.
 */
async function checkNode(projectDir: string, node: string): Promise<void> {
  const client = ClusterClient.connect(projectDir);
  try {
    const s = await client.request<StatusReport>({ type: "status" });
    const known = s.nodes.map((n) => n.name);
    if (!known.includes(node)) {
      throw new ClusterError("badarg", `--node ${node}: cluster ${s.name} has no node ${node}; its nodes are ${known.join(", ")}`);
    }
  } finally {
    client.close();
  }
}

/** `devcluster shell --eval`: one expression, its value on stdout, the exit code says whether it threw. */
export async function shellEval(projectDir: string, code: string, opts: { json?: boolean; node?: string }): Promise<number> {
  if (opts.node !== undefined) await checkNode(projectDir, opts.node);
  return evalOnce(projectDir, code, {
    ...opts,
    render: (value) => (opts.json ? toJson(value) : inspect(value, { depth: 6, colors: Boolean(process.stdout.isTTY) })),
  });
}

/** `devcluster shell`: the REPL until the user leaves it (non-zero when a piped script had a failing line), or with `--eval` one expression. */
export async function shell(projectDir: string, opts: { eval?: string; json?: boolean; node?: string }): Promise<number> {
  if (opts.eval !== undefined) return shellEval(projectDir, opts.eval, opts);
  if (opts.node !== undefined) await checkNode(projectDir, opts.node);
  return startShell(projectDir, { node: opts.node, terminal: process.env.DEVCLUSTER_SHELL_TERMINAL === "1" ? true : undefined });
}
