import { DEFAULT_QUIET_MS } from "../cli/save/watcher";
/**
 * Benchmarks 1 and 2: save-to-live on a chat-shaped project, and, on the same
 * clusters, bringing the nodes to new code by restarting them instead.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import type { Pid } from "../wire/pid";
import { cliUp } from "../test/helpers/cluster";
import { SingleProcessFloor, type FloorSample } from "./floor";
import {
  allNodePids,
  callOn,
  chatFiles,
  deadline,
  formatSource,
  makeProject,
  median,
  ms,
  nextSaveOf,
  p95,
  pidsOf,
  printTable,
  progress,
  childPids,
  sleep,
  startCluster,
  type Cluster,
} from "./lib";

export interface SaveOptions {
  sizes: number[];
  warmup: number;
  saves: number;
  /** restarts through the launcher, per size */
  restarts: (nodes: number) => number;
  /** whole-dev-server restarts (close + fresh DevServer.start), per size */
  plainRestarts: (nodes: number) => number;
  /** whole-process restarts of a `devcluster up` child (what nodemon does), per size */
  processRestarts: (nodes: number) => number;
  quietMs: number;
  /** pause between one save's verification and the next write */
  settleMs: number;
  /** saves per size without the outside probe, for the CPU a save costs */
  cpuSaves: number;
  /** format.ts also keeps a closure its first version made, so each save has an earlier script to patch (LiveEdit) */
  closures?: boolean;
}

export const DEFAULT_SAVE_OPTIONS: SaveOptions = {
  sizes: [1, 3, 8, 16],
  warmup: 3,
  saves: 20,
  restarts: () => 5,
  plainRestarts: (n) => (n >= 16 ? 3 : 5),
  processRestarts: (n) => (n >= 16 ? 3 : 5),
  quietMs: DEFAULT_QUIET_MS,
  settleMs: 150,
  cpuSaves: 8,
};

interface SaveSample {
  total: number;
  /** write -> the last node's first answer rendered by the new code, as a client calling every node sees it */
  outside: number;
  fsEvent: number;
  batch: number;
  compile: number;
  prepare: number;
  commit: number;
  other: number;
  skew: number;
  verify: number;
  stale: number;
  stateLost: number;
  /** the slowest node's LiveEdit patch of format.ts's earlier versions, after its commit */
  patch: number;
  /** the slowest node's search for what still runs old code, after the commit, before the report */
  scan: number;
}

/** One save without the outside probe, for what it costs in CPU (ms). */
interface CpuSample {
  /** all node processes, from the write to the reload report, beyond their idle rate */
  nodes: number;
  /** this process (coordinator, watcher, compile) over the same span */
  coordinator: number;
  /** write -> bundle compiled: no node can start before */
  serial: number;
}

interface RestartSample {
  total: number;
  backoff: number;
}

interface PlainSample {
  total: number;
  close: number;
  start: number;
}

interface SizeResult {
  nodes: number;
  bootMs: number;
  saves: SaveSample[];
  restarts: RestartSample[];
  restartStale: number;
  plain: PlainSample[];
  plainStale: number;
  /** `devcluster up` child process: SIGTERM the old one, wait for exit, spawn a new one -> its "ready" log line */
  proc: PlainSample[];
  /** the single-process floor, one save after each cluster save */
  floor: FloorSample[];
  cpu: CpuSample[];
}

type Render = { line: string; renders: number };

/** One room pid per node (the first), for verification calls. */
async function roomPids(c: Cluster): Promise<Map<string, Pid>> {
  const out = new Map<string, Pid>();
  for (const n of c.nodes) {
    const pids = await pidsOf(c.server, n, "room");
    if (!pids[0]) throw new Error(`no room process on ${n}`);
    out.set(n, pids[0]);
  }
  return out;
}

/** Calls a room on every node; counts nodes whose answer is not rendered by format version `tag`. */
async function verify(c: Cluster, rooms: Map<string, Pid>, tag: string): Promise<{ replies: Map<string, Render>; stale: number }> {
  const replies = new Map<string, Render>();
  await Promise.all(
    c.nodes.map(async (n) => {
      replies.set(n, (await callOn(c.server, n, rooms.get(n)!, { type: "render" })) as Render);
    }),
  );
  let stale = 0;
  for (const r of replies.values()) if (!r.line.startsWith(tag + " ")) stale++;
  return { replies, stale };
}

/**
 * From the write on, calls rooms as a client of the cluster would, until
 * every node has answered with format version `tag`; resolves to the time the
 * last node first did. One call is in flight at a time, round robin over the
 * nodes still answering the old version: the probe runs in the coordinator's
 * process, and with one call per node in flight it slowed that process's
 * compile threefold at 3 nodes (12 ms against the floor's 4 ms). Once the
 * others answer in the new version it calls the last one back to back, so the
 * last node's first new answer is seen within about one round trip.
 */
const PROBES = 1;
const CORES = availableParallelism();
function firstNewAnswers(c: Cluster, rooms: Map<string, Pid>, tag: string): Promise<number> {
  const stale = [...c.nodes];
  const busy = new Set<string>();
  let last = 0;
  const worker = async (): Promise<void> => {
    for (;;) {
      const n = stale.find((x) => !busy.has(x));
      if (n === undefined) {
        if (stale.length === 0) return;
        await new Promise((r) => setImmediate(r));
        continue;
      }
      busy.add(n);
      const r = (await callOn(c.server, n, rooms.get(n)!, { type: "render" })) as Render;
      busy.delete(n);
      if (r.line.startsWith(tag + " ")) {
        last = Math.max(last, performance.now());
        stale.splice(stale.indexOf(n), 1);
      } else {
        // to the back of the line: the other stale nodes are looked at first
        stale.push(...stale.splice(stale.indexOf(n), 1));
      }
    }
  };
  return Promise.all(Array.from({ length: Math.min(PROBES, c.nodes.length) }, worker)).then(() => last);
}

/**
 * CPU time (ms) the processes have used so far: /proc/<pid>/schedstat's first
 * field (nanoseconds on a CPU), or /proc/<pid>/stat's 10 ms ticks where there is
 * no schedstat. NaN off Linux.
 */
function cpuMs(pids: Iterable<number>): number {
  let total = 0;
  for (const pid of pids) {
    try {
      total += Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]) / 1e6;
    } catch {
      try {
        const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
        total += (Number(f[11]) + Number(f[12])) * 10;
      } catch {
        return NaN;
      }
    }
  }
  return total;
}

/** The largest, or NaN for none (no node said). */
const worst = (xs: number[]): number => (xs.length ? Math.max(...xs) : NaN);

const thisCpuMs = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};

/** Kills every node's OS process and waits until each has been restarted by the launcher and run its entry again. */
async function launcherRestart(c: Cluster): Promise<RestartSample> {
  const backoffs: number[] = [];
  const stopLogs = c.logs.onLine((line) => {
    if (!line.includes('"restartInMs"')) return;
    try {
      const v = (JSON.parse(line) as { restartInMs?: unknown }).restartInMs;
      if (typeof v === "number") backoffs.push(v);
    } catch {
      /* not JSON */
    }
  });
  const started = new Set<string>();
  let onStarted: ((n: string) => void) | undefined;
  const all = new Promise<void>((resolve) => {
    onStarted = (n: string): void => {
      started.add(n);
      if (c.nodes.every((x) => started.has(x))) resolve();
    };
    c.server.coordinator.on("nodeStarted", onStarted);
  });
  try {
    const t0 = performance.now();
    for (const n of c.nodes) {
      if (!c.server.launcher.kill(n)) throw new Error(`node ${n} had no process to kill`);
    }
    await deadline(all, 60_000, `restart of ${c.nodes.length} nodes`);
    return { total: performance.now() - t0, backoff: backoffs.length ? Math.max(...backoffs) : NaN };
  } finally {
    stopLogs();
    if (onStarted) c.server.coordinator.off("nodeStarted", onStarted);
  }
}

async function benchSize(nodes: number, o: SaveOptions): Promise<SizeResult> {
  const project = makeProject({ ...chatFiles("v0"), "src/format.ts": formatSource("v0", { closure: o.closures }) }, { name: `bench${nodes}`, nodes });
  const formatFile = path.join(project.dir, "src", "format.ts");
  let c: Cluster | undefined;
  const res: SizeResult = { nodes, bootMs: NaN, saves: [], restarts: [], restartStale: 0, plain: [], plainStale: 0, proc: [], floor: [], cpu: [] };
  const floor = new SingleProcessFloor();
  try {
    progress(`save-to-live: starting ${nodes} node(s)`);
    const started = await startCluster(project, o.quietMs);
    c = started;
    res.bootMs = started.startMs;
    let rooms = await roomPids(c);
    await floor.start();
    let lastRenders = new Map<string, number>();
    let tag = "v0";

    // ---- 1. save-to-live ----
    for (let i = 0; i < o.warmup + o.saves; i++) {
      await sleep(o.settleMs);
      tag = `n${nodes}s${i}`;
      const saved = nextSaveOf(c.server, "format.ts", 20_000);
      const writeAt = performance.now();
      writeFileSync(formatFile, formatSource(tag, { closure: o.closures }));
      const seen = firstNewAnswers(c, rooms, tag);
      const s = await saved;
      const outside = (await seen) - writeAt;
      if (!s.report?.ok || s.report.nodes.length !== nodes) {
        throw new Error(`save ${i} on ${nodes} nodes did not reload every node: ${JSON.stringify(s.report ?? s.error?.message)}`);
      }
      // With the held closure, a save that left it on its old body would be a figure for a half-success.
      if (s.report.stale?.length) throw new Error(`save ${i} on ${nodes} nodes left code on an earlier version: ${JSON.stringify(s.report.stale)}`);
      const v0 = performance.now();
      const { replies, stale } = await verify(c, rooms, tag);
      const verifyMs = performance.now() - v0;
      let stateLost = 0;
      for (const [n, r] of replies) {
        const before = lastRenders.get(n);
        // the outside poller renders too: state is lost when the count went back, not when it moved on by more than one
        if (before !== undefined && r.renders <= before) stateLost++;
        lastRenders.set(n, r.renders);
      }
      await sleep(o.settleMs);
      const fl = await floor.save(tag);
      if (i < o.warmup) continue;
      res.floor.push(fl);
      const total = s.doneAt - writeAt;
      const fsEvent = s.firstEventAt - writeAt;
      const prepare = s.report.phases?.prepareMs ?? NaN;
      const commit = s.report.phases?.commitMs ?? NaN;
      res.saves.push({
        total,
        outside,
        fsEvent,
        batch: s.watchMs,
        compile: s.compileMs,
        prepare,
        commit,
        other: total - fsEvent - s.watchMs - s.compileMs - prepare - commit,
        skew: s.report.skewMs ?? NaN,
        verify: verifyMs,
        stale,
        stateLost,
        patch: worst((s.report.liveEdit ?? []).map((l) => l.patchMs)),
        scan: worst((s.report.liveEdit ?? []).map((l) => l.scanMs)),
      });
    }

    // ---- 1c. the CPU a save costs, without the probe (whose calls cost CPU too) ----
    for (let i = 0; i < o.cpuSaves; i++) {
      // The nodes' idle rate (heartbeats, the observer's samples), measured over the settle pause, is taken off their CPU per save.
      const idleAt = performance.now();
      const idleCpu = cpuMs(c.osPids);
      await sleep(o.settleMs);
      tag = `n${nodes}c${i}`;
      const saved = nextSaveOf(c.server, "format.ts", 20_000);
      const cpu0 = cpuMs(c.osPids);
      const self0 = thisCpuMs();
      const writeAt = performance.now();
      const idleRate = (cpu0 - idleCpu) / (writeAt - idleAt);
      writeFileSync(formatFile, formatSource(tag, { closure: o.closures }));
      const s = await saved;
      const doneAt = performance.now();
      if (!s.report?.ok) throw new Error(`CPU save ${i} on ${nodes} nodes did not reload every node: ${JSON.stringify(s.report ?? s.error?.message)}`);
      res.cpu.push({
        nodes: cpuMs(c.osPids) - cpu0 - idleRate * (doneAt - writeAt),
        coordinator: thisCpuMs() - self0,
        serial: s.firstEventAt - writeAt + s.watchMs + s.compileMs,
      });
      const { stale } = await verify(c, rooms, tag);
      if (stale) throw new Error(`CPU save ${i} on ${nodes} nodes: ${stale} node(s) answered with older code`);
    }

    // ---- 2a. devcluster's own restart path: kill every node, the launcher restarts it ----
    const restarts = o.restarts(nodes);
    for (let r = 0; r < restarts; r++) {
      progress(`restart (launcher): ${nodes} node(s), round ${r + 1}/${restarts}`);
      res.restarts.push(await launcherRestart(c));
      rooms = await roomPids(c);
      res.restartStale += (await verify(c, rooms, tag)).stale;
    }

    // ---- 2b. plain restart: stop the whole dev server, start a fresh one, wait for ready ----
    const plains = o.plainRestarts(nodes);
    for (let r = 0; r < plains; r++) {
      progress(`restart (plain, fresh DevServer): ${nodes} node(s), round ${r + 1}/${plains}`);
      const t0 = performance.now();
      const old = c;
      c = undefined;
      await old.server.close();
      const closeMs = performance.now() - t0;
      const fresh = await startCluster(project, o.quietMs);
      c = fresh;
      res.plain.push({ total: performance.now() - t0, close: closeMs, start: fresh.startMs });
      rooms = await roomPids(c);
      res.plainStale += (await verify(c, rooms, tag)).stale;
    }

    // ---- 2c. nodemon for real: restart a `devcluster up` child process ----
    const procs = o.processRestarts(nodes);
    if (procs > 0) {
      await c.server.close();
      c = undefined;
      let up: ReturnType<typeof cliUp> | undefined;
      const readyLine = /"msg":"cluster \S+ ready/;
      const startUp = async (): Promise<{ up: ReturnType<typeof cliUp>; ms: number }> => {
        const t = performance.now();
        const u = cliUp(project.dir);
        await u.logs.waitFor(readyLine, 60_000);
        for (const pid of childPids(u.child.pid)) allNodePids.add(pid);
        return { up: u, ms: performance.now() - t };
      };
      try {
        progress(`restart (devcluster up process): ${nodes} node(s), first start (not timed)`);
        up = (await startUp()).up;
        for (let r = 0; r < procs; r++) {
          progress(`restart (devcluster up process): ${nodes} node(s), round ${r + 1}/${procs}`);
          const t0 = performance.now();
          const old = up;
          up = undefined;
          await old.stop();
          const closeMs = performance.now() - t0;
          const next = await startUp();
          up = next.up;
          res.proc.push({ total: performance.now() - t0, close: closeMs, start: next.ms });
        }
      } finally {
        await up?.stop();
      }
    }
    return res;
  } finally {
    await floor.close();
    await c?.server.close();
    project.cleanup();
  }
}

export async function runSaveBench(o: SaveOptions = DEFAULT_SAVE_OPTIONS): Promise<void> {
  const results: SizeResult[] = [];
  for (const n of o.sizes) results.push(await benchSize(n, o));

  const col = (r: SizeResult, f: (s: SaveSample) => number): number[] => r.saves.map(f);
  printTable(
    `1. save-to-live: write format.ts -> every node committed the new code (${o.saves} saves per size after ${o.warmup} warm-up; ms)` +
      (o.closures ? "; format.ts holds a closure its first version made, patched by every save (--closures)" : ""),
    [
      "nodes",
      "saves",
      "total med",
      "total p95",
      "fs event",
      "batch",
      "compile",
      "prepare",
      "commit",
      "other",
      "skew",
      "| patch",
      "scan",
      "| verify",
      "stale",
      "state lost",
    ],
    results.map((r) => [
      String(r.nodes),
      String(r.saves.length),
      ms(median(col(r, (s) => s.total))),
      ms(p95(col(r, (s) => s.total))),
      ms(median(col(r, (s) => s.fsEvent))),
      ms(median(col(r, (s) => s.batch))),
      ms(median(col(r, (s) => s.compile))),
      ms(median(col(r, (s) => s.prepare))),
      ms(median(col(r, (s) => s.commit))),
      ms(median(col(r, (s) => s.other))),
      ms(median(col(r, (s) => s.skew))),
      "| " + ms(median(col(r, (s) => s.patch))),
      ms(median(col(r, (s) => s.scan))),
      "| " + ms(median(col(r, (s) => s.verify))),
      String(r.saves.reduce((a, s) => a + s.stale, 0)),
      String(r.saves.reduce((a, s) => a + s.stateLost, 0)),
    ]),
    [
      "total = performance.now() just before writeFileSync -> DevServer 'saved' event (the reload report is in, i.e. every node acknowledged commit).",
      "Phase columns are medians of each phase (they need not add up to the median total):",
      "  fs event = write -> first chokidar event (firstEventAt - writeAt);",
      `  batch    = first event -> batch flushed (watchMs); includes the watcher's quiet window, quietMs = ${o.quietMs} ms (DevServer default);`,
      "  watch phase = fs event + batch;  compile = esbuild (compileMs);",
      "  prepare  = coordinator pushes the bundle, every node evaluates it and answers ready (phases.prepareMs);",
      "  commit   = coordinator sends commit -> every node acknowledged the swap (phases.commitMs);",
      "  other    = total - the phases above (version compare, serial queue, reload log line, event dispatch);",
      "  skew     = first to last commit acknowledgement as the coordinator saw them.",
      "patch = the slowest node's LiveEdit of format.ts's earlier versions (closures made by them run the new body), after its `committed`",
      o.closures
        ? "  (here every save patches the first version's script, which holds the closure; the node does it after answering committed);"
        : "  (in the swap's turn only for a version that drops a method or an export; 0 when only routed functions changed, as here; --closures: a closure to patch);",
      "scan  = the slowest node's search for what still runs old code, after its commit: the report (and so total, not outside) waits for it.",
      "verify = after each save, a `call` to a room process on every node (in parallel) whose reply is format.ts's output; NOT part of total.",
      "stale = verification replies not rendered by the just-saved format.ts (must be 0); state lost = room whose call counter did not carry over (must be 0).",
      `Between saves the benchmark sleeps ${o.settleMs} ms after verification (settle; chokidar drops a 2nd change of a file within 50 ms).`,
    ],
  );

  printTable(
    "2. restart baseline on the same clusters (ms)",
    [
      "nodes",
      "boot",
      "launcher n",
      "launcher med",
      "backoffs",
      "launcher-backoff med",
      "plain n",
      "plain med",
      "plain p95",
      "close med",
      "start med",
      "stale",
      "| up-proc n",
      "up-proc med",
      "up-proc p95",
      "stop med",
      "start med",
    ],
    results.map((r) => [
      String(r.nodes),
      ms(r.bootMs),
      String(r.restarts.length),
      ms(median(r.restarts.map((x) => x.total))),
      r.restarts.map((x) => String(x.backoff)).join(","),
      ms(median(r.restarts.map((x) => x.total - x.backoff))),
      String(r.plain.length),
      ms(median(r.plain.map((x) => x.total))),
      ms(p95(r.plain.map((x) => x.total))),
      ms(median(r.plain.map((x) => x.close))),
      ms(median(r.plain.map((x) => x.start))),
      String(r.restartStale + r.plainStale),
      "| " + String(r.proc.length),
      ms(median(r.proc.map((x) => x.total))),
      ms(p95(r.proc.map((x) => x.total))),
      ms(median(r.proc.map((x) => x.close))),
      ms(median(r.proc.map((x) => x.start))),
    ]),
    [
      "boot = first DevServer.start() -> ready for this cluster size.",
      "launcher = SIGKILL every node process (server.launcher.kill) -> the last 'nodeStarted' event (every node restarted, rejoined, got the current",
      "  code from the coordinator and ran its entry). This is devcluster's own restart path and INCLUDES the launcher's backoff delay:",
      "  100 ms x 2^k, k reset only after 10 s of uptime, so consecutive rounds wait 100, 200, 400, 800, 1600 ms ('backoffs', from the launcher's log).",
      "launcher-backoff = the same minus that round's backoff delay: process spawn + node boot + join + entry.",
      "plain = what nodemon does (restart the whole dev process), done in-process: server.close() (SIGTERM nodes, wait for exit) +",
      "  fresh DevServer.start() (esbuild compile of all modules, coordinator, spawn all nodes) -> ready. It does not include starting a new",
      "  `node` for the dev server itself (its own require of esbuild/zeromq/chokidar); that is what up-proc adds.",
      "up-proc = nodemon for real: SIGTERM the `devcluster up` child process and wait for its exit (stop), spawn a new",
      "  `node dist/cli/main.js up --log-format json` in the project -> its 'cluster ... ready' log line (start). Not verified by a call.",
      "stale = after each restart, rooms whose render was not from the last saved format.ts (must be 0).",
    ],
  );

  printTable(
    `1a. save-to-live as a user sees it, beside the single-process floor measured in the same run (ms, medians of ${o.saves})`,
    [
      "nodes",
      "outside med",
      "outside p95",
      "floor med",
      "floor p95",
      "fs event",
      "compile",
      "evaluate",
      "outside/floor",
      "goal",
      "| nodes CPU",
      "coord CPU",
      "CPU bound",
    ],
    results.map((r) => {
      const out = median(r.saves.map((s) => s.outside));
      const fl = median(r.floor.map((s) => s.total));
      const goal = r.nodes === 1 ? "<= 0.8x" : r.nodes === 3 ? "<= 1.0x" : r.nodes === 16 ? "<= 15 ms" : "";
      const nodesCpu = median(r.cpu.map((s) => s.nodes));
      // Until the bundle exists no node can start; from then on the nodes' own CPU time shares the machine's cores.
      const bound = median(r.cpu.map((s) => s.serial)) + nodesCpu / CORES;
      return [
        String(r.nodes),
        ms(out),
        ms(p95(r.saves.map((s) => s.outside))),
        ms(fl),
        ms(p95(r.floor.map((s) => s.total))),
        ms(median(r.floor.map((s) => s.fsEvent))),
        ms(median(r.floor.map((s) => s.compile))),
        ms(median(r.floor.map((s) => s.evaluate))),
        `${(out / fl).toFixed(2)}x`,
        goal,
        "| " + ms(nodesCpu),
        ms(median(r.cpu.map((s) => s.coordinator))),
        ms(bound),
      ];
    }),
    [
      "outside = write -> the last node's first answer rendered by the new code: from the write on, the bench calls rooms back to back through",
      `  the coordinator's control link (as \`devcluster shell\` would), at most ${PROBES} in flight (round robin over the nodes still answering the old version).`,
      "floor = what any single-process hot reload pays for the same save, in this process, one floor save after each cluster save:",
      "  write -> chokidar 'change' (same options as the watcher, no quiet window) -> the same Compiler on the same file ->",
      "  Module#_compile of the bundle (as require does) and the first call of the new formatMessage.",
      "  A cluster does all of that too (the same event, the same compile, each node evaluating the same bundle), plus at least one",
      "  hop to the nodes and the answer's way back, so outside/floor cannot go below 1.0x by this measure.",
      `nodes CPU = medians of ${o.cpuSaves} more saves per size without the probe (its calls cost CPU too): CPU time of all node processes`,
      "  from the write to the reload report, less their idle rate over the pause before (/proc/<pid>/schedstat); coord CPU = this",
      "  process's (coordinator, watcher, compile) over the same span.",
      `CPU bound = write -> bundle compiled (no node can start before it exists) + nodes CPU / ${CORES} cores: what the nodes' own work`,
      "  takes on this machine if no node ever waited for another, not counting the coordinator's; a save cannot be faster than that.",
    ],
  );

  printTable(
    "2b. restart / save-to-live (medians)",
    ["nodes", "save-to-live", "launcher", "launcher-backoff", "plain", "up-proc", "launcher/save", "(launcher-backoff)/save", "plain/save", "up-proc/save"],
    results.map((r) => {
      const save = median(r.saves.map((s) => s.total));
      const l = median(r.restarts.map((x) => x.total));
      const lb = median(r.restarts.map((x) => x.total - x.backoff));
      const p = median(r.plain.map((x) => x.total));
      const u = median(r.proc.map((x) => x.total));
      const ratio = (x: number): string => (Number.isFinite(x) ? `${(x / save).toFixed(1)}x` : "-");
      return [String(r.nodes), ms(save), ms(l), ms(lb), ms(p), ms(u), ratio(l), ratio(lb), ratio(p), ratio(u)];
    }),
    ["A restart also loses every process's state (rooms, sessions); a save keeps it (see 'state lost' in table 1)."],
  );
}
