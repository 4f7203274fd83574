/**
 * What the coordinator answers to clients (`devcluster` commands, the shell,
 * the observer's tracing): one function per request, over a small view of the
 * coordinator, so the coordinator itself keeps only membership, names and the
 * control link.
 */
import { ClusterError } from "../../wire/errors";
import type { Logger } from "../../wire/log";
import type { Pid } from "../../wire/pid";
import { toWireError, type ClientMessage, type ClientRequest, type NodeOp, type ReloadSource } from "../../wire/protocol";
import type { CodeStore } from "./codeStore";
import type { CompiledModule } from "../save/compiler";
import type { LogAnswer, LogQuery } from "./logs";
import type { ReloadReport } from "./reloadTransaction";
import type { KeptRestart, RestartResult, StatusReport } from "./reports";
import type { KeptStop } from "./keptState";
import type { HistoryReport } from "./versionHistory";
import type { TraceRequest } from "../../wire/observer";

export interface ClientRequestsHost {
  readonly log: Logger;
  readonly cluster: string;
  /** the configured nodes, in config order */
  readonly nodes: string[];
  readonly store: CodeStore;
  status(): Promise<StatusReport>;
  historyReport(module?: string): HistoryReport;
  compile(modules: string[]): Promise<CompiledModule[]>;
  reload(modules: CompiledModule[], opts: { force?: boolean; source?: ReloadSource; allOrNothing?: boolean }): Promise<ReloadReport>;
  rollback(names: string[], opts: { force?: boolean; source?: ReloadSource; to?: string }): Promise<ReloadReport>;
  nodeRequest(node: string, op: NodeOp, timeoutMs?: number): Promise<unknown>;
  whereis(name: string): Pid | undefined;
  names(): Record<string, Pid>;
  osPidOf(node: string): number | null;
  restart?(node: string, fresh: boolean): Promise<KeptRestart>;
  keepState?(): Promise<KeptStop>;
  logs?: { query(q: LogQuery): Promise<LogAnswer> };
  trace(req: TraceRequest): Promise<unknown>;
}

/** The response to one client request: its answer, or the error it failed with. */
export async function answerClient(host: ClientRequestsHost, id: number, req: ClientRequest): Promise<ClientMessage> {
  try {
    return { type: "response", id, ok: true, value: await answerRequest(host, req) };
  } catch (err) {
    return { type: "response", id, ok: false, error: toWireError(err) };
  }
}

/** The answer to one client request; throws a ClusterError the client receives as its error. */
export async function answerRequest(host: ClientRequestsHost, req: ClientRequest): Promise<unknown> {
  switch (req.type) {
    case "status":
      return host.status();
    case "reload": {
      const unknown = req.modules.filter((m) => !host.store.has(m));
      if (unknown.length) {
        throw new ClusterError("unknown_module", `unknown module ${unknown.join(", ")} (modules: ${host.store.names().join(", ")})`);
      }
      return host.reload(await host.compile(req.modules), { force: req.force, source: req.source ?? "cli", allOrNothing: req.allOrNothing });
    }
    case "rollback":
      return host.rollback(req.modules, { force: req.force, source: req.source ?? "cli", ...(req.to !== undefined ? { to: req.to } : {}) });
    case "history":
      return host.historyReport(req.module);
    case "restart":
      return restartNodes(host, req.nodes, req.fresh === true);
    case "stop":
      if (!req.keepState) return { stopping: true };
      if (!host.keepState) throw new ClusterError("not_ready", "this coordinator cannot keep its nodes' processes");
      return host.keepState();
    case "node": {
      const extra = req.op.op === "call" ? (req.op.timeoutMs ?? 5000) + 1000 : 10_000;
      return host.nodeRequest(req.node, req.op, extra);
    }
    case "whereis":
      return host.whereis(req.name);
    case "names":
      return host.names();
    case "logs":
      if (!host.logs) throw new ClusterError("not_ready", "this coordinator keeps no logs");
      return host.logs.query(req);
    case "trace":
      return host.trace(req.req);
    default: {
      const unhandled: never = req;
      return unhandled;
    }
  }
}

/** Restarts nodes one after another (each back with the current code before the next goes down). */
async function restartNodes(host: ClientRequestsHost, names: string[] | undefined, fresh: boolean): Promise<RestartResult[]> {
  const restart = host.restart;
  if (!restart) throw new ClusterError("not_ready", "this coordinator cannot restart nodes");
  const list = names?.length ? names : host.nodes;
  const unknown = list.filter((n) => !host.nodes.includes(n));
  if (unknown.length) throw new ClusterError("badarg", `no node ${unknown.join(", ")} in cluster ${host.cluster} (nodes: ${host.nodes.join(", ")})`);
  const results: RestartResult[] = [];
  for (const node of list) {
    const before = host.osPidOf(node);
    host.log.info({ member: node }, fresh ? `restarting ${node}: its processes start afresh (--fresh)` : `restarting ${node}, keeping its processes`);
    const kept = await restart(node, fresh);
    results.push({ node, osPidBefore: before, osPidAfter: host.osPidOf(node), ...kept });
  }
  return results;
}
