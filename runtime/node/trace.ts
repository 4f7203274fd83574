/**
 * The node's half of tracing (recon_trace's rules): messages in and out of
 * chosen pids, and calls of a module's exported function, each trace bounded
 * by a count and a time after which it stops itself. Events wait in a
 * bounded buffer until the coordinator drains it; when nobody drains in time,
 * new events are dropped and counted, never queued without end.
 *
 * With no trace on, the message path pays one property read (`tracer.on`).
 */
import { performance } from "node:perf_hooks";
import { inspect } from "node:util";
import { ClusterError } from "../../wire/errors";
import type { Pid } from "../../wire/pid";
import type { TraceDrain, TraceEvent, TraceLimits, TraceSpec } from "../../wire/observer";

/** events kept between two drains; more are dropped */
export const TRACE_BUFFER = 2000;
/** characters of a rendered message, argument list or result */
const TEXT_LIMIT = 500;

export function render(value: unknown): string {
  const text = inspect(value, { depth: 4, breakLength: Infinity, maxArrayLength: 20, maxStringLength: TEXT_LIMIT });
  return text.length > TEXT_LIMIT ? `${text.slice(0, TEXT_LIMIT)}…` : text;
}

export interface TracerHost {
  readonly node: string;
  /** the live view other modules import: call tracing wraps its function there */
  facade(module: string): Record<string, unknown>;
}

interface Active {
  id: number;
  spec: TraceSpec;
  left: number;
  timer: NodeJS.Timeout;
  /** restores the module facade of a call trace */
  undo?: () => void;
}

export type MessageKind = "info" | "cast" | "call" | "reply";

export class Tracer {
  /** true while any trace runs on this node: the only thing the message path reads when none does */
  on = false;
  private readonly traces = new Map<number, Active>();
  /** printed pid -> ids of the traces watching it */
  private readonly pids = new Map<string, number[]>();
  private buffer: TraceEvent[] = [];
  private dropped: Record<number, number> = {};
  private ended: number[] = [];

  constructor(private readonly host: TracerHost) {}

  start(id: number, spec: TraceSpec, limits: TraceLimits): void {
    this.stop(id);
    let undo: (() => void) | undefined;
    if (spec.kind === "calls") undo = this.wrap(id, spec.module, spec.fn);
    const timer = setTimeout(() => this.end(id), limits.ms);
    timer.unref();
    this.traces.set(id, { id, spec, left: limits.count, timer, ...(undo ? { undo } : {}) });
    if (spec.kind === "messages") for (const p of spec.pids) this.pids.set(p.toString(), [...(this.pids.get(p.toString()) ?? []), id]);
    this.on = true;
  }

  /** Stops one trace, or all of them. */
  stop(id?: number): void {
    for (const t of [...this.traces.values()]) if (id === undefined || t.id === id) this.remove(t);
  }

  private remove(t: Active): void {
    clearTimeout(t.timer);
    t.undo?.();
    this.traces.delete(t.id);
    if (t.spec.kind === "messages") {
      for (const p of t.spec.pids) {
        const ids = (this.pids.get(p.toString()) ?? []).filter((x) => x !== t.id);
        if (ids.length) this.pids.set(p.toString(), ids);
        else this.pids.delete(p.toString());
      }
    }
    this.on = this.traces.size > 0;
  }

  /** The trace reached its count or its time here: it stops itself and says so at the next drain. */
  private end(id: number): void {
    const t = this.traces.get(id);
    if (!t) return;
    this.remove(t);
    this.ended.push(id);
  }

  private push(t: Active, event: TraceEvent): void {
    if (this.buffer.length >= TRACE_BUFFER) {
      this.dropped[t.id] = (this.dropped[t.id] ?? 0) + 1;
      return;
    }
    this.buffer.push(event);
    if (--t.left <= 0) this.end(t.id);
  }

  /** A message leaves `from` (undefined: no process, e.g. the shell) for `to`. Called only when `on`. */
  message(kind: MessageKind, from: Pid | undefined, to: Pid | string, msg: unknown): void {
    const f = from?.toString();
    const t = to.toString();
    const ids = [...(f ? (this.pids.get(f) ?? []) : []), ...(this.pids.get(t) ?? [])];
    if (ids.length === 0) return;
    const text = render(msg);
    const at = Date.now();
    for (const id of new Set(ids)) {
      const trace = this.traces.get(id);
      if (trace) this.push(trace, { trace: id, node: this.host.node, at, type: "message", kind, ...(f ? { from: f } : {}), to: t, msg: text });
    }
  }

  /**
   * Calls through the module's facade (what other modules import, Erlang's
   * fully qualified calls) go through a wrapper while the trace runs. The
   * facade keeps it across reloads of the module, since the export stays a
   * function; it is put back when the trace ends.
   */
  private wrap(id: number, module: string, fn: string): () => void {
    const facade = this.host.facade(module);
    const original = facade[fn];
    if (typeof original !== "function") {
      const fns = Object.keys(facade).filter((k) => typeof facade[k] === "function");
      throw new ClusterError("unknown_function", `${module} exports no function ${fn} (it exports: ${fns.join(", ") || "none"})`);
    }
    const tracer = this;
    const node = this.host.node;
    const record = (args: unknown[], t0: number, outcome: { result?: unknown; error?: unknown }): void => {
      const trace = tracer.traces.get(id);
      if (!trace) return;
      const ms = Math.round((performance.now() - t0) * 1000) / 1000;
      const base = { trace: id, node, at: Date.now(), type: "call" as const, module, fn, args: render(args).replace(/^\[ ?|,? ?\]$/g, ""), ms };
      tracer.push(
        trace,
        "error" in outcome
          ? { ...base, error: outcome.error instanceof Error ? `${outcome.error.name}: ${outcome.error.message}` : render(outcome.error) }
          : { ...base, result: render(outcome.result) },
      );
    };
    const wrapper = function (this: unknown, ...args: unknown[]): unknown {
      if (!tracer.traces.has(id)) return Reflect.apply(original, this, args);
      const t0 = performance.now();
      let r: unknown;
      try {
        r = Reflect.apply(original, this, args);
      } catch (error) {
        record(args, t0, { error });
        throw error;
      }
      if (r !== null && typeof r === "object" && typeof (r as { then?: unknown }).then === "function") {
        (r as Promise<unknown>).then(
          (result) => record(args, t0, { result }),
          (error: unknown) => record(args, t0, { error }),
        );
      } else record(args, t0, { result: r });
      return r;
    };
    Object.defineProperty(wrapper, "name", { value: (original as { name: string }).name });
    Object.defineProperty(facade, fn, { value: wrapper, enumerable: true, configurable: true, writable: false });
    return () => {
      if (facade[fn] === wrapper) Object.defineProperty(facade, fn, { value: original, enumerable: true, configurable: true });
    };
  }

  drain(): TraceDrain {
    const out: TraceDrain = { events: this.buffer, dropped: this.dropped, ended: this.ended };
    this.buffer = [];
    this.dropped = {};
    this.ended = [];
    return out;
  }
}
