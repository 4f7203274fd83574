/**
 * What `status` shows of a node: memory, event-loop delay, uptime, processes,
 * timers, module versions, and top supervisors that gave up. The event-loop histogram runs for the node's whole life,
 * so a delay seen between two `status` calls is not lost.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { NodeInfo, StaleCode } from "../../wire/protocol";

/** how often the event-loop histogram samples, in ms */
const LOOP_SAMPLE_MS = 10;

export interface StatsSource {
  node: string;
  versions(): Record<string, string>;
  processes(): number;
  timers(): number;
  /** top supervisors that reached their restart intensity */
  supervisorsGaveUp?(): string[];
  /** what still runs old code, per the last reload of each module */
  stale?(): StaleCode[];
}

export class NodeStats {
  private readonly loopDelay = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS });

  constructor(private readonly source: StatsSource) {}

  start(): void {
    this.loopDelay.enable();
  }

  stop(): void {
    this.loopDelay.disable();
  }

  info(): NodeInfo {
    const mem = process.memoryUsage();
    // The histogram records the time between its own timer's ticks, so an idle loop reads as the sampling period: the delay is what lies beyond it.
    const ms = (ns: number): number => Math.max(0, Math.round((ns / 1e6 - LOOP_SAMPLE_MS) * 100) / 100);
    const d = this.loopDelay;
    const stale = this.source.stale?.() ?? [];
    return {
      node: this.source.node,
      osPid: process.pid,
      modules: this.source.versions(),
      processes: this.source.processes(),
      rss: mem.rss,
      heapUsed: mem.heapUsed,
      heapTotal: mem.heapTotal,
      timers: this.source.timers(),
      eventLoopDelay: d.count > 0 ? { mean: ms(d.mean), p99: ms(d.percentile(99)), max: ms(d.max) } : { mean: 0, p99: 0, max: 0 },
      uptimeMs: Math.round(process.uptime() * 1000),
      supervisorsGaveUp: this.source.supervisorsGaveUp?.() ?? [],
      ...(stale.length > 0 ? { stale } : {}),
    };
  }
}
