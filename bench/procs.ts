/**
 * Benchmark 3: reload time against the number of live processes of the
 * reloaded behaviour, on one node; plain reloads (dispatch goes through the
 * module table) and reloads whose new version exports codeChange (every
 * process runs it).
 */
import { writeFileSync } from "node:fs";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import type { NodeInfo } from "../wire/protocol";
import type { Pid } from "../wire/pid";
import {
  callOn,
  makeProject,
  median,
  ms,
  nextSaveOf,
  p95,
  pidsOf,
  printTable,
  procsFiles,
  progress,
  sleep,
  startCluster,
  workerSource,
  type Cluster,
} from "./lib";

export interface ProcsOptions {
  counts: number[];
  reloads: number;
  /** codeChange reloads per count */
  codeChangeReloads: (count: number) => number;
  warmup: number;
  /** processes per spawnMany call */
  chunk: number;
  settleMs: number;
}

export const DEFAULT_PROCS_OPTIONS: ProcsOptions = {
  counts: [1, 1_000, 100_000],
  reloads: 10,
  codeChangeReloads: () => 10,
  warmup: 1,
  chunk: 10_000,
  settleMs: 150,
};

interface ReloadSample {
  ms: number;
  prepare: number;
  commit: number;
  nodeMs: number;
  ok: boolean;
  verified: boolean;
}

interface Row {
  count: number;
  spawnMs: number;
  spawned: number;
  rssMb: number;
  heapMb: number;
  plain: ReloadSample[];
  codeChange: ReloadSample[];
}

type WorkerReply = { tag: string; upgrades: number; calls: number };

export async function runProcsBench(o: ProcsOptions = DEFAULT_PROCS_OPTIONS): Promise<void> {
  const project = makeProject(procsFiles(), { name: "benchprocs", nodes: 1 });
  const workerFile = path.join(project.dir, "src", "worker.ts");
  let c: Cluster | undefined;
  const rows: Row[] = [];
  let seq = 0;
  try {
    progress("reload vs processes: starting 1 node");
    c = await startCluster(project, 5);
    const cl = c;
    const node = cl.nodes[0]!;
    const spawner = (await pidsOf(cl.server, node, "spawner"))[0];
    if (!spawner) throw new Error("no spawner process");
    let live = 0;
    let first: Pid | undefined;
    let upgrades = 0;

    const reload = async (withCodeChange: boolean): Promise<ReloadSample> => {
      await sleep(o.settleMs);
      const tag = `w${++seq}`;
      const saved = nextSaveOf(cl.server, "worker.ts", 60_000);
      writeFileSync(workerFile, workerSource(tag, withCodeChange));
      const s = await saved;
      const r = s.report;
      if (!r) throw new Error(`reload of worker.ts failed: ${s.error?.message}`);
      if (withCodeChange && r.ok) upgrades++;
      const reply = (await callOn(cl.server, node, first!, { type: "get" })) as WorkerReply;
      const verified = reply.tag === tag && reply.upgrades === upgrades && !r.codeChangeFailures;
      if (!r.ok || !verified)
        progress(`  reload ${tag}: ok=${r.ok} reply=${JSON.stringify(reply)} expected upgrades=${upgrades} report=${JSON.stringify(r).slice(0, 300)}`);
      return { ms: r.ms, prepare: r.phases?.prepareMs ?? NaN, commit: r.phases?.commitMs ?? NaN, nodeMs: r.nodes[0]?.ms ?? NaN, ok: r.ok, verified };
    };

    for (const count of o.counts) {
      progress(`reload vs processes: spawning up to ${count} workers`);
      const t0 = performance.now();
      const before = live;
      while (live < count) {
        const n = Math.min(o.chunk, count - live);
        const r = (await callOn(cl.server, node, spawner, { type: "spawnMany", n }, 120_000)) as { spawned: number; first: Pid };
        live = r.spawned;
        first ??= r.first;
      }
      const spawnMs = performance.now() - t0;
      const info = (await cl.server.coordinator.nodeRequest(node, { op: "info" })) as NodeInfo;
      const row: Row = { count, spawnMs, spawned: live - before, rssMb: info.rss / 2 ** 20, heapMb: info.heapUsed / 2 ** 20, plain: [], codeChange: [] };
      if (info.processes !== count + 1) progress(`  warning: node reports ${info.processes} processes, expected ${count + 1}`);

      progress(`reload vs processes: ${count} workers, ${o.reloads} plain reloads`);
      for (let i = 0; i < o.warmup + o.reloads; i++) {
        const s = await reload(false);
        if (i >= o.warmup) row.plain.push(s);
      }
      const cc = o.codeChangeReloads(count);
      progress(`reload vs processes: ${count} workers, ${cc} codeChange reloads`);
      for (let i = 0; i < o.warmup + cc; i++) {
        const s = await reload(true);
        if (i >= o.warmup) row.codeChange.push(s);
      }
      rows.push(row);
    }
  } finally {
    await c?.server.close();
    project.cleanup();
  }

  const lines: string[][] = [];
  for (const r of rows) {
    for (const [variant, xs] of [
      ["plain", r.plain],
      ["codeChange (grows)", r.codeChange],
    ] as const) {
      lines.push([
        String(r.count),
        variant === "plain" ? ms(r.spawnMs) : "",
        variant === "plain" && r.spawned > 0 ? String(Math.round(r.spawned / (r.spawnMs / 1000))) : "",
        variant === "plain" ? r.rssMb.toFixed(0) : "",
        variant,
        String(xs.length),
        ms(median(xs.map((x) => x.ms))),
        ms(p95(xs.map((x) => x.ms))),
        ms(median(xs.map((x) => x.prepare))),
        ms(median(xs.map((x) => x.commit))),
        ms(median(xs.map((x) => x.nodeMs))),
        `${xs.filter((x) => x.ok && x.verified).length}/${xs.length}`,
      ]);
    }
  }
  printTable(
    "3. reload of worker.ts vs live worker processes, 1 node (ms)",
    ["workers", "spawn ms", "spawn/s", "rss MB", "variant", "n", "reload med", "reload p95", "prepare med", "commit med", "node med", "ok+verified"],
    lines,
    [
      "workers = live processes of the reloaded behaviour (plus 1 spawner); spawned through spawner.handleCall({type:'spawnMany', n}) looping",
      `  \`await spawn(nodeName(), "worker", {...})\`, ${o.chunk} per call; 'spawn ms' is the time to go from the previous count to this one.`,
      "reload = ReloadReport.ms (coordinator: prepare sent -> every commit acknowledged); prepare/commit = its phases; node = the node's own prepare+commit.",
      "plain = the new worker.ts has no codeChange: processes pick up the new code at their next message via the module table.",
      "codeChange (grows) = the new version exports codeChange: at commit every live worker runs it (first in its mailbox) before the node",
      "  acknowledges, so commit is expected to grow with the process count.",
      `${o.warmup} warm-up reload per variant and count not counted; ${o.settleMs} ms settle sleep between reloads. Each reload is a real save`,
      "  (watcher + esbuild); only the coordinator's report is tabulated. ok+verified = report ok and a call to the first worker returned the new tag",
      "  (and, for codeChange, its state shows every codeChange ran).",
    ],
  );
}
