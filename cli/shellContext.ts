import { inspect } from "node:util";
import { Pid, parsePid } from "../runtime/pid";
import { RENDERED, type NodeOp, type ProcessInfo } from "../runtime/protocol";
import type { ClusterClient } from "./client";
import type { ReloadReport, StatusReport } from "./coordinator";

/** A state that could not travel (it holds a socket, a function): the node's util.inspect of it. */
export class Rendered {
  constructor(readonly text: string) {}
  [inspect.custom](): string {
    return this.text;
  }
  toJSON(): string {
    return this.text;
  }
}

function unrender(value: unknown): unknown {
  if (value !== null && typeof value === "object" && RENDERED in value) return new Rendered(String((value as Record<string, unknown>)[RENDERED]));
  return value;
}

function fail(code: string, message: string): never {
  throw Object.assign(new Error(message), { code });
}

/**
 * The helpers a shell user types, each a thin wrapper over a client request,
 * as Erlang's `c:l/1` is two calls to `code`.
 */
export class ShellContext {
  constructor(
    private readonly client: ClusterClient,
    private readonly defaultNode?: string,
  ) {}

  /** A pid value, its printed form `<n1.42>`, or a registered name. */
  async resolve(target: Pid | string): Promise<Pid> {
    if (target instanceof Pid) return target;
    if (typeof target !== "string") fail("badarg", `expected a pid, "<n1.42>" or a registered name, got ${String(target)}`);
    const parsed = parsePid(target);
    if (parsed) return parsed;
    const pid = await this.client.request<Pid | undefined>({ type: "whereis", name: target });
    if (!pid) fail("noproc", `no process is registered as ${target}`);
    return pid;
  }

  private op(node: string, op: NodeOp, timeoutMs?: number): Promise<unknown> {
    return this.client.request({ type: "node", node, op }, timeoutMs);
  }

  helpers(): Record<string, (...args: any[]) => unknown> {
    return {
      nodes: async (): Promise<string[]> => (await this.status()).nodes.filter((n) => n.up).map((n) => n.name),
      status: () => this.status(),
      spawn: (node: string | undefined, module: string, args?: unknown): Promise<unknown> => {
        const target = node ?? this.defaultNode;
        if (!target) fail("badarg", "spawn(node, module, args): name the node");
        return this.op(target, { op: "spawn", module, args });
      },
      call: async (target: Pid | string, msg: unknown, timeoutMs?: number): Promise<unknown> => {
        const pid = await this.resolve(target);
        return this.op(pid.node, { op: "call", pid, msg, ...(timeoutMs !== undefined ? { timeoutMs } : {}) }, (timeoutMs ?? 5000) + 3000);
      },
      cast: async (target: Pid | string, msg: unknown): Promise<true> => {
        const pid = await this.resolve(target);
        await this.op(pid.node, { op: "cast", pid, msg });
        return true;
      },
      send: async (target: Pid | string, msg: unknown): Promise<true> => {
        const pid = await this.resolve(target);
        await this.op(pid.node, { op: "send", pid, msg });
        return true;
      },
      state: async (target: Pid | string): Promise<unknown> => {
        const pid = await this.resolve(target);
        return unrender(await this.op(pid.node, { op: "state", pid }));
      },
      ps: async (node?: string): Promise<ProcessInfo[]> => {
        const names = node ? [node] : (await this.status()).nodes.filter((n) => n.up).map((n) => n.name);
        const lists = await Promise.all(names.map((n) => this.op(n, { op: "ps" }) as Promise<ProcessInfo[]>));
        return lists.flat();
      },
      whereis: (name: string): Promise<unknown> => this.client.request({ type: "whereis", name }),
      reload: (...modules: string[]): Promise<ReloadReport> => this.client.request<ReloadReport>({ type: "reload", modules, force: false }, 30_000),
    };
  }

  status(): Promise<StatusReport> {
    return this.client.request<StatusReport>({ type: "status" });
  }
}
