/**
 * The node's half of the shell's debugging helpers that look inside
 * processes: the supervision trees of this node (`tree`) and sys:replace_state
 * (`replaceState`). Kept apart from nodeOps.ts, which relays the rest.
 */
import type { Pid } from "../../wire/pid";
import type { SupervisionTree } from "../../wire/protocol";
import { ClusterError } from "../../wire/errors";
import { noproc, type Processes } from "../process/process";
import { SUPERVISOR, type ChildInfo } from "../process/supervisor";
import type { Api } from "../api";

/** What these operations need from the node they run on. */
export interface DebugOpsHost {
  readonly name: string;
  readonly procs: Processes;
  readonly api: Api;
  namesOf(pid: Pid): string[];
  whichChildren(sup: Pid): Promise<ChildInfo[]>;
}

/**
 * Every supervision tree rooted on this node: each supervisor that no
 * supervisor started, with its children as whichChildren reports them (id,
 * pid, module, restart type), nested supervisors expanded. A supervisor's
 * children always live on its node, so one node answers for its trees.
 */
export async function trees(node: DebugOpsHost): Promise<SupervisionTree[]> {
  const roots = [...node.procs.all()].filter((p) => p.alive && p.module === SUPERVISOR && !p.supervisor).sort((a, b) => a.pid.id - b.pid.id);
  return Promise.all(roots.map((p) => expand(node, { pid: p.pid, module: SUPERVISOR, names: node.namesOf(p.pid) })));
}

async function expand(node: DebugOpsHost, at: SupervisionTree): Promise<SupervisionTree> {
  if (at.module !== SUPERVISOR || !at.pid) return at;
  let children: ChildInfo[];
  try {
    children = await node.whichChildren(at.pid);
  } catch (err) {
    // It ended (or is shutting down) while the tree was read: show it as it was found.
    return { ...at, error: (err as Error).message };
  }
  const subtrees = children.map((c) => expand(node, { id: c.id, pid: c.pid, module: c.module, restart: c.restart, names: c.pid ? node.namesOf(c.pid) : [] }));
  return { ...at, children: await Promise.all(subtrees) };
}

const AsyncFunction = (async () => undefined).constructor as new (...args: string[]) => (...args: unknown[]) => Promise<unknown>;

/** The shell's function, from its source text, with the runtime API in scope (as evalOn's snippets have it). */
function compile(node: DebugOpsHost, source: string): (state: unknown) => unknown {
  const scope: Record<string, unknown> = { ...node.api, node: node.name };
  const names = Object.keys(scope).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n));
  let fn: unknown;
  try {
    fn = new AsyncFunction(...names, `return (${source}\n);`);
  } catch (err) {
    throw new ClusterError("syntax_error", `replaceState: the function does not parse on ${node.name}: ${(err as Error).message}`);
  }
  return (state) =>
    (fn as (...a: unknown[]) => Promise<unknown>)(...names.map((n) => scope[n])).then((f) => {
      if (typeof f !== "function") throw new ClusterError("badarg", `replaceState: expected a function (state) => newState, got ${typeof f}`);
      return (f as (s: unknown) => unknown)(state);
    });
}

/**
 * sys:replace_state: `source` (a function's text) runs on the process's
 * node between two of its messages, after those already in its mailbox (and
 * while it is suspended too), given its state; what it returns is the new
 * state. If it throws, the state is left as it was.
 */
export function replaceState(node: DebugOpsHost, pid: Pid, source: string): Promise<unknown> {
  if (pid.node !== node.name) throw new ClusterError("wrong_node", `${pid} lives on ${pid.node}, not ${node.name}`);
  if (!node.procs.get(pid.id)) throw new ClusterError("noproc", noproc(pid).message);
  const fn = compile(node, source);
  return new Promise((resolve, reject) => {
    const run = async (p: { state: unknown }): Promise<void> => {
      try {
        const next = await fn(p.state);
        p.state = next;
        resolve(next);
      } catch (err) {
        reject(
          err instanceof ClusterError && err.code === "badarg"
            ? err
            : new ClusterError(
                "callback_failed",
                `replaceState on ${pid}: the function threw, the state is unchanged: ${(err as Error)?.message ?? String(err)}`,
                {
                  cause: err,
                },
              ),
        );
      }
    };
    const abandon = (): void => reject(new ClusterError("noproc", `${pid} ended before its state could be replaced`));
    if (!node.procs.deliver(pid.id, { kind: "system", run, abandon })) abandon();
  });
}
