/**
 * Benchmark 5: a project of real size (bench/bigProject.ts, 500 modules) on 3
 * nodes, beside the same generator's 10-module project in the same run: boot
 * to ready, save-to-live of a leaf module and of a barrel many modules import,
 * how fast `status`, `ps()`, `nodes()` and Tab completion answer, and the
 * nodes' heap after saves spread over the whole project (issue 20, item 3).
 */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as esbuild from "esbuild";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { ClusterClient } from "../cli/dev/client";
import { Compiler } from "../cli/save/compiler";
import { ShellContext } from "../cli/shell/helpers";
import type { Pid } from "../wire/pid";
import { bigProject, type BigProject } from "./bigProject";
import { callOn, makeProject, median, ms, nextSaveOf, p95, pidsOf, printTable, progress, sleep, startCluster, type Cluster, type Project } from "./lib";

export interface SizeOptions {
  modules: number;
  /** the small project's module count: the figure a save in the large one is held to */
  small: number;
  nodes: number;
  warmup: number;
  /** leaf saves per project, alternated between the two; and as many barrel saves in the large one */
  saves: number;
  /** answers timed per query */
  queries: number;
  /** saves spread over the large project's modules before its heap is read again */
  heapSaves: number;
  /** pause after one save is verified, before the next write (chokidar drops a second change of a file within 50 ms) */
  settleMs: number;
}

export const DEFAULT_SIZE_OPTIONS: SizeOptions = { modules: 500, small: 10, nodes: 3, warmup: 3, saves: 20, queries: 30, heapSaves: 300, settleMs: 100 };

interface Side {
  gen: BigProject;
  project: Project;
  cluster: Cluster;
  probes: Map<string, Pid>;
  client: ClusterClient;
  shell: ShellContext;
}

interface SaveSample {
  total: number;
  compile: number;
  prepare: number;
  commit: number;
}

type Probe = { leaf: string; barrel: string; calls: number };

/** Starts one generated project; every node gets --expose-gc so its heap can be read after a full collection. */
async function start(modules: number, o: SizeOptions): Promise<Side & { bootMs: number }> {
  const gen = bigProject(modules);
  const nodes = Array.from({ length: o.nodes }, (_, i) => ({ name: `n${i + 1}`, env: { NODE_OPTIONS: "--expose-gc" } }));
  const project = makeProject(gen.files, { name: `size${modules}`, nodes });
  try {
    // A project's files are older than the drift check's racy window (100 ms) when `up` starts; files written this
    // moment would each be compiled again by the first status, which no user's first status pays.
    await sleep(150);
    progress(`size: starting ${modules} modules on ${o.nodes} nodes`);
    const cluster = await startCluster(project);
    const probes = new Map<string, Pid>();
    for (const n of cluster.nodes) {
      const [pid] = await pidsOf(cluster.server, n, "svc/probe");
      if (!pid) throw new Error(`no probe process on ${n}`);
      probes.set(n, pid);
    }
    const client = ClusterClient.connect(project.dir);
    return { gen, project, cluster, probes, client, shell: new ShellContext(() => client), bootMs: cluster.startMs };
  } catch (err) {
    project.cleanup();
    throw err;
  }
}

async function stop(s: Side | undefined): Promise<void> {
  if (!s) return;
  s.client.close();
  await s.cluster.server.close();
  s.project.cleanup();
}

/** Writes `text` to module `name` and waits until every node committed it; the report must name every node. */
async function save(s: Side, name: string, text: string): Promise<SaveSample> {
  const suffix = `${name}.ts`;
  const saved = nextSaveOf(s.cluster.server, suffix, 30_000);
  const writeAt = performance.now();
  writeFileSync(path.join(s.project.dir, "src", suffix), text);
  const r = await saved;
  if (!r.report?.ok || r.report.nodes.length !== s.cluster.nodes.length) {
    throw new Error(`saving ${suffix} did not reload every node: ${JSON.stringify(r.report ?? r.error?.message ?? r.held)}`);
  }
  return { total: r.doneAt - writeAt, compile: r.compileMs, prepare: r.report.phases?.prepareMs ?? NaN, commit: r.report.phases?.commitMs ?? NaN };
}

/** Every node's probe must answer with what was just saved. */
async function verify(s: Side, want: Partial<Probe>): Promise<void> {
  for (const [n, pid] of s.probes) {
    const got = (await callOn(s.cluster.server, n, pid, { type: "probe" })) as Probe;
    for (const [k, v] of Object.entries(want)) {
      if (got[k as keyof Probe] !== v) throw new Error(`node ${n} answered ${k} ${String(got[k as keyof Probe])}, not ${String(v)}`);
    }
  }
}

/** Times each answer of `fn`, after 3 untimed ones. */
async function timed(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  for (let i = 0; i < 3; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn();
    out.push(performance.now() - t0);
  }
  return out;
}

/**
 * The floor of a boot: esbuild's transform of every file (no bundling, no
 * import rewriting), and `nodes` plain Node processes started at once, each
 * requiring the transformed entry (so all the modules), as a project run
 * without devcluster would start. "devcluster" is a stub there.
 */
async function bootFloor(gen: BigProject, nodes: number): Promise<{ transformMs: number; requireMs: number }> {
  const dir = mkdtempSync(path.join(tmpdir(), "devcluster-bench-floor-"));
  try {
    const t0 = performance.now();
    const out = await Promise.all(
      Object.entries(gen.files).map(async ([rel, text]) => {
        const r = await esbuild.transform(text, { loader: "ts", format: "cjs", platform: "node", target: "node20", sourcemap: "inline" });
        return [rel.replace(/\.ts$/, ".js"), r.code] as const;
      }),
    );
    const transformMs = performance.now() - t0;
    for (const [rel, code] of [...out, ["node_modules/devcluster/index.js", "exports.register = async () => {}; exports.spawn = async () => ({});"] as const]) {
      mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      writeFileSync(path.join(dir, rel), code);
    }
    const entry = path.join(dir, "src", "app.js");
    const t1 = performance.now();
    await Promise.all(
      Array.from(
        { length: nodes },
        () =>
          new Promise<void>((resolve, reject) =>
            execFile(process.execPath, ["-e", `require(${JSON.stringify(entry)})`], { cwd: dir }, (err) => (err ? reject(err) : resolve())),
          ),
      ),
    );
    return { transformMs, requireMs: performance.now() - t1 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Each node's heap after a full collection (bytes). */
async function heaps(s: Side): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const n of s.cluster.nodes) {
    out.set(n, (await s.cluster.server.coordinator.nodeRequest(n, { op: "rpc", module: "svc/gc", fn: "collect", args: [] }, 30_000)) as number);
  }
  return out;
}

const MB = 2 ** 20;

export async function runSizeBench(o: SizeOptions = DEFAULT_SIZE_OPTIONS): Promise<void> {
  let small: (Side & { bootMs: number }) | undefined;
  let big: (Side & { bootMs: number }) | undefined;
  try {
    // ---- what a boot of the large project must do in this process before any node starts ----
    const compileAllMs = await (async () => {
      const gen = bigProject(o.modules);
      const p = makeProject(gen.files, { name: "compile" });
      try {
        const c = new Compiler({ projectDir: p.dir, srcDir: "src" });
        await c.compileAll();
        const t0 = performance.now();
        await c.compileAll();
        return performance.now() - t0;
      } finally {
        p.cleanup();
      }
    })();

    const floor = await bootFloor(bigProject(o.modules), o.nodes);
    const smallFloor = await bootFloor(bigProject(o.small), o.nodes);

    // One dev server at a time in a process (libzmq's ZAP handler is one per process): the small project is
    // measured before and after the large one, half its saves each time, so a change in the machine's load shows in both.
    const leaf = { small: [] as SaveSample[], big: [] as SaveSample[], barrel: [] as SaveSample[] };
    const smallRun = async (saves: number, from: number): Promise<Side & { bootMs: number }> => {
      const side = await start(o.small, o);
      small = side;
      await leafSaves(side, saves, from, leaf.small);
      return side;
    };
    const leafSaves = async (side: Side, saves: number, from: number, into: SaveSample[]): Promise<void> => {
      progress(`size: ${saves} leaf saves in the ${side.gen.lib.length}-lib-module project`);
      for (let i = from; i < from + saves; i++) {
        await sleep(o.settleMs);
        const tag = `leaf${i}`;
        const sample = await save(side, side.gen.leaf, side.gen.moduleSource(side.gen.leaf, tag));
        await verify(side, { leaf: tag });
        if (i - from >= o.warmup) into.push(sample);
      }
    };
    const firstHalf = Math.ceil(o.saves / 2);
    const first = await smallRun(o.warmup + firstHalf, 0);
    const smallBoot = first.bootMs;

    // ---- what the shell and the CLI ask, each beside a request the coordinator answers from memory ----
    const compiledByLook: number[] = [];
    const ask = async (s: Side): Promise<Record<string, number[]>> => {
      progress(`size: ${o.queries} answers of each query`);
      // The first look after a save compiles what changed; this one is what a user's first status after up pays.
      const t0 = performance.now();
      await s.shell.status();
      compiledByLook.push(performance.now() - t0, s.cluster.server.drift?.lastCompiled ?? NaN);
      return {
        "names (floor)": await timed(o.queries, () => s.client.request({ type: "names" })),
        status: await timed(o.queries, () => s.shell.status()),
        "ps()": await timed(o.queries, () => s.shell.ps()),
        "nodes()": await timed(o.queries, () => s.shell.upNodes()),
        "Tab completion": await timed(o.queries, () => s.shell.completions()),
      };
    };
    const askedSmall = await ask(first);
    await stop(first);
    small = undefined;

    big = await start(o.modules, o);
    await leafSaves(big, o.warmup + o.saves, 0, leaf.big);
    progress(`size: ${o.warmup + o.saves} barrel saves in the ${o.modules}-module project`);
    for (let i = 0; i < o.warmup + o.saves; i++) {
      await sleep(o.settleMs);
      const tag = `barrel${i}`;
      const sample = await save(big, `${big.gen.barrel}/index`, big.gen.barrelSource(big.gen.barrel, tag));
      await verify(big, { barrel: tag });
      if (i >= o.warmup) leaf.barrel.push(sample);
    }
    const asked = { small: askedSmall, big: await ask(big) };

    // ---- heap after saves spread over every lib module of the large project ----
    progress(`size: ${o.heapSaves} saves spread over the ${o.modules}-module project, heap before and after`);
    const before = await heaps(big);
    const coordBefore = process.memoryUsage().heapUsed;
    const heapSaves: SaveSample[] = [];
    const stride = 97; // coprime with the module count: consecutive saves land far apart in the import graph
    for (let k = 0; k < o.heapSaves; k++) {
      await sleep(o.settleMs);
      const name = big.gen.lib[(k * stride) % big.gen.lib.length]!;
      heapSaves.push(await save(big, name, big.gen.moduleSource(name, `h${k}`)));
    }
    const after = await heaps(big);
    (globalThis as { gc?: () => void }).gc?.();
    const coordAfter = process.memoryUsage().heapUsed;
    const bigBoot = big.bootMs;
    const bigNodes = big.cluster.nodes;
    const gen = big.gen;
    await stop(big);
    big = undefined;
    await stop(await smallRun(o.warmup + o.saves - firstHalf, 1000));
    small = undefined;

    // ---- tables ----
    const row = (label: string, xs: SaveSample[], floor?: number): string[] => {
      const total = median(xs.map((x) => x.total));
      return [
        label,
        String(xs.length),
        ms(total),
        ms(p95(xs.map((x) => x.total))),
        ms(median(xs.map((x) => x.compile))),
        ms(median(xs.map((x) => x.prepare))),
        ms(median(xs.map((x) => x.commit))),
        floor === undefined ? "" : `${(total / floor).toFixed(2)}x`,
      ];
    };
    const smallLeaf = median(leaf.small.map((x) => x.total));
    printTable(
      `5. a project of real size on ${o.nodes} nodes: ${o.modules} modules beside ${o.small} (same generator, same run; ms)`,
      ["figure", "n", "med", "p95", "compile", "prepare", "commit", `/ ${o.small}-module leaf`],
      [
        ["boot to ready, " + o.small + " modules (floor)", "1", ms(smallBoot), "", "", "", "", ""],
        ["boot to ready, " + o.modules + " modules (goal <= 2000)", "1", ms(bigBoot), "", "", "", "", `${(bigBoot / smallBoot).toFixed(2)}x`],
        [`  compileAll of ${o.modules} in this process (a part of boot)`, "1", ms(compileAllMs), "", "", "", "", ""],
        [`  floor: esbuild transform of ${o.small} / ${o.modules} files`, "1", `${ms(smallFloor.transformMs)} / ${ms(floor.transformMs)}`, "", "", "", "", ""],
        [
          `  floor: ${o.nodes} plain node processes require ${o.small} / ${o.modules}`,
          "1",
          `${ms(smallFloor.requireMs)} / ${ms(floor.requireMs)}`,
          "",
          "",
          "",
          "",
          "",
        ],
        row(`save a leaf, ${o.small} modules (floor)`, leaf.small, smallLeaf),
        row(`save a leaf, ${o.modules} modules (goal <= 1.20x)`, leaf.big, smallLeaf),
        row(`save the barrel ${gen.barrel}, ${o.modules} modules`, leaf.barrel, smallLeaf),
        row(`${o.heapSaves} saves spread over ${o.modules} modules`, heapSaves, smallLeaf),
      ],
      [
        "boot = DevServer.start() -> ready (every node ran its entry; the entry reaches every module, so every node evaluates all of them).",
        "floor: the same files through esbuild's transform only (no bundle, no import rewrite), and node -e require(app) in as many processes at once,",
        '  "devcluster" a stub: what starting the project without devcluster costs (process start, V8 compile and run of every module).',
        "save = write -> DevServer 'saved' (every node committed); each verified by a call to a probe process on every node that renders the saved module.",
        `leaf = ${gen.leaf}: imports no other module; the barrel ${gen.barrel}/index.ts re-exports group 0 and is imported by most modules.`,
        "The small project runs before and after the large one (half its leaf saves each); every node runs with --expose-gc (for the heap figure).",
      ],
    );

    const qrows: string[][] = [];
    for (const q of Object.keys(asked.big)) {
      const s = asked.small[q]!;
      const b = asked.big[q]!;
      qrows.push([q, ms(median(s)), ms(p95(s)), ms(median(b)), ms(p95(b)), q.endsWith("(floor)") ? "" : "< 50"]);
    }
    printTable(
      `5b. what the shell and CLI ask, ${o.queries} answers each after 3 untimed (ms)`,
      ["query", `${o.small} med`, `${o.small} p95`, `${o.modules} med`, `${o.modules} p95`, "goal"],
      qrows,
      [
        "A client (cli/dev/client, as `devcluster status` and the shell connect) in this process, over the coordinator's ZeroMQ endpoint.",
        "status = the status request (every node's info, and the drift check: which modules' files on disk are not what runs);",
        "ps() = status, then every node's process list; nodes() = status; Tab completion = status and the name table.",
        "names (floor) = a request the coordinator answers from its own table, no node asked: the round trip every query pays.",
        `The first status after the saves above: ${ms(compiledByLook[0]!)} ms (${o.small} modules, its drift check compiled ${compiledByLook[1]}), ` +
          `${ms(compiledByLook[2]!)} ms (${o.modules} modules, compiled ${compiledByLook[3]}); the timed ones compile only files changed since the last look.`,
      ],
    );

    printTable(
      `5c. node heap after ${o.heapSaves} saves spread over the ${o.modules} modules (after a full collection; MB)`,
      ["node", "before", "after", "growth", "goal"],
      [
        ...bigNodes.map((n) => {
          const b = before.get(n)! / MB;
          const a = after.get(n)! / MB;
          return [n, b.toFixed(1), a.toFixed(1), (a - b).toFixed(1), "<= 20"];
        }),
        ["coordinator (this process)", (coordBefore / MB).toFixed(1), (coordAfter / MB).toFixed(1), ((coordAfter - coordBefore) / MB).toFixed(1), ""],
      ],
      [
        `each save writes module lib modules[k * 97 mod ${gen.lib.length}] with a new tag; every save waited for all nodes' commit.`,
        "before = after boot, the saves above and the queries; the coordinator's figure includes this bench's own samples (and is without a forced collection unless node runs with --expose-gc).",
      ],
    );
  } finally {
    await stop(big);
    await stop(small);
  }
}
