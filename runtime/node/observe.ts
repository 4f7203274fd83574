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
  /** every known name with its pid, read once per page instead of once per process */
  registeredNames?(): Iterable<[string, Pid]>;
  /** sys suspend/resume, the path the shell's suspend() and resume() take */
  suspend(pid: Pid): Promise<void>;
  resume(pid: Pid): Promise<void>;
}

/** The supervisor's state, as runtime/process/supervisor.ts keeps it (read only). */
interface SupervisorState {
  strategy: string;
  children: { spec: ChildSpec; pid: Pid | undefined }[];
}

function supervisors(host: ObserveHost): SupervisorTree[] {
  const out: SupervisorTree[] = [];
  const named = (pid: Pid | undefined): { names?: string[] } => {
    const names = pid ? host.namesOf(pid) : [];
    return names.length ? { names } : {};
  };
  for (const p of host.procs.all()) {
    if (p.module !== SUPERVISOR || p.initializing) continue;
    const st = p.state as SupervisorState | undefined;
    if (!st || !Array.isArray(st.children)) continue;
    out.push({
      pid: p.pid.toString(),
      module: SUPERVISOR,
      ...(p.supervisor ? { parent: p.supervisor.toString() } : {}),
      strategy: String(st.strategy),
      ...named(p.pid),
      children: st.children.map((c) => ({
        id: c.spec.id,
        ...(c.pid ? { pid: c.pid.toString() } : {}),
        module: c.spec.module,
        restart: c.spec.restart ?? "permanent",
        supervisor: c.spec.module === SUPERVISOR,
        ...named(c.pid),
      })),
    });
  }
  return out;
}

/**
 * The node's figures, and its supervision trees only when a page shows them:
 * finding the supervisors reads every process, which a node of 100,000
 * processes should not do each second for a page showing its charts.
 */
export function snapshot(host: ObserveHost, trees = true): NodeSnapshot {
  const { modules: _m, supervisorsGaveUp: _g, timers: _t, ...info } = host.info();
  return { ...info, uptime: process.uptime(), handledTotal: host.procs.handledTotal, ...(trees ? { supervisors: supervisors(host) } : {}) };
}

/**
 * A process's state size, measured again only when the process handled a
 * message or its state was replaced since: the processes tab sorted by memory
 * asks every 2 s, and serializing 100,000 states each time kept a node busy.
 */
const sizes = new WeakMap<Proc, { state: unknown; handled: number; size: number }>();
function stateSize(p: Proc): number {
  const known = sizes.get(p);
  if (known && known.state === p.state && known.handled === p.handled) return known.size;
  const size = memoryOf(p.state);
  sizes.set(p, { state: p.state, handled: p.handled, size });
  return size;
}

const statusOf = (p: Proc): string => (p.suspended ? "suspended" : p.running ? "running" : "waiting");

/**
 * The `k` smallest items under `cmp`, in order, from one pass over all of them: a max-heap of
 * the best k so far, so a node of 100,000 processes never sorts them all
 * (n log k instead of n log n, and no array of n rows).
 */
export function topK<T>(items: Iterable<T>, k: number, cmp: (a: T, b: T) => number): T[] {
  const heap: T[] = [];
  // Even for none, the whole of `items` is read: a caller may count as it yields.
  if (k <= 0) {
    for (const x of items) void x;
    return heap;
  }
  const up = (i: number): void => {
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (cmp(heap[i]!, heap[parent]!) <= 0) return;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  };
  const down = (i: number): void => {
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < heap.length && cmp(heap[l]!, heap[m]!) > 0) m = l;
      if (r < heap.length && cmp(heap[r]!, heap[m]!) > 0) m = r;
      if (m === i) return;
      [heap[i], heap[m]] = [heap[m]!, heap[i]!];
      i = m;
    }
  };
  for (const x of items) {
    if (heap.length < k) {
      heap.push(x);
      up(heap.length - 1);
    } else if (cmp(x, heap[0]!) < 0) {
      heap[0] = x;
      down(0);
    }
  }
  return heap.sort(cmp);
}

/**
 * The top `limit` rows of this node under `query`, and how many match. One
 * pass over the processes reading only the sort key (and the filter's text
 * when there is a filter); rows are built for the top only. By pid, ascending
 * and unfiltered (the page's default), the table's own order is the answer.
 * The state's size is computed for every process only when sorting by it.
 */
export function procs(host: ObserveHost, query: ProcQuery): { total: number; rows: ProcRow[] } {
  const skip = Math.max(0, query.offset ?? 0);
  const limit = Math.max(0, query.limit);
  const needle = query.filter.trim().toLowerCase();
  const names = new Map<number, string>();
  const known = host.registeredNames ? host.registeredNames() : ([] as [string, Pid][]);
  for (const [n, pid] of known) if (pid.node === host.name && !names.has(pid.id)) names.set(pid.id, n);
  const nameOf = (p: Proc): string => (host.registeredNames ? (names.get(p.pid.id) ?? "") : (host.namesOf(p.pid)[0] ?? ""));
  const toRow = (p: Proc, memory?: number): ProcRow => ({
    pid: p.pid.toString(),
    node: host.name,
    name: nameOf(p),
    module: p.module,
    version: host.procs.versionOf(p),
    status: statusOf(p),
    mailbox: p.mailbox.length,
    handled: p.handled,
    memory: memory ?? stateSize(p),
  });
  const all = host.procs.all();
  if (!needle && query.sort === "pid" && !query.desc) {
    const rows: ProcRow[] = [];
    let i = 0;
    for (const p of all) {
      if (rows.length >= limit) break;
      if (i++ >= skip) rows.push(toRow(p));
    }
    return { total: host.procs.count, rows };
  }
  // The filter reads "pid name module version status" as one text. A needle without a space cannot span two
  // fields, so each field is tried alone, the shared ones lowered once per page: no string built per process.
  const lowered = new Map<string, boolean>();
  const has = (field: string): boolean => {
    let hit = lowered.get(field);
    if (hit === undefined) lowered.set(field, (hit = field.toLowerCase().includes(needle)));
    return hit;
  };
  const matches = needle.includes(" ")
    ? (p: Proc): boolean => `${p.pid} ${nameOf(p)} ${p.module} ${host.procs.versionOf(p)} ${statusOf(p)}`.toLowerCase().includes(needle)
    : (p: Proc): boolean =>
        has(p.module) || has(host.procs.versionOf(p)) || has(statusOf(p)) || has(nameOf(p)) || p.pid.toString().toLowerCase().includes(needle);
  const matching = function* (): Generator<Proc> {
    for (const p of all) if (!needle || matches(p)) yield p;
  };
  let total = 0;
  const counted = function* (): Generator<{ p: Proc; k: string | number }> {
    for (const p of matching()) {
      total++;
      yield { p, k: keyOf(p) };
    }
  };
  const keyOf = (p: Proc): string | number => {
    switch (query.sort) {
      case "pid":
        return p.pid.id;
      case "name":
        return nameOf(p);
      case "module":
        return p.module;
      case "version":
        return host.procs.versionOf(p);
      case "status":
        return statusOf(p);
      case "mailbox":
        return p.mailbox.length;
      case "handled":
        return p.handled;
      case "memory":
        return stateSize(p);
    }
  };
  const dir = query.desc ? -1 : 1;
  // Ties go by pid, so pages do not shuffle between refreshes.
  const top = topK(counted(), skip + limit, (a, b) => (a.k < b.k ? -dir : a.k > b.k ? dir : a.p.pid.id - b.p.pid.id));
  return { total, rows: top.slice(skip).map((e) => toRow(e.p, query.sort === "memory" ? (e.k as number) : undefined)) };
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
      return snapshot(host, req.trees !== false);
    case "procs":
      return procs(host, req.query);
    case "detail":
      return detail(host, req.pid, req.stateLimit);
    case "suspend":
    case "resume": {
      // The shell's path (sys): the same checks, the same answer for a pid that is gone.
      return (req.op === "suspend" ? host.suspend(req.pid) : host.resume(req.pid)).then(() => true);
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
