import { inspect } from "node:util";
import { ClusterError, type ErrorCode } from "../../wire/errors";
import { Pid, parsePid } from "../../wire/pid";
import type { NodeOp, ProcessInfo } from "../../wire/protocol";
import type { ClusterClient } from "../dev/client";
import type { ReloadReport, RestartResult, StatusReport } from "../dev/coordinator";
import type { HistoryReport } from "../dev/versionHistory";
import { HistoryView, renderRestart } from "../views/history";
import { ProcessTable } from "../views/processes";
import { ReloadView } from "../views/reloadReport";
import { LogLines } from "../views/logLines";
import type { LogAnswer } from "../dev/logs";
import { StatusView } from "../views/status";
import { TreeView } from "../views/tree";
import { Overview } from "../views/overview";
import type { SupervisionTree } from "../../wire/protocol";
import { PerNode, Rendered, VersionTable, unrender } from "./results";
import { ShellTracer } from "./trace";
import { ShellMailbox } from "./mailbox";

const isThenable = (v: unknown): v is PromiseLike<unknown> => v !== null && typeof v === "object" && typeof (v as { then?: unknown }).then === "function";

function fail(code: ErrorCode, message: string): never {
  throw new ClusterError(code, message);
}

export interface Helper {
  name: string;
  /** the signature as a user types it */
  usage: string;
  help: string;
  example: string;
  fn: (...args: any[]) => unknown;
}

/**
 * The helpers a shell user types, each a thin wrapper over a client request,
 * as Erlang's `c:l/1` is two calls to `code`. Pids may be given as a pid
 * value, its printed form `<n1.42>`, or a registered name.
 */
export class ShellContext {
  private readonly mailbox = new ShellMailbox(this);
  /** trace() and untrace(); each event is a line, printed by `print` (the REPL keeps its prompt under them) */
  private readonly tracer: ShellTracer;

  constructor(
    private readonly client: () => ClusterClient,
    readonly defaultNode?: string,
    print: (line: string) => void = (line) => process.stdout.write(line + "\n"),
  ) {
    this.tracer = new ShellTracer(() => this.client(), print);
  }

  /** A pid, its text, a registered name, or a promise of one (`call(self(), ...)` needs no await). */
  async resolve(target: Pid | string | PromiseLike<Pid | string>): Promise<Pid> {
    if (isThenable(target)) target = await target;
    if (target instanceof Pid) return target;
    if (typeof target !== "string") fail("badarg", `expected a pid, "<n1.42>" or a registered name, got ${inspect(target)}`);
    const parsed = parsePid(target);
    if (parsed) return parsed;
    const pid = await this.client().request<Pid | undefined>({ type: "whereis", name: target });
    if (!pid) fail("noproc", `no process is registered as ${target}`);
    return pid;
  }

  /** processInfo as the node the process lives on answers it (names included). */
  async processInfo(target: Pid | string): Promise<ProcessInfo> {
    const pid = await this.resolve(target);
    return (await this.op(pid.node, { op: "processInfo", pid })) as ProcessInfo;
  }

  op(node: string, op: NodeOp, timeoutMs?: number): Promise<unknown> {
    return this.client().request({ type: "node", node, op }, timeoutMs);
  }

  status(): Promise<StatusReport> {
    return this.client().request<StatusReport>({ type: "status" });
  }

  /** The processes of one node, or of every node that is up: what ps() and `devcluster ps` show. */
  async ps(node?: string): Promise<ProcessTable> {
    const names = node ? [node] : await this.upNodes();
    const lists = await Promise.all(names.map((n) => this.op(n, { op: "ps" }) as Promise<ProcessInfo[]>));
    return new ProcessTable(lists.flat());
  }

  async upNodes(): Promise<string[]> {
    return (await this.status()).nodes.filter((n) => n.up).map((n) => n.name);
  }

  private node(node: string | undefined, what: string): string {
    const n = node ?? this.defaultNode;
    if (!n) fail("badarg", `${what}: name the node (or start the shell with --node <name>)`);
    return n;
  }

  /** The shell's own pid, for processes to reply to. */
  self(): Promise<Pid> {
    return this.mailbox.self();
  }

  /** Names, nodes and modules for tab completion. */
  async completions(): Promise<{ nodes: string[]; names: string[]; modules: string[] }> {
    const [status, names] = await Promise.all([this.status(), this.client().request<Record<string, Pid>>({ type: "names" })]);
    const modules = [...new Set(status.nodes.flatMap((n) => Object.keys(n.modules)))].sort();
    return { nodes: status.nodes.map((n) => n.name), names: Object.keys(names).sort(), modules };
  }

  /** Keeps the shell's mailbox alive while the shell is. */
  touch(): Promise<void> {
    return this.mailbox.touch();
  }

  /** Ends the shell's mailbox process and its traces' readers. */
  async close(): Promise<void> {
    this.tracer.close();
    await this.mailbox.close();
  }

  helpers(): Helper[] {
    const h = (name: string, usage: string, help: string, example: string, fn: Helper["fn"]): Helper => ({ name, usage, help, example, fn });
    return [
      h("nodes", "nodes()", "names of the nodes that are up", "nodes()", () => this.upNodes()),
      h("status", "status()", "the cluster: nodes, OS pids, processes, module versions", "status()", async () => new StatusView(await this.status())),
      h("ps", "ps(node?)", "processes: pid, name, module, version, mailbox, handled, memory, status", 'ps("n1")', (node?: string) => this.ps(node)),
      h("state", "state(pid)", "a process's current state", 'state("room:lobby")', async (target: Pid | string) => {
        const pid = await this.resolve(target);
        return unrender(await this.op(pid.node, { op: "state", pid }));
      }),
      h("send", "send(pid, msg)", "a plain message, handled by handleInfo", 'send("<n1.3>", { type: "ping" })', async (target: Pid | string, msg: unknown) => {
        const pid = await this.resolve(target);
        await this.op(pid.node, { op: "send", pid, msg });
        return msg;
      }),
      h(
        "call",
        "call(pid, msg, timeoutMs?)",
        "a request; waits for the reply (default 5000 ms)",
        'call("counter:n1", { type: "get" })',
        async (target: Pid | string, msg: unknown, timeoutMs?: number) => {
          const pid = await this.resolve(target);
          return unrender(await this.op(pid.node, { op: "call", pid, msg, ...(timeoutMs !== undefined ? { timeoutMs } : {}) }, (timeoutMs ?? 5000) + 3000));
        },
      ),
      h(
        "cast",
        "cast(pid, msg)",
        "a request without reply, handled by handleCast",
        'cast("counter:n1", { type: "reset" })',
        async (target: Pid | string, msg: unknown) => {
          const pid = await this.resolve(target);
          await this.op(pid.node, { op: "cast", pid, msg });
          return true;
        },
      ),
      h(
        "spawn",
        "spawn(node, module, args)",
        "starts a process; resolves to its pid after init",
        'spawn("n2", "counter", { start: 0 })',
        (node: string | undefined, module: string, args?: unknown) => this.op(this.node(node, "spawn"), { op: "spawn", module, args }),
      ),
      h(
        "kill",
        "kill(pid, reason?)",
        'sends an exit signal; the default "kill" cannot be trapped',
        'kill("<n1.7>")',
        async (target: Pid | string, reason: unknown = "kill") => {
          const pid = await this.resolve(target);
          return this.op(pid.node, { op: "kill", pid, reason });
        },
      ),
      h(
        "restart",
        "restart(pid)",
        "restarts a process through its supervisor, or with its first args and names",
        'restart("room:lobby")',
        async (target: Pid | string) => {
          const pid = await this.resolve(target);
          return this.op(pid.node, { op: "restart", pid });
        },
      ),
      h("whereis", "whereis(name)", "the pid registered under a cluster-wide name", 'whereis("room:lobby")', (name: string) =>
        this.client().request({ type: "whereis", name }),
      ),
      h(
        "rpc",
        "rpc(node, module, fn, ...args)",
        "runs an exported function on one node",
        'rpc("n2", "chat/rooms", "homeNode", "lobby", ["n1","n2"])',
        (node: string, module: string, fn: string, ...args: unknown[]) => this.op(node, { op: "rpc", module, fn, args }).then(unrender),
      ),
      h(
        "multicall",
        "multicall(module, fn, ...args)",
        "runs an exported function on every node, answering per node",
        'multicall("chat/format", "formatNotice", "lobby", "hi", 0)',
        async (module: string, fn: string, ...args: unknown[]) => {
          const nodes = await this.upNodes();
          const results = await Promise.all(
            nodes.map((n) =>
              this.op(n, { op: "rpc", module, fn, args }).then(
                (value) => [n, { ok: true as const, value }] as const,
                (err: Error & { code?: string }) => [n, { ok: false as const, error: `${err.code ?? "error"}: ${err.message}` }] as const,
              ),
            ),
          );
          return new PerNode(Object.fromEntries(results));
        },
      ),
      h(
        "reload",
        "reload(...modules)",
        "loads modules' current source into every node (c:l on all nodes)",
        'reload("chat/format")',
        async (...modules: string[]) => {
          if (modules.length === 0) fail("badarg", "reload(...modules): name at least one module");
          return new ReloadView(await this.client().request<ReloadReport>({ type: "reload", modules, force: false, source: "shell" }, 30_000));
        },
      ),
      h(
        "rollback",
        "rollback(...modules, { to? })",
        "loads the version each module had before its last reload (or `to`, a version from history()), on every node",
        'rollback("chat/format", { to: "668bfc3d" })',
        async (...args: (string | { to?: string })[]) => {
          const last = args[args.length - 1];
          const to = typeof last === "object" && last !== null ? last.to : undefined;
          const modules = args.filter((a): a is string => typeof a === "string");
          if (modules.length === 0) fail("badarg", "rollback(...modules): name at least one module");
          const req = { type: "rollback" as const, modules, force: false, source: "shell" as const, ...(to !== undefined ? { to } : {}) };
          return new ReloadView(await this.client().request<ReloadReport>(req, 30_000), { rollback: true });
        },
      ),
      h(
        "versions",
        "versions(module?)",
        "which version each node runs, old versions still in use, and modules whose file on disk differs",
        'versions("chat/format")',
        async (module?: string) => {
          const status = await this.status();
          const nodes = status.nodes.filter((n) => n.up).map((n) => n.name);
          const per = await Promise.all(
            nodes.map(async (n) => [n, await this.op(n, { op: "versions", ...(module !== undefined ? { module } : {}) })] as const),
          );
          const drift = (status.drift ?? []).filter((d) => module === undefined || d.module === module);
          return new VersionTable(Object.fromEntries(per) as VersionTable["byNode"], drift);
        },
      ),
      h(
        "history",
        "history(module?)",
        "every version since up: time, source (up, save, reload, rollback), size, the nodes that run it",
        'history("chat/format")',
        async (module?: string) =>
          new HistoryView(await this.client().request<HistoryReport>({ type: "history", ...(module !== undefined ? { module } : {}) })),
      ),
      h(
        "restartNodes",
        "restartNodes(...nodes)",
        "restarts nodes one at a time (every node without names), back with the current code; their processes come back with their state and pids",
        'restartNodes("n2")',
        async (...nodes: string[]) => {
          const results = await this.client().request<RestartResult[]>({ type: "restart", nodes }, 60_000 * Math.max(1, nodes.length || 4));
          return { [inspect.custom]: () => renderRestart(results), toJSON: () => results };
        },
      ),
      h(
        "evalOn",
        "evalOn(node, code)",
        "evaluates a snippet on a node with the runtime API in scope",
        'evalOn("n1", "process.memoryUsage().rss")',
        (node: string | undefined, code: string) => this.op(this.node(node, "evalOn"), { op: "evalOn", code }).then(unrender),
      ),
      h("registered", "registered()", "every cluster-wide name, sorted", "registered()", async () =>
        Object.keys(await this.client().request<Record<string, Pid>>({ type: "names" })).sort(),
      ),
      h(
        "unregister",
        "unregister(name)",
        "drops a cluster-wide name (the process lives on); true if it was registered",
        'unregister("room:lobby")',
        async (name: string) => {
          if (typeof name !== "string" || name === "") fail("badarg", "unregister(name): name is a non-empty string");
          const holder = await this.client().request<Pid | undefined>({ type: "whereis", name });
          if (!holder) return false;
          // The holder's node unregisters it: the coordinator hears it there before the answer comes back.
          return this.op(holder.node, { op: "unregister", name });
        },
      ),
      h(
        "tree",
        "tree(node?)",
        "the supervision trees of one node or all: supervisor -> children with id, pid, module, restart type",
        'tree("n1")',
        async (node?: string) => {
          const names = node ? [node] : await this.upNodes();
          const per = await Promise.all(names.map(async (n) => [n, (await this.op(n, { op: "tree" })) as SupervisionTree[]] as const));
          return new TreeView(Object.fromEntries(per));
        },
      ),
      h(
        "processInfo",
        "processInfo(pid)",
        "status, mailbox, handled, version, memory, links, monitors, supervisor, timers, names of one process",
        'processInfo("room:lobby")',
        (target: Pid | string) => this.processInfo(target),
      ),
      h(
        "links",
        "links(pid)",
        "the pids linked to a process",
        'links("chat:sup:n1")',
        async (target: Pid | string) => (await this.processInfo(target)).links ?? [],
      ),
      h("i", "i()", "one table of every process on every node, with links, monitors, supervisor, timers and owned resources", "i()", async () => {
        const nodes = await this.upNodes();
        const lists = await Promise.all(nodes.map((n) => this.op(n, { op: "ps" }) as Promise<ProcessInfo[]>));
        return new Overview(lists.flat(), nodes);
      }),
      h(
        "replaceState",
        "replaceState(pid, fn)",
        "sys:replace_state: fn(state) runs in the process between its messages and returns the new state; fn travels as source text, so it cannot use shell variables",
        'replaceState("counter:n1", (s) => ({ ...s, n: 0 }))',
        async (target: Pid | string, fn: ((state: any) => unknown) | string) => {
          if (typeof fn !== "function" && typeof fn !== "string") fail("badarg", "replaceState(pid, fn): fn is a function (state) => newState");
          const pid = await this.resolve(target);
          return unrender(await this.op(pid.node, { op: "replaceState", pid, fn: String(fn) }));
        },
      ),
      h(
        "suspend",
        "suspend(pid)",
        "sys:suspend: the process handles only system messages; the others wait in its mailbox until resume(pid)",
        'suspend("counter:n1")',
        async (target: Pid | string) => {
          const pid = await this.resolve(target);
          await this.op(pid.node, { op: "observer", req: { op: "suspend", pid } });
          return new Rendered(`${pid} suspended: its messages wait in its mailbox until resume("${pid}")`);
        },
      ),
      h("resume", "resume(pid)", "sys:resume: a suspended process handles its mailbox again", 'resume("counter:n1")', async (target: Pid | string) => {
        const pid = await this.resolve(target);
        await this.op(pid.node, { op: "observer", req: { op: "resume", pid } });
        return new Rendered(`${pid} resumed`);
      }),
      h("self", "self()", "the shell's own pid, for processes to reply to", 'call("counter:n1", { type: "get", replyTo: await self() })', () => this.self()),
      h(
        "logs",
        "logs(node?, n?)",
        'the last n lines (default 20) a node logged, or every node\'s; "up" is the coordinator',
        'logs("n1", 50)',
        async (node?: string | number, n?: number) => {
          if (typeof node === "number") [node, n] = [undefined, node];
          const a = await this.client().request<LogAnswer>({ type: "logs", ...(node !== undefined ? { node } : {}), lines: n ?? 20 });
          return new LogLines(a.lines, a.names);
        },
      ),
      h(
        "trace",
        "trace(pid | name, opts?) / trace(module, fn, opts?)",
        "prints every message in and out of a process, or every call of an exported function, on every node; stops after opts.count events (100) or opts.ms (60000)",
        'trace("counter:n1", { count: 10 })',
        async (target: unknown, fnOrOpts?: unknown, opts?: unknown) => new Rendered(await this.tracer.trace(target, fnOrOpts, opts)),
      ),
      h(
        "untrace",
        "untrace()",
        "stops every trace now and prints what it had not printed",
        "untrace()",
        async (id?: number) => new Rendered(await this.tracer.untrace(id)),
      ),
      h("flush", "flush()", "shows and clears the messages sent to the shell's pid", "flush()", () => this.mailbox.flush()),
    ];
  }

  /** name -> function, for a REPL or --eval context. */
  scope(): Record<string, (...args: any[]) => unknown> {
    return Object.fromEntries(this.helpers().map((x) => [x.name, x.fn]));
  }
}
