/**
 * The shell's trace() and untrace(): a trace runs in the cluster (the
 * coordinator's tracer, bounded by count and time); the shell reads its events
 * a few times a second and prints one line each, as recon_trace prints to
 * the Erlang shell.
 */
import type { ClusterClient } from "../dev/client";
import { traceLine } from "../observer/traces";
import { ClusterError } from "../../wire/errors";
import { Pid } from "../../wire/pid";
import { TRACE_DEFAULTS, type TraceLimits, type TraceRequest, type TraceStatus } from "../../wire/observer";

const READ_MS = 250;

export class ShellTracer {
  private readonly readers = new Map<number, { after: number; timer: NodeJS.Timeout; reading: boolean }>();

  constructor(
    private readonly client: () => ClusterClient,
    private readonly print: (line: string) => void,
  ) {}

  private request<T>(req: TraceRequest): Promise<T> {
    return this.client().request<T>({ type: "trace", req });
  }

  /** trace(pid | name, opts?) or trace(module, fn, opts?) */
  async trace(target: unknown, fnOrOpts?: unknown, maybeOpts?: unknown): Promise<string> {
    const calls = typeof fnOrOpts === "string";
    const opts = ((calls ? maybeOpts : fnOrOpts) ?? {}) as Partial<TraceLimits>;
    if (opts === null || typeof opts !== "object") throw new ClusterError("badarg", "trace(target, { count, ms }): the options are an object");
    let t: Extract<TraceRequest, { op: "start" }>["target"];
    if (calls) t = { module: String(target), fn: fnOrOpts };
    else if (target instanceof Pid) t = { pid: target };
    else if (typeof target === "string") t = { name: target };
    else throw new ClusterError("badarg", 'trace(pid | name, { count, ms }) or trace("module", "fn", { count, ms })');
    const limits = { ...(opts.count !== undefined ? { count: opts.count } : {}), ...(opts.ms !== undefined ? { ms: opts.ms } : {}) };
    const s = await this.request<TraceStatus>({ op: "start", target: t, limits });
    this.follow(s.id);
    const count = opts.count ?? TRACE_DEFAULTS.count;
    const secs = (opts.ms ?? TRACE_DEFAULTS.ms) / 1000;
    return `tracing ${s.what} (trace ${s.id}): stops after ${count} events or ${secs} s; untrace() stops it now`;
  }

  private follow(id: number): void {
    const r = { after: 0, reading: false, timer: setInterval(() => void this.read(id), READ_MS) };
    r.timer.unref();
    this.readers.set(id, r);
  }

  private show(s: TraceStatus): void {
    for (const e of s.events) this.print(traceLine(e));
    const r = this.readers.get(s.id);
    if (r) r.after = Math.max(r.after, s.last);
  }

  private ended(s: TraceStatus): string {
    return `trace ${s.id} (${s.what}) ended: ${s.last} events${s.dropped ? `, ${s.dropped} dropped` : ""}${s.why ? ` (${s.why})` : ""}`;
  }

  private async read(id: number): Promise<void> {
    const r = this.readers.get(id);
    if (!r || r.reading) return;
    r.reading = true;
    try {
      const s = await this.request<TraceStatus>({ op: "read", id, after: r.after });
      if (!this.readers.has(id)) return; // untrace() took over
      this.show(s);
      if (s.done) {
        this.stopReading(id);
        this.print(this.ended(s));
      }
    } catch {
      this.stopReading(id);
    } finally {
      r.reading = false;
    }
  }

  private stopReading(id: number): void {
    const r = this.readers.get(id);
    if (r) clearInterval(r.timer);
    this.readers.delete(id);
  }

  /** Stops every trace (or one); prints what had not been printed yet. */
  async untrace(id?: number): Promise<string> {
    const stopped = await this.request<TraceStatus[]>({ op: "stop", ...(id !== undefined ? { id } : {}) });
    const lines: string[] = [];
    for (const s of stopped) {
      const r = this.readers.get(s.id);
      this.stopReading(s.id);
      for (const e of s.events) if (!r || (e as { seq?: number }).seq! > r.after) this.print(traceLine(e));
      lines.push(this.ended(s));
    }
    return lines.join("\n") || "no trace was running";
  }

  close(): void {
    for (const id of [...this.readers.keys()]) this.stopReading(id);
  }
}
