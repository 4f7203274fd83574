/**
 * The coordinator's half of tracing: starts a trace on every node, drains
 * the nodes' buffers while any trace runs, keeps each trace's events for its
 * readers (the shell's trace(), the observer page), and stops it cluster-wide
 * at its count or time. A reader that falls behind loses the oldest events
 * (counted as dropped) rather than making anything queue.
 */
import { EventEmitter } from "node:events";
import { ClusterError } from "../../wire/errors";
import { Pid, parsePid } from "../../wire/pid";
import { TRACE_DEFAULTS, type TraceDrain, type TraceEvent, type TraceLimits, type TraceRequest, type TraceSpec, type TraceStatus } from "../../wire/observer";

/** What the tracer needs from the coordinator. */
export interface TracesHost {
  /** nodes up now */
  nodes(): string[];
  whereis(name: string): Pid | undefined;
  nodeRequest(node: string, op: { op: "observer"; req: import("../../wire/observer").ObserverOp }, timeoutMs?: number): Promise<unknown>;
}

/** events a trace keeps for readers that have not read them yet */
const KEEP = 1000;
const DRAIN_MS = 200;

export type SeqEvent = TraceEvent & { seq: number };

interface Session {
  id: number;
  what: string;
  spec: TraceSpec;
  limits: TraceLimits;
  events: SeqEvent[];
  seq: number;
  count: number;
  dropped: number;
  done: boolean;
  why?: string;
  timer: NodeJS.Timeout;
}

/** Emits "event" (SeqEvent) and "end" (TraceStatus) for the observer page. */
export class Traces extends EventEmitter {
  private readonly sessions = new Map<number, Session>();
  private nextId = 1;
  private poller?: NodeJS.Timeout;
  private draining = false;

  constructor(private readonly host: TracesHost) {
    super();
  }

  private resolve(target: Extract<TraceRequest, { op: "start" }>["target"]): { spec: TraceSpec; what: string } {
    if (target.module !== undefined) {
      if (typeof target.fn !== "string" || target.fn === "")
        throw new ClusterError("badarg", `trace("${target.module}", fn): name the exported function to trace`);
      return { spec: { kind: "calls", module: target.module, fn: target.fn }, what: `calls of ${target.module}.${target.fn}` };
    }
    let pid = target.pid;
    if (!pid && target.name !== undefined) pid = parsePid(target.name) ?? this.host.whereis(target.name);
    if (!pid)
      throw new ClusterError("noproc", `no process is registered as ${JSON.stringify(target.name)}; trace a pid, a registered name, or ("module", "fn")`);
    return { spec: { kind: "messages", pids: [pid] }, what: `messages of ${pid}${target.name && target.name !== pid.toString() ? ` (${target.name})` : ""}` };
  }

  async request(req: TraceRequest): Promise<TraceStatus | TraceStatus[]> {
    switch (req.op) {
      case "start":
        return this.start(req);
      case "read": {
        const s = this.sessions.get(req.id);
        if (!s) throw new ClusterError("badarg", `no trace ${req.id}`);
        if (!s.done) await this.drain();
        return this.status(s, req.after);
      }
      case "stop":
        return this.stop(req.id);
      default: {
        const unhandled: never = req;
        return unhandled;
      }
    }
  }

  private async start(req: Extract<TraceRequest, { op: "start" }>): Promise<TraceStatus> {
    const { spec, what } = this.resolve(req.target);
    const limits: TraceLimits = {
      count: Math.max(1, Math.floor(req.limits?.count ?? TRACE_DEFAULTS.count)),
      ms: Math.max(1, req.limits?.ms ?? TRACE_DEFAULTS.ms),
    };
    const id = this.nextId++;
    const timer = setTimeout(() => void this.finish(id, `${limits.ms} ms passed`), limits.ms);
    timer.unref();
    const s: Session = { id, what, spec, limits, events: [], seq: 0, count: 0, dropped: 0, done: false, timer };
    this.sessions.set(id, s);
    const nodes = this.host.nodes();
    const results = await Promise.allSettled(nodes.map((n) => this.host.nodeRequest(n, { op: "observer", req: { op: "traceStart", id, spec, limits } }, 5000)));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === "rejected").map((r) => r.reason as unknown);
    // A function that does not exist fails on every node: say so once instead of tracing nothing. A node that has not
    // loaded the module only says that (unknown_module); one that runs it says what it lacks, which is the answer.
    if (failed.length > 0 && failed.length === results.length) {
      await this.finish(id, "failed to start");
      this.sessions.delete(id);
      throw failed.find((e) => !(e instanceof ClusterError && e.code === "unknown_module")) ?? failed[0];
    }
    this.poller ??= setInterval(() => void this.drain(), DRAIN_MS);
    this.poller.unref();
    return this.status(s, 0);
  }

  /** Pulls what every node gathered. One drain at a time; a slow node delays only the next tick. */
  private async drain(): Promise<void> {
    if (this.draining) return;
    this.draining = true;
    try {
      const got = await Promise.allSettled(
        this.host.nodes().map((n) => this.host.nodeRequest(n, { op: "observer", req: { op: "traceDrain" } }, 3000) as Promise<TraceDrain>),
      );
      const events: TraceEvent[] = [];
      for (const r of got) {
        if (r.status !== "fulfilled") continue;
        events.push(...r.value.events);
        for (const [id, n] of Object.entries(r.value.dropped)) {
          const s = this.sessions.get(Number(id));
          if (s) s.dropped += n;
        }
      }
      events.sort((a, b) => a.at - b.at);
      for (const e of events) {
        const s = this.sessions.get(e.trace);
        if (!s || s.done) continue;
        const ev = { ...e, seq: ++s.seq } as SeqEvent;
        s.events.push(ev);
        if (s.events.length > KEEP) {
          s.events.shift();
          s.dropped++;
        }
        this.emit("event", ev);
        if (++s.count >= s.limits.count) await this.finish(s.id, `${s.limits.count} events`);
      }
    } finally {
      this.draining = false;
    }
  }

  private async finish(id: number, why: string): Promise<void> {
    const s = this.sessions.get(id);
    if (!s || s.done) return;
    s.done = true;
    s.why = why;
    clearTimeout(s.timer);
    await Promise.allSettled(this.host.nodes().map((n) => this.host.nodeRequest(n, { op: "observer", req: { op: "traceStop", id } }, 3000)));
    this.emit("end", this.status(s, s.seq));
    if ([...this.sessions.values()].every((x) => x.done) && this.poller) {
      clearInterval(this.poller);
      this.poller = undefined;
    }
    // Ended traces stay readable for a while (a reader's last read), then go.
    setTimeout(() => this.sessions.delete(id), 60_000).unref();
  }

  /** Stops one trace, or every running one; answers with what each saw last. */
  async stop(id?: number): Promise<TraceStatus[]> {
    const which = [...this.sessions.values()].filter((s) => (id === undefined ? !s.done : s.id === id));
    if (id !== undefined && which.length === 0) throw new ClusterError("badarg", `no trace ${id}`);
    if (which.some((s) => !s.done)) await this.drain();
    for (const s of which) await this.finish(s.id, "untrace()");
    return which.map((s) => this.status(s, 0));
  }

  status(s: Session, after: number): TraceStatus {
    return {
      id: s.id,
      what: s.what,
      events: s.events.filter((e) => e.seq > after),
      last: s.seq,
      dropped: s.dropped,
      done: s.done,
      ...(s.why ? { why: s.why } : {}),
    };
  }

  /** The traces the page lists. */
  list(): TraceStatus[] {
    return [...this.sessions.values()].map((s) => ({ ...this.status(s, Math.max(0, s.seq - 200)) }));
  }

  close(): void {
    if (this.poller) clearInterval(this.poller);
    for (const s of this.sessions.values()) clearTimeout(s.timer);
    this.sessions.clear();
  }
}

/** One line per event, as the shell prints them. */
export function traceLine(e: TraceEvent): string {
  const t = new Date(e.at).toISOString().slice(11, 23);
  if (e.type === "message") return `${t} ${e.node} ${e.from ?? "(shell)"} -> ${e.to} ${e.kind}: ${e.msg}`;
  const out = e.error !== undefined ? `threw ${e.error}` : `-> ${e.result}`;
  return `${t} ${e.node} ${e.module}.${e.fn}(${e.args}) ${out} (${e.ms} ms)`;
}
