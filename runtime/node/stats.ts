/**
 * What `status` shows of a node: memory, event-loop delay, uptime, processes,
 * timers, module versions, and top supervisors that gave up. The event-loop histogram runs for the node's whole life,
 * so a delay seen between two `status` calls is not lost.
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import type { NodeInfo } from "../../wire/protocol";

export interface StatsSource {
  node: string;
  versions(): Record<string, string>;
  processes(): number;
  timers(): number;
  /** top supervisors that reached their restart intensity */
  supervisorsGaveUp?(): string[];
}

export class NodeStats {
  private readonly loopDelay = monitorEventLoopDelay({ resolution: 10 });

  constructor(private readonly source: StatsSource) {}

  start(): void {
    this.loopDelay.enable();
  }

  stop(): void {
    this.loopDelay.disable();
  }

  info(): NodeInfo {
    const mem = process.memoryUsage();
    const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
    const d = this.loopDelay;
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
    };
  }
}
