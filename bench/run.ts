/**
 * `npm run bench` — runs every benchmark and prints plain-text tables.
 *
 *   node dist/bench/run.js            all benchmarks
 *   node dist/bench/run.js save       1 + 2: save-to-live and the restart baseline (same clusters); alias: restart
 *   node dist/bench/run.js procs      3: reload vs number of live processes
 *   node dist/bench/run.js keep       restart keeping 100,000 processes on 3 nodes vs a plain restart (issue 19)
 *   node dist/bench/run.js messaging  4: call round trip, cast throughput, memory per process, boot, beside the zeromq floor
 *   node dist/bench/run.js size       5: a generated 500-module project on 3 nodes beside a 10-module one (boot, saves, status/ps/nodes/Tab, heap)
 *   --sizes=1,3   cluster sizes for save   --quick   few iterations (smoke run)
 *   --no-restart  save-to-live and its floor only (no restart baseline): for A/B runs of one change
 *   --closures    format.ts keeps a closure its first version made: each save has an earlier version to patch (LiveEdit)
 *   --saves=N     saves per size   --quiet-ms=N  the watcher's quiet window (default the dev server's)
 */
import { performance } from "node:perf_hooks";
import { leftoverNodePids, machineHeader, progress, runtimeProcessesOnMachine } from "./lib";
import { DEFAULT_PROCS_OPTIONS, runProcsBench, type ProcsOptions } from "./procs";
import { runMessagingBench } from "./messaging";
import { DEFAULT_SAVE_OPTIONS, runSaveBench, type SaveOptions } from "./save";
import { DEFAULT_KEEP_STATE_OPTIONS, runKeepStateBench } from "./keepState";
import { DEFAULT_SIZE_OPTIONS, runSizeBench, type SizeOptions } from "./size";

const BENCHES = ["save", "procs", "messaging", "keep", "size"] as const;
type Bench = (typeof BENCHES)[number];
const ALIASES: Record<string, Bench> = {
  save: "save",
  restart: "save",
  "save-to-live": "save",
  procs: "procs",
  processes: "procs",
  messaging: "messaging",
  keep: "keep",
  "keep-state": "keep",
  size: "size",
};

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  const flags = args.filter((a) => a.startsWith("--"));
  const names = args.filter((a) => !a.startsWith("--"));
  const unknown = names.filter((n) => !(n in ALIASES));
  if (unknown.length) {
    console.error(`unknown benchmark ${unknown.join(", ")}; choose from ${Object.keys(ALIASES).join(", ")}`);
    return 2;
  }
  const selected = new Set<Bench>(names.length ? names.map((n) => ALIASES[n]!) : BENCHES);
  const quick = flags.includes("--quick");
  const sizesFlag = flags.find((f) => f.startsWith("--sizes="));

  const saveOpts: SaveOptions = { ...DEFAULT_SAVE_OPTIONS };
  const procsOpts: ProcsOptions = { ...DEFAULT_PROCS_OPTIONS };
  const sizeOpts: SizeOptions = { ...DEFAULT_SIZE_OPTIONS };
  if (quick) {
    Object.assign(saveOpts, { sizes: [1, 3], warmup: 1, saves: 5, cpuSaves: 2, restarts: () => 2, plainRestarts: () => 2, processRestarts: () => 2 });
    Object.assign(procsOpts, { counts: [1, 1000], reloads: 3, codeChangeReloads: () => 3 });
    Object.assign(sizeOpts, { warmup: 1, saves: 5, queries: 10, heapSaves: 30 });
  }
  if (flags.includes("--no-restart")) Object.assign(saveOpts, { restarts: () => 0, plainRestarts: () => 0, processRestarts: () => 0 });
  if (flags.includes("--closures")) saveOpts.closures = true;
  const quietFlag = flags.find((f) => f.startsWith("--quiet-ms="));
  if (quietFlag) saveOpts.quietMs = Number(quietFlag.slice("--quiet-ms=".length));
  const savesFlag = flags.find((f) => f.startsWith("--saves="));
  if (savesFlag) saveOpts.saves = Number(savesFlag.slice("--saves=".length));
  if (sizesFlag)
    saveOpts.sizes = sizesFlag
      .slice("--sizes=".length)
      .split(",")
      .map(Number)
      .filter((n) => n > 0);

  console.log(machineHeader());
  console.log(`command: node dist/bench/run.js ${args.join(" ")}`.trimEnd());
  const t0 = performance.now();
  let failed = false;
  for (const b of BENCHES) {
    if (!selected.has(b)) continue;
    const tb = performance.now();
    try {
      if (b === "save") await runSaveBench(saveOpts);
      else if (b === "procs") await runProcsBench(procsOpts);
      else if (b === "keep") await runKeepStateBench(quick ? { ...DEFAULT_KEEP_STATE_OPTIONS, processes: 3000, rounds: 1 } : DEFAULT_KEEP_STATE_OPTIONS);
      else if (b === "size") await runSizeBench(sizeOpts);
      else await runMessagingBench();
    } catch (err) {
      failed = true;
      console.log(`\n${b}: FAILED: ${(err as Error).stack ?? String(err)}`);
    }
    progress(`${b} took ${((performance.now() - tb) / 1000).toFixed(1)} s`);
  }
  const left = leftoverNodePids();
  console.log(
    `\ntotal ${((performance.now() - t0) / 1000).toFixed(1)} s; node processes started by this run still alive: ${left.length ? left.join(", ") : "none"}`,
  );
  const machine = runtimeProcessesOnMachine();
  if (machine.length) console.log(`runtime/node/main.js processes on this machine (may belong to other runs):\n${machine.join("\n")}`);
  return failed || left.length ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
