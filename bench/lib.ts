import { DEFAULT_QUIET_MS } from "../cli/save/watcher";
/**
 * Shared pieces of the benchmarks: statistics, a fixed-width table printer,
 * a log sink, the project fixtures and cluster start/stop helpers.
 */
import { execFileSync } from "node:child_process";
import * as os from "node:os";
import { performance } from "node:perf_hooks";
import { Writable } from "node:stream";
import { DevServer, type SaveReport } from "../cli/dev/devServer";
import type { Pid } from "../wire/pid";
import { makeProject, nextEvent, type Project } from "../test/helpers/cluster";

export { makeProject, nextEvent, type Project };

// ---- statistics ---------------------------------------------------------------

/** Linear-interpolated percentile (p in 0..100) of a non-empty sample. */
export function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const rank = (p / 100) * (s.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return s[lo]! + (s[hi]! - s[lo]!) * (rank - lo);
}

export const median = (xs: number[]): number => percentile(xs, 50);
export const p95 = (xs: number[]): number => percentile(xs, 95);
export const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);

/** `12.3` for ms values, `1.23` under 10, `-` for NaN. */
export function ms(x: number): string {
  if (!Number.isFinite(x)) return "-";
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

// ---- output -------------------------------------------------------------------

/** Prints a plain-text table with right-aligned fixed-width columns (the first column left-aligned). */
export function printTable(title: string, header: string[], rows: string[][], notes: string[] = []): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join("  ")
      .trimEnd();
  const out: string[] = ["", title, "=".repeat(title.length), line(header), line(widths.map((w) => "-".repeat(w)))];
  for (const r of rows) out.push(line(r));
  for (const n of notes) out.push(`  ${n}`);
  console.log(out.join("\n"));
}

export function machineHeader(): string {
  const cpus = os.cpus();
  const model = cpus[0]?.model.trim() ?? "unknown CPU";
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");
  return `devcluster bench  node ${process.version}  ${os.platform()}-${os.arch()}  CPU: ${model} x ${cpus.length} cores  RAM ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB  loadavg ${load}  ${new Date().toISOString()}`;
}

/** Progress lines go to stderr so stdout holds only the header and tables. */
export function progress(msg: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);
}

export const sleep = (msTime: number): Promise<void> => new Promise((r) => setTimeout(r, msTime));

/** Rejects after `timeoutMs` unless `p` settles first. */
export function deadline<T>(p: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`${what}: no result within ${timeoutMs} ms`)), timeoutMs);
    p.then(
      (v) => (clearTimeout(t), resolve(v)),
      (e: unknown) => (clearTimeout(t), reject(e)),
    );
  });
}

// ---- logs ---------------------------------------------------------------------

/** Keeps the last lines of the cluster's NDJSON logs (for error messages) and lets a listener see each line. */
export class LogSink extends Writable {
  readonly tail: string[] = [];
  private partial = "";
  private readonly lineListeners = new Set<(line: string) => void>();

  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    const parts = (this.partial + chunk.toString()).split("\n");
    this.partial = parts.pop() ?? "";
    for (const line of parts) {
      this.tail.push(line);
      if (this.tail.length > 60) this.tail.shift();
      for (const l of this.lineListeners) l(line);
    }
    cb();
  }

  onLine(fn: (line: string) => void): () => void {
    this.lineListeners.add(fn);
    return () => this.lineListeners.delete(fn);
  }

  last(n = 20): string {
    return this.tail.slice(-n).join("\n");
  }
}

// ---- clusters -----------------------------------------------------------------

export interface Cluster {
  server: DevServer;
  logs: LogSink;
  nodes: string[];
  /** OS pids of every node process this cluster's launcher started (initial and restarted) */
  osPids: Set<number>;
}

/** Every node process any benchmark started, to check at the end that none is left. */
export const allNodePids = new Set<number>();

/** Starts `up` in this process on a project and waits until every node ran its entry. Returns the start-to-ready time too. */
export async function startCluster(project: Project, quietMs = DEFAULT_QUIET_MS, readyTimeoutMs = 60_000): Promise<Cluster & { startMs: number }> {
  const logs = new LogSink();
  const t0 = performance.now();
  const start = (): Promise<DevServer> => DevServer.start({ configPath: project.configPath, logFormat: "json", out: logs, quietMs });
  // libzmq frees a closed socket's inproc endpoint (the ZAP handler's) in its reaper thread: a dev server started
  // in this process right after one closed can find it still taken. Once more after a moment, as a new process would.
  const server = await start().catch(async (err: unknown) => {
    if (!/already in use/i.test((err as Error).message)) throw err;
    await sleep(200);
    return start();
  });
  const osPids = new Set<number>();
  const note = (pid: number | undefined): void => {
    if (pid === undefined) return;
    osPids.add(pid);
    allNodePids.add(pid);
  };
  for (const pid of Object.values(server.launcher.pids())) note(pid);
  server.launcher.on("spawn", (_name: string, pid: number | undefined) => note(pid));
  try {
    await server.ready(readyTimeoutMs);
  } catch (err) {
    await server.close();
    throw new Error(`${(err as Error).message}; last logs:\n${logs.last()}`);
  }
  const startMs = performance.now() - t0;
  return { server, logs, nodes: server.config.nodes.map((n) => n.name), osPids, startMs };
}

/** The next "saved" event touching a file whose path ends with `suffix`. */
export function nextSaveOf(server: DevServer, suffix: string, timeoutMs = 15_000): Promise<SaveReport> {
  return nextEvent<SaveReport>(server, "saved", (s) => s.files.some((f) => f.endsWith(suffix)), timeoutMs);
}

/** pids of the processes of `module` on `node`, via the node's `ps`. */
export async function pidsOf(server: DevServer, node: string, module: string): Promise<Pid[]> {
  const ps = (await server.coordinator.nodeRequest(node, { op: "ps" })) as { pid: Pid; module: string }[];
  return ps.filter((p) => p.module === module).map((p) => p.pid);
}

export function callOn(server: DevServer, node: string, pid: Pid, msg: unknown, timeoutMs = 10_000): Promise<unknown> {
  return server.coordinator.nodeRequest(node, { op: "call", pid, msg, timeoutMs }, timeoutMs + 2000);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Node processes started by the benchmarks that are still alive (should be none). */
export function leftoverNodePids(): number[] {
  return [...allNodePids].filter(alive);
}

/** OS pids of the node processes (runtime/node/main.js) that are children of `pid` (a `devcluster up` child). */
export function childPids(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  try {
    return execFileSync("ps", ["-o", "pid=,args=", "--ppid", String(pid)], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.includes("runtime/node/main.js"))
      .map((l) => Number(l.trim().split(/\s+/)[0]))
      .filter((n) => n > 0);
  } catch {
    return [];
  }
}

/** `ps` lines of any dist/runtime/node/main.js process on the machine (other engineers' runs included). */
export function runtimeProcessesOnMachine(): string[] {
  try {
    return execFileSync("ps", ["-eo", "pid,ppid,etimes,args"], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.includes("runtime/node/main.js"));
  } catch {
    return [];
  }
}

// ---- fixtures -----------------------------------------------------------------

export const ROOMS_PER_NODE = 3;

/**
 * A project shaped like examples/chat: an entry module starting a few `room`
 * processes per node (registered cluster-wide), the `room` behaviour, and the
 * `format` module room imports. `room`'s "render" call returns format's output,
 * so a call shows which version of format a node runs.
 */
export function chatFiles(tag: string): Record<string, string> {
  return {
    "src/app.ts": `
import { register, spawn, type StartContext } from "devcluster";
export async function start(ctx: StartContext): Promise<void> {
  for (let i = 0; i < ${ROOMS_PER_NODE}; i++) {
    const pid = await spawn(ctx.node, "room", { name: ctx.node + "-room" + i });
    await register("room:" + ctx.node + ":" + i, pid);
  }
}
`,
    "src/types.ts": `
export interface ChatMessage { from: string; text: string; at: number; room: string }
`,
    "src/room.ts": `
import type { From } from "devcluster";
import { formatMessage } from "./format";
import type { ChatMessage } from "./types";
export interface State { name: string; history: ChatMessage[]; renders: number }
export function init(args: { name: string }): State {
  return { name: args.name, history: [], renders: 0 };
}
export function handleCall(msg: { type: string; text?: string }, _from: From, state: State) {
  switch (msg.type) {
    case "post": {
      const m: ChatMessage = { from: "bench", text: msg.text ?? "", at: Date.now(), room: state.name };
      state.history.push(m);
      if (state.history.length > 200) state.history.shift();
      return { reply: m, state };
    }
    case "render": {
      state.renders++;
      const m: ChatMessage = { from: "bench", text: msg.text ?? "hi", at: 0, room: state.name };
      return { reply: { line: formatMessage(m), renders: state.renders }, state };
    }
    default:
      return { reply: { error: "unknown_call" }, state };
  }
}
`,
    "src/format.ts": formatSource(tag),
  };
}

/** format.ts with `tag` in every line it renders; each save writes a different tag. */
export function formatSource(tag: string, opts: { closure?: boolean } = {}): string {
  return (
    `
import type { ChatMessage } from "./types";
/** How clients see chat lines (version ${tag}). */
function clock(at: number): string {
  return new Date(at).toISOString().slice(11, 19);
}
export function formatMessage(m: ChatMessage): string {
  return "${tag} [" + clock(m.at) + "] #" + m.room + " <" + m.from + "> " + m.text;
}
export function formatNotice(room: string, text: string, at: number): string {
  return "${tag} [" + clock(at) + "] #" + room + " * " + text;
}
` +
    (opts.closure
      ? // A closure the first version made and something still holds (as a library holds a route a constructor
        // registered): every later save must patch that version's script so the closure runs the new body.
        `import { hot } from "devcluster";
const held = (hot.data.held ??= []) as (() => string)[];
if (held.length === 0) held.push(() => "${tag} " + clock(0));
export function heldSays(): string {
  return held[0]!();
}
`
      : "")
  );
}

/** One node: an entry that starts a `spawner`, which spawns `worker` processes on request. */
export function procsFiles(): Record<string, string> {
  return {
    "src/app.ts": `
import { register, spawn, type StartContext } from "devcluster";
export async function start(ctx: StartContext): Promise<void> {
  const pid = await spawn(ctx.node, "spawner", {});
  await register("spawner", pid);
}
`,
    "src/spawner.ts": `
import { nodeName, spawn, type From, type Pid } from "devcluster";
export interface State { spawned: number; first?: Pid }
export function init(): State { return { spawned: 0 }; }
export async function handleCall(msg: { type: string; n?: number }, _from: From, state: State) {
  if (msg.type === "spawnMany") {
    const n = msg.n ?? 0;
    const t0 = Date.now();
    const node = nodeName();
    for (let i = 0; i < n; i++) {
      const pid = await spawn(node, "worker", { i: state.spawned });
      state.spawned++;
      if (!state.first) state.first = pid;
    }
    return { reply: { ms: Date.now() - t0, spawned: state.spawned, first: state.first }, state };
  }
  return { reply: { spawned: state.spawned, first: state.first }, state };
}
`,
    "src/worker.ts": workerSource("w0", false),
  };
}

/** worker.ts; with `codeChange` every live worker runs it at commit. */
export function workerSource(tag: string, withCodeChange: boolean): string {
  return `
export interface State { i: number; calls: number; upgrades: number }
export function init(args: { i: number }): State { return { i: args.i, calls: 0, upgrades: 0 }; }
export function handleCall(msg: { type: string }, _from: unknown, state: State) {
  state.calls++;
  return { reply: { tag: "${tag}", upgrades: state.upgrades, calls: state.calls }, state };
}
export function handleCast(_msg: unknown, state: State): State { return state; }
${withCodeChange ? `export function codeChange(_old: string, state: State): State { return { ...state, upgrades: (state.upgrades ?? 0) + 1 }; }` : ""}
`;
}
