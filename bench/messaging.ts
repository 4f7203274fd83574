/**
 * Process messaging benchmark (issue 5): `npm run build && node dist/bench/messaging.js`.
 *
 * Measures, on real nodes over CurveZMQ on loopback: cross-node call round
 * trip, cross-node and same-node cast throughput with one sender (counted
 * as received: a call after the casts answers only once they are handled,
 * since a pair's messages keep their order), memory per idle process, and
 * the time for 8 nodes to boot until all are ready. Beside them, in the
 * same run, the floor: raw zeromq.js DEALER/ROUTER with CurveZMQ on the same
 * loopback, and a plain function call per message. Goals are printed for
 * reference; nothing is asserted.
 */
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Writable } from "node:stream";
import { spawn as spawnChild } from "node:child_process";
import { once } from "node:events";
import { performance } from "node:perf_hooks";
import { Dealer, Router, curveKeyPair } from "zeromq";
import { DevServer } from "../cli/dev/devServer";
import type { Pid } from "../wire/pid";

const CALLS = Number(process.env.BENCH_CALLS ?? 5000);
const CASTS = Number(process.env.BENCH_CASTS ?? 200_000);
const IDLE = Number(process.env.BENCH_IDLE ?? 100_000);
const CAST_RUNS = 3;
/** casts per run of the observer's cost: a run spans several of its once-a-second samples and two process-table refreshes */
const OBSERVER_CASTS = Number(process.env.BENCH_OBSERVER_CASTS ?? 1_000_000);

/** Runs inside the cluster: each op measures from inside a process, so the coordinator's hop is not counted. */
const BENCH = `
import { call, cast, spawn, nodeName } from "devcluster";
export function init() { return { count: 0 }; }
const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
export async function handleCall(msg: any, _from: unknown, state: { count: number }) {
  switch (msg.op) {
    case "echo": return { reply: msg.v, state };
    case "count": return { reply: state.count, state };
    case "rtt": {
      const t: number[] = [];
      for (let i = 0; i < msg.n; i++) { const t0 = process.hrtime.bigint(); await call(msg.to, { op: "echo", v: i }); t.push(Number(process.hrtime.bigint() - t0) / 1000); }
      t.sort((a, b) => a - b);
      return { reply: { median: pct(t, 0.5), p99: pct(t, 0.99) }, state };
    }
    case "stream": {
      const before = (await call(msg.to, { op: "count" })) as number;
      const t0 = process.hrtime.bigint();
      for (let i = 0; i < msg.n; i++) cast(msg.to, i);
      const after = (await call(msg.to, { op: "count" }, 120_000)) as number;
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      return { reply: { received: after - before, perSecond: (after - before) / s }, state };
    }
    case "idle": {
      (globalThis as any).gc?.(); (globalThis as any).gc?.();
      const h0 = process.memoryUsage().heapUsed;
      const pids = [];
      for (let i = 0; i < msg.n; i++) pids.push(await spawn(nodeName(), "idle", null));
      (globalThis as any).gc?.(); (globalThis as any).gc?.();
      const h1 = process.memoryUsage().heapUsed;
      return { reply: { bytesPerProcess: (h1 - h0) / msg.n, gc: typeof (globalThis as any).gc === "function", alive: pids.length }, state };
    }
  }
  return { reply: null, state };
}
export function handleCast(_m: unknown, state: { count: number }) { state.count++; return state; }
`;
const IDLE_MODULE = `export function init() { return null; }\nexport function handleCall(_m: unknown, _f: unknown, s: null) { return { reply: null, state: s }; }\n`;
const APP = `export async function start() {}\n`;

type Row = [string, string, string];

function table(title: string, rows: Row[]): void {
  const head: Row = ["measure", "result", "goal / note"];
  const all = [head, ...rows];
  const w = [0, 1, 2].map((i) => Math.max(...all.map((r) => r[i]!.length)));
  const line = (r: Row) => `| ${r.map((c, i) => c.padEnd(w[i]!)).join(" | ")} |`;
  console.log(`\n${title}\n${line(head)}\n|${w.map((n) => "-".repeat(n + 2)).join("|")}|\n${rows.map(line).join("\n")}`);
}

const us = (x: number) => `${x.toFixed(1)} us`;
const rate = (x: number) => `${Math.round(x).toLocaleString("en-US")} msg/s`;

function project(nodes: number): { dir: string; configPath: string; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), "devcluster-bench-"));
  const write = (rel: string, text: string) => {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  };
  // --expose-gc so the idle-process measure can collect before reading the heap
  const nodeList = Array.from({ length: nodes }, (_, i) => ({ name: `n${i + 1}`, env: { NODE_OPTIONS: "--expose-gc" } }));
  write("cluster.config.json", JSON.stringify({ name: "bench", src: "src", entry: "app", nodes: nodeList }));
  write("src/app.ts", APP);
  write("src/bench.ts", BENCH);
  write("src/idle.ts", IDLE_MODULE);
  return { dir, configPath: path.join(dir, "cluster.config.json"), cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

const sink = () => new Writable({ write: (_c, _e, cb) => cb() });

async function start(nodes: number, observer = true): Promise<{ server: DevServer; ms: number; cleanup(): Promise<void> }> {
  const p = project(nodes);
  const t0 = performance.now();
  const server = await DevServer.start({ configPath: p.configPath, logFormat: "json", out: sink(), watch: false, observer });
  await server.ready(60_000);
  const ms = performance.now() - t0;
  return { server, ms, cleanup: async () => (await server.close(), p.cleanup()) };
}

/** Spawns the bench behaviour on a node, and calls one of its processes (with a long deadline: a run may take minutes). */
function benchOps(server: DevServer): { spawn(node: string): Promise<Pid>; run(pid: Pid, msg: unknown): Promise<any> } {
  const c = server.coordinator;
  return {
    spawn: (node) => c.nodeRequest(node, { op: "spawn", module: "bench", args: null }) as Promise<Pid>,
    run: (pid, msg) => c.nodeRequest(pid.node, { op: "call", pid, msg, timeoutMs: 600_000 }, 600_000) as Promise<any>,
  };
}

async function clusterRows(): Promise<Row[]> {
  const { server, cleanup } = await start(2);
  try {
    const { spawn, run } = benchOps(server);
    const a = await spawn("n1");
    const b = await spawn("n2");
    const local = await spawn("n1");
    await run(a, { op: "rtt", to: b, n: 200 }); // warm-up
    const rtt = await run(a, { op: "rtt", to: b, n: CALLS });
    await run(a, { op: "stream", to: b, n: 10_000 });
    await run(a, { op: "stream", to: local, n: 10_000 });
    // A run of 200,000 casts lasts half a second, which one GC or a neighbour's burst moves by a third: the median of three, alternated.
    type Stream = { received: number; perSecond: number };
    const remotes: Stream[] = [];
    const sames: Stream[] = [];
    for (let i = 0; i < CAST_RUNS; i++) {
      remotes.push(await run(a, { op: "stream", to: b, n: CASTS }));
      sames.push(await run(a, { op: "stream", to: local, n: CASTS }));
    }
    const middle = (xs: Stream[]): Stream => [...xs].sort((x, y) => x.perSecond - y.perSecond)[xs.length >> 1]!;
    const runs = (xs: Stream[]): string => xs.map((x) => `${Math.round(x.perSecond / 1000)}k`).join(", ");
    const remote = middle(remotes);
    const same = middle(sames);
    // A trace on an unrelated process turns the tracer on: each send then looks its pids up.
    await server.coordinator.traces.request({ op: "start", target: { pid: local }, limits: { count: 1_000_000, ms: 600_000 } });
    const traced = await run(a, { op: "stream", to: b, n: CASTS });
    await server.coordinator.traces.stop();
    const idle = await run(await spawn("n2"), { op: "idle", n: IDLE });
    return [
      ["cross-node call round trip, median", us(rtt.median), "goal <= 100 us"],
      ["cross-node call round trip, p99", us(rtt.p99), `goal < 500 us; ${CALLS} sequential calls`],
      [
        "cross-node cast, one sender",
        rate(remote.perSecond),
        `goal >= 400,000; median of ${CAST_RUNS} runs (${runs(remotes)}), ${remote.received} received each; tracing compiled in, off`,
      ],
      ["cross-node cast, a trace on another process", rate(traced.perSecond), `tracer on, these pids not traced (${traced.received} received)`],
      ["same-node cast, one sender", rate(same.perSecond), `goal >= 2,000,000; median of ${CAST_RUNS} runs (${runs(sames)}), ${same.received} received each`],
      [
        "memory per idle process",
        `${Math.round(idle.bytesPerProcess)} B`,
        `goal <= 1,500 B; heap delta over ${IDLE} spawned${idle.gc ? ", after gc" : ", no gc"}`,
      ],
    ];
  } finally {
    await cleanup();
  }
}

/**
 * `BENCH_ONLY=casts`: the two cast throughputs alone, `BENCH_RUNS` times each
 * (default 5), alternated, with every run and the median: for comparing one
 * change before and after without the rest of the benchmark.
 */
async function castRows(): Promise<Row[]> {
  return onPair(async ({ run, a, b, local }) => {
    await run(a, { op: "stream", to: b, n: 10_000 });
    await run(a, { op: "stream", to: local, n: 10_000 });
    const remote: number[] = [];
    const same: number[] = [];
    for (let i = 0; i < Number(process.env.BENCH_RUNS ?? 5); i++) {
      remote.push((await run(a, { op: "stream", to: b, n: CASTS })).perSecond);
      same.push((await run(a, { op: "stream", to: local, n: CASTS })).perSecond);
    }
    const runs = (xs: number[]) => xs.map((x) => `${Math.round(x / 1000)}k`).join(", ");
    const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
    return [
      ["cross-node cast, one sender, median", rate(med(remote)), `goal >= 400,000; runs ${runs(remote)}`],
      ["same-node cast, one sender, median", rate(med(same)), `goal >= 2,000,000; runs ${runs(same)}`],
    ] satisfies Row[];
  });
}

/** `BENCH_ONLY=calls`: the cross-node call round trip alone, `BENCH_RUNS` times (default 5), with every run's median. */
async function callRows(): Promise<Row[]> {
  return onPair(async ({ run, a, b }) => {
    await run(a, { op: "rtt", to: b, n: 200 });
    const runs: { median: number; p99: number }[] = [];
    for (let i = 0; i < Number(process.env.BENCH_RUNS ?? 5); i++) runs.push(await run(a, { op: "rtt", to: b, n: CALLS }));
    const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
    return [
      ["cross-node call round trip, median", us(med(runs.map((r) => r.median))), `goal <= 100 us; runs ${runs.map((r) => us(r.median)).join(", ")}`],
      ["cross-node call round trip, p99", us(med(runs.map((r) => r.p99))), `goal < 500 us; ${CALLS} sequential calls per run`],
    ] satisfies Row[];
  });
}

/** A 2-node cluster without the observer, with bench processes a and local on n1 and b on n2, for the BENCH_ONLY runs. */
async function onPair<T>(fn: (p: { run: ReturnType<typeof benchOps>["run"]; a: Pid; b: Pid; local: Pid }) => Promise<T>): Promise<T> {
  const { server, cleanup } = await start(2, false);
  try {
    const { spawn, run } = benchOps(server);
    return await fn({ run, a: await spawn("n1"), b: await spawn("n2"), local: await spawn("n1") });
  } finally {
    await cleanup();
  }
}

async function bootRow(): Promise<Row> {
  const { ms, cleanup } = await start(8);
  await cleanup();
  return ["8 nodes boot until all ready", `${Math.round(ms)} ms`, "goal <= 1000 ms; from DevServer.start to ready (compile included)"];
}

/** zeromq.js DEALER -> ROUTER and back with CurveZMQ, as our transport uses. */
/** CALLS sequential send-and-receive round trips after 200 warm-up ones, in microseconds, sorted. */
async function roundTrips(dealer: Dealer): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < CALLS + 200; i++) {
    const t0 = process.hrtime.bigint();
    await dealer.send("x");
    await dealer.receive();
    if (i >= 200) times.push(Number(process.hrtime.bigint() - t0) / 1000);
  }
  return times.sort((a, b) => a - b);
}

async function zmqRows(): Promise<Row[]> {
  const server = curveKeyPair();
  const client = curveKeyPair();
  const router = new Router({ curveServer: true, curvePublicKey: server.publicKey, curveSecretKey: server.secretKey, linger: 0 });
  const dealer = new Dealer({ curveServerKey: server.publicKey, curvePublicKey: client.publicKey, curveSecretKey: client.secretKey, linger: 0 });
  await router.bind("tcp://127.0.0.1:*");
  dealer.connect(router.lastEndpoint!);
  let echo = true;
  let counted = 0;
  let want = 0;
  let done: () => void = () => undefined;
  const serve = (async () => {
    for await (const [id, msg] of router) {
      if (echo) await router.send([id!, msg!]);
      else if (++counted === want) done();
    }
  })();
  const times = await roundTrips(dealer);
  echo = false;
  want = CASTS;
  const received = new Promise<void>((r) => (done = r));
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < CASTS; i++) await dealer.send("x");
  await received;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  dealer.close();
  router.close();
  await serve.catch(() => undefined);
  return [
    ["raw zeromq round trip, median", us(times[Math.floor(times.length / 2)]!), "DEALER/ROUTER, CurveZMQ, loopback"],
    ["raw zeromq round trip, p99", us(times[Math.floor(times.length * 0.99)]!), `${CALLS} sequential`],
    ["raw zeromq stream, one sender", rate(CASTS / s), "one-frame messages, counted at the ROUTER"],
  ];
}

function functionRow(): Row {
  let count = 0;
  const handle = (m: { n: number }) => {
    count += m.n;
  };
  const n = 10_000_000;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) handle({ n: 1 });
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  return ["plain function call per message", rate(n / s), `in one process (${count === n ? "checked" : "?"})`];
}

/**
 * The floor a cross-node call really stands on: the echoing ROUTER in another
 * OS process, so each round trip wakes two processes as a call between nodes
 * does (the in-process floor above shares one event loop).
 */
async function zmqCrossProcessRow(transport: "tcp" | "ipc" = "tcp"): Promise<Row[]> {
  const server = curveKeyPair();
  const client = curveKeyPair();
  const echo = `
    const { Router } = require(${JSON.stringify(require.resolve("zeromq"))});
    (async () => {
      const router = new Router({ curveServer: true, curvePublicKey: process.env.PK, curveSecretKey: process.env.SK, linger: 0 });
      await router.bind(process.env.EP);
      process.stdout.write(router.lastEndpoint + "\\n");
      process.stdin.on("end", () => process.exit(0)).resume();
      for await (const [id, msg] of router) await router.send([id, msg]);
    })();`;
  // ipc: a socket file in a folder only this user can enter (0700), as nodes on one host could use
  const ipcDir = transport === "ipc" ? mkdtempSync(path.join(tmpdir(), "devcluster-ipc-")) : undefined;
  if (ipcDir) chmodSync(ipcDir, 0o700);
  const child = spawnChild(process.execPath, ["-e", echo], {
    env: { ...process.env, PK: server.publicKey, SK: server.secretKey, EP: ipcDir ? `ipc://${ipcDir}/echo` : "tcp://127.0.0.1:*" },
    stdio: ["pipe", "pipe", "inherit"],
  });
  try {
    const [line] = (await once(child.stdout!, "data")) as [Buffer];
    const dealer = new Dealer({ curveServerKey: server.publicKey, curvePublicKey: client.publicKey, curveSecretKey: client.secretKey, linger: 0 });
    dealer.connect(line.toString().trim());
    const times = await roundTrips(dealer);
    dealer.close();
    return [
      [
        `raw zeromq round trip, two processes, ${transport}, median`,
        us(times[Math.floor(times.length / 2)]!),
        "CurveZMQ; the echo in another OS process, as a peer node",
      ],
      [`raw zeromq round trip, two processes, ${transport}, p99`, us(times[Math.floor(times.length * 0.99)]!), `${CALLS} sequential`],
    ];
  } finally {
    child.stdin!.end();
    if (child.exitCode === null) await once(child, "exit");
    if (ipcDir) rmSync(ipcDir, { recursive: true, force: true });
  }
}

/**
 * The observer's cost: one 2-node cluster, cross-node cast runs alternating
 * between no observer (its sampling stopped, no page), a page open on its
 * first tab (nodes: the sampling once a second and the event stream, as a
 * page says which tab it shows) and a page on the processes tab (the same,
 * and the process table asked for every 2 s as the tab does), so the
 * machine's drift hits every side alike.
 */
export async function observerRows(): Promise<Row[]> {
  const { server, cleanup } = await start(2, true);
  const obs = server.observer!;
  try {
    const { spawn, run } = benchOps(server);
    const a = await spawn("n1");
    const b = await spawn("n2");
    await run(a, { op: "stream", to: b, n: 20_000 });
    const base = obs.url.replace(/#.*$/, "");
    const openPage = async (tab: "nodes" | "processes"): Promise<() => void> => {
      obs.observer.start();
      const ac = new AbortController();
      const events = await fetch(`${base}api/events?token=${obs.token}&client=bench&tab=${tab}`, { signal: ac.signal });
      void (async () => {
        for await (const _ of events.body as unknown as AsyncIterable<Uint8Array>);
      })().catch(() => undefined);
      const poll = (): void =>
        void fetch(`${base}api/procs?limit=50`, { headers: { Authorization: `Bearer ${obs.token}` } }).then(
          (r) => r.text(),
          () => undefined,
        );
      if (tab === "processes") poll();
      const t = tab === "processes" ? setInterval(poll, 2000) : undefined;
      return () => (clearInterval(t), ac.abort(), obs.observer.close());
    };
    obs.observer.close();
    /** a cast run's rate, and the CPU `up`'s own process (coordinator, page server, this client) used per second of it */
    const measure = async (): Promise<{ rate: number; cpu: number }> => {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const r = (await run(a, { op: "stream", to: b, n: OBSERVER_CASTS })).perSecond as number;
      const c = process.cpuUsage(c0);
      return { rate: r, cpu: (c.user + c.system) / 1000 / ((performance.now() - t0) / 1000) };
    };
    const off: { rate: number; cpu: number }[] = [];
    const nodes: { rate: number; cpu: number }[] = [];
    const procs: { rate: number; cpu: number }[] = [];
    const rounds = Number(process.env.BENCH_OBSERVER_ROUNDS ?? 6);
    for (let i = 0; i < rounds; i++) {
      off.push(await measure());
      for (const [tab, into] of [
        ["nodes", nodes],
        ["processes", procs],
      ] as const) {
        const close = await openPage(tab);
        into.push(await measure());
        close();
      }
    }
    off.push(await measure());
    const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
    // Each open run against the closed runs either side of it: the machine drifts more between rounds than within one.
    const cost = (xs: { rate: number }[]) => `${((1 - median(xs.map((x, i) => x.rate / ((off[i]!.rate + off[i + 1]!.rate) / 2)))) * 100).toFixed(1)} %`;
    const ks = (xs: { rate: number }[]) => `${xs.map((x) => Math.round(x.rate / 1000)).join(", ")} k`;
    const cpu = (xs: { cpu: number }[]) => `${median(xs.map((x) => x.cpu)).toFixed(0)} ms/s`;
    return [
      ["cross-node cast, no observer", rate(median(off.map((x) => x.rate))), ks(off)],
      ["cross-node cast, page open on nodes", rate(median(nodes.map((x) => x.rate))), ks(nodes)],
      ["cross-node cast, page open on processes", rate(median(procs.map((x) => x.rate))), ks(procs)],
      ["observer's cost, nodes tab", cost(nodes), `goal <= 5 %; median of ${rounds} runs, each against the closed runs around it`],
      ["observer's cost, processes tab", cost(procs), "the table asked for every 2 s"],
      ["up's CPU: closed / nodes / processes", `${cpu(off)} / ${cpu(nodes)} / ${cpu(procs)}`, "coordinator, page server and this client, per second of run"],
    ];
  } finally {
    await cleanup();
  }
}

/** Processes' messaging beside the transport's floor, measured in the same run. */
export async function runMessagingBench(): Promise<void> {
  const processes = await clusterRows();
  const boot = await bootRow();
  const tcp = await zmqCrossProcessRow("tcp");
  const ipc = await zmqCrossProcessRow("ipc");
  const floor = [...(await zmqRows()), ...tcp, ...ipc];
  table("4. devcluster processes (2 nodes, one machine)", [...processes, boot]);
  table("4b. floor, same run", [...floor, functionRow()]);
  // each figure beside its floor: the call's round trip against the raw two-process round trip over the transport
  // the peers use on one host (ipc, wire/ipc.ts), tcp beside it
  const num = (rows: Row[], label: string): number => parseFloat((rows.find((r) => r[0].startsWith(label))?.[1] ?? "").replace(/,/g, ""));
  const ratio = (a: number, b: number): string => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}x` : "-");
  const callMed = num(processes, "cross-node call round trip, median");
  const callP99 = num(processes, "cross-node call round trip, p99");
  const rawMed = num(ipc, "raw zeromq round trip, two processes, ipc, median");
  const rawP99 = num(ipc, "raw zeromq round trip, two processes, ipc, p99");
  table("4d. beside the floor", [
    ["call round trip median / raw two-process ipc median", ratio(callMed, rawMed), `${us(callMed)} / ${us(rawMed)} (tcp raw: ${tcp[0]![1].trim()})`],
    ["call round trip p99 / raw two-process ipc p99", ratio(callP99, rawP99), `${us(callP99)} / ${us(rawP99)}`],
  ]);
  table("4c. the observer page's cost (2 nodes)", await observerRows());
}

if (require.main === module) {
  (process.env.BENCH_ONLY === "observer"
    ? observerRows().then((rows) => table("4c. the observer page's cost (2 nodes)", rows))
    : process.env.BENCH_ONLY === "casts"
      ? castRows().then((rows) => table(`cast throughput alone (${CASTS} casts per run)`, rows))
      : process.env.BENCH_ONLY === "calls"
        ? callRows().then((rows) => table("call round trip alone", rows))
        : runMessagingBench()
  ).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
