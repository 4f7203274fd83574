/**
 * The node's half of the observer page: a snapshot of itself (stats and its
 * supervision trees), a sorted page of its processes, one process in detail,
 * suspend/resume, and tracing. Everything is read from the node's own tables
 * between messages; nothing here sends a message to a process, so a busy or
 * suspended process is observed without waiting on it.
 */
import { inspect } from "node:util";
import { ClusterError } from "../../wire/errors";
import type { Pid } from "../../wire/pid";
import type { NodeInfo } from "../../wire/protocol";
import type { NodeSnapshot, ObserverOp, ProcDetail, ProcQuery, ProcRow, SupervisorTree } from "../../wire/observer";
import { noproc, type Proc, type Processes } from "../process/process";
import { memoryOf } from "../process/reasons";
import { SUPERVISOR, type ChildSpec } from "../process/supervisor";
import type { Tracer } from "./trace";

export interface ObserveHost {
  readonly name: string;
  readonly procs: Processes;
  readonly tracer: Tracer;
  info(): NodeInfo;
  namesOf(pid: Pid): string[];
}

/** The supervisor's state, as runtime/process/supervisor.ts keeps it (read only). */
interface SupervisorState {
  strategy: string;
  children: { spec: ChildSpec; pid: Pid | undefined }[];
}

function supervisors(host: ObserveHost): SupervisorTree[] {
  const out: SupervisorTree[] = [];
  for (const p of host.procs.all()) {
    if (p.module !== SUPERVISOR || p.initializing) continue;
    const st = p.state as SupervisorState | undefined;
    if (!st || !Array.isArray(st.children)) continue;
    out.push({
      pid: p.pid.toString(),
      module: SUPERVISOR,
      ...(p.supervisor ? { parent: p.supervisor.toString() } : {}),
      strategy: String(st.strategy),
      children: st.children.map((c) => ({
        id: c.spec.id,
        ...(c.pid ? { pid: c.pid.toString() } : {}),
        module: c.spec.module,
        restart: c.spec.restart ?? "permanent",
        supervisor: c.spec.module === SUPERVISOR,
      })),
    });
  }
  return out;
}

export function snapshot(host: ObserveHost): NodeSnapshot {
  return { ...host.info(), uptime: process.uptime(), handledTotal: host.procs.handledTotal, supervisors: supervisors(host) };
}

function row(host: ObserveHost, p: Proc, memory: boolean): ProcRow {
  return {
    pid: p.pid.toString(),
    node: host.name,
    name: host.namesOf(p.pid)[0] ?? "",
    module: p.module,
    version: host.procs.versionOf(p),
    status: p.suspended ? "suspended" : p.running ? "running" : "waiting",
    mailbox: p.mailbox.length,
    handled: p.handled,
    memory: memory ? memoryOf(p.state) : -1,
  };
}

/**
 * The top `limit` rows of this node under `query`, and how many match. The
 * state's size is computed for every process only when sorting by it.
 */
export function procs(host: ObserveHost, query: ProcQuery): { total: number; rows: ProcRow[] } {
  const byMemory = query.sort === "memory";
  const needle = query.filter.trim().toLowerCase();
  const rows: ProcRow[] = [];
  for (const p of host.procs.all()) {
    const r = row(host, p, byMemory);
    if (needle && !`${r.pid} ${r.name} ${r.module} ${r.version} ${r.status}`.toLowerCase().includes(needle)) continue;
    rows.push(r);
  }
  const key = query.sort;
  const dir = query.desc ? -1 : 1;
  const pidNum = (s: string): number => Number(s.slice(s.lastIndexOf(".") + 1, -1));
  rows.sort((a, b) => {
    const x = key === "pid" ? pidNum(a.pid) : a[key];
    const y = key === "pid" ? pidNum(b.pid) : b[key];
    return (x < y ? -1 : x > y ? 1 : 0) * dir;
  });
  const top = rows.slice(0, Math.max(0, query.limit));
  if (!byMemory) for (const r of top) r.memory = memoryOf(host.procs.get(pidNum(r.pid))?.state);
  return { total: rows.length, rows: top };
}

export function detail(host: ObserveHost, pid: Pid, stateLimit: number): ProcDetail {
  if (pid.node !== host.name) throw new ClusterError("wrong_node", `${pid} lives on ${pid.node}, not ${host.name}`);
  const p = host.procs.get(pid.id);
  if (!p) throw new ClusterError("noproc", noproc(pid).message);
  const info = host.procs.info(p);
  const text = inspect(p.state, { depth: 6, breakLength: 100, maxArrayLength: 200, maxStringLength: stateLimit });
  return {
    pid: pid.toString(),
    module: info.module,
    version: info.version,
    names: host.namesOf(pid),
    status: info.status,
    mailbox: info.mailbox,
    handled: info.handled,
    memory: info.memory ?? 0,
    links: (info.links ?? []).map(String),
    monitors: (info.monitors ?? []).map(String),
    monitoredBy: (info.monitoredBy ?? []).map(String),
    ...(info.supervisor ? { supervisor: info.supervisor.toString() } : {}),
    trapExit: info.trapExit ?? false,
    state: text.length > stateLimit ? text.slice(0, stateLimit) : text,
    truncated: text.length > stateLimit,
  };
}

export function runObserverOp(host: ObserveHost, req: ObserverOp): unknown {
  switch (req.op) {
    case "snapshot":
      return snapshot(host);
    case "procs":
      return procs(host, req.query);
    case "detail":
      return detail(host, req.pid, req.stateLimit);
    case "suspend":
    case "resume": {
      if (req.pid.node !== host.name) throw new ClusterError("wrong_node", `${req.pid} lives on ${req.pid.node}, not ${host.name}`);
      const ok = req.op === "suspend" ? host.procs.suspend(req.pid.id) : host.procs.resume(req.pid.id);
      if (!ok) throw new ClusterError("noproc", noproc(req.pid).message);
      return true;
    }
    case "traceStart":
      host.tracer.start(req.id, req.spec, req.limits);
      return true;
    case "traceStop":
      host.tracer.stop(req.id);
      return true;
    case "traceDrain":
      return host.tracer.drain();
    default: {
      const unhandled: never = req;
      return unhandled;
    }
  }
}
