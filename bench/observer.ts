/**
 * The observer page with 100,000 processes (issue: "100,000 processes stay
 * usable"): `npm run build && node dist/bench/observer.js`.
 *
 * A 3-node cluster with BENCH_OBSERVER_PROCS (100,000) processes of a trivial
 * behaviour spread over the nodes; then, over the page's own HTTP API with
 * its token, the answer times of the processes tab's requests: the first
 * page (by pid, as the tab opens), each sort, a filter matching all and one
 * matching a single pid, and a page deep in the list; and, when chromium is
 * there, the time from clicking the processes tab to its first row drawn.
 * Times are medians of BENCH_OBSERVER_REPEAT (7) requests. Nothing is
 * asserted.
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { Writable } from "node:stream";
import { DevServer } from "../cli/dev/devServer";
import type { Pid } from "../wire/pid";
import { machineHeader, median, ms, printTable, progress } from "./lib";

const PROCS = Number(process.env.BENCH_OBSERVER_PROCS ?? 100_000);
const REPEAT = Number(process.env.BENCH_OBSERVER_REPEAT ?? 7);
const NODES = 3;
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";

const SPAWNER = `
import { spawn, nodeName } from "devcluster";
export function init() { return null; }
export async function handleCall(msg: { n: number }, _from: unknown, s: null) {
  for (let i = 0; i < msg.n; i++) await spawn(nodeName(), "idle", { i });
  return { reply: msg.n, state: s };
}
`;
const IDLE = `export function init(a: { i: number }) { return { i: a.i, seen: 0 }; }\nexport function handleCast(_m: unknown, s: { i: number; seen: number }) { return { ...s, seen: s.seen + 1 }; }\n`;

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(tmpdir(), "devcluster-bench-observer-"));
  const write = (rel: string, text: string): void => {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  };
  const nodes = Array.from({ length: NODES }, (_, i) => ({ name: `n${i + 1}` }));
  write("cluster.config.json", JSON.stringify({ name: "bench-observer", src: "src", entry: "app", nodes }));
  write("src/app.ts", "export async function start() {}\n");
  write("src/spawner.ts", SPAWNER);
  write("src/idle.ts", IDLE);
  const sink = new Writable({ write: (_c, _e, cb) => cb() });
  const server = await DevServer.start({ configPath: path.join(dir, "cluster.config.json"), logFormat: "json", out: sink, watch: false });
  try {
    await server.ready(60_000);
    const c = server.coordinator;
    progress(`spawning ${PROCS.toLocaleString("en-US")} processes over ${NODES} nodes`);
    const t0 = performance.now();
    await Promise.all(
      nodes.map(async ({ name }, i) => {
        const per = Math.floor(PROCS / NODES) + (i < PROCS % NODES ? 1 : 0);
        const pid = (await c.nodeRequest(name, { op: "spawn", module: "spawner", args: null })) as Pid;
        await c.nodeRequest(name, { op: "call", pid, msg: { n: per }, timeoutMs: 600_000 }, 600_000);
      }),
    );
    progress(`spawned in ${Math.round(performance.now() - t0)} ms`);
    const obs = server.observer!;
    const base = obs.url.replace(/#.*$/, "");
    const get = async (q: string): Promise<{ ms: number; total: number; rows: number }> => {
      const t = performance.now();
      const r = await fetch(`${base}api/procs?${q}`, { headers: { Authorization: `Bearer ${obs.token}` } });
      const body = (await r.json()) as { total: number; rows: unknown[]; error?: string };
      if (!r.ok) throw new Error(body.error);
      return { ms: performance.now() - t, total: body.total, rows: body.rows.length };
    };
    const some = await get("sort=pid&limit=1");
    const onePid = (
      (await (await fetch(`${base}api/procs?sort=pid&desc=1&limit=1`, { headers: { Authorization: `Bearer ${obs.token}` } })).json()) as {
        rows: { pid: string }[];
      }
    ).rows[0]!.pid;
    const cases: [string, string][] = [
      ["first page (by pid, as the tab opens)", "sort=pid&limit=50"],
      ["sort by pid, descending", "sort=pid&desc=1&limit=50"],
      ["sort by mailbox, descending", "sort=mailbox&desc=1&limit=50"],
      ["sort by handled, descending", "sort=handled&desc=1&limit=50"],
      ["sort by name", "sort=name&limit=50"],
      ["sort by module", "sort=module&limit=50"],
      ["sort by state size (memory), descending", "sort=memory&desc=1&limit=50"],
      ["filter matching every process ('idle')", "sort=pid&filter=idle&limit=50"],
      [`filter matching one pid (${onePid})`, `sort=pid&filter=${encodeURIComponent(onePid)}&limit=50`],
      ["page 1000 by pid (offset 50,000)", "sort=pid&offset=50000&limit=50"],
    ];
    const rows: string[][] = [];
    for (const [label, q] of cases) {
      await get(q); // warm-up
      const times: number[] = [];
      let last = { total: 0, rows: 0 };
      for (let i = 0; i < REPEAT; i++) {
        const r = await get(q);
        times.push(r.ms);
        last = r;
      }
      rows.push([label, ms(median(times)), ms(Math.max(...times)), last.total.toLocaleString("en-US"), String(last.rows)]);
    }
    let render = "no chromium";
    if (existsSync(CHROMIUM)) {
      const { chromium } = await import("playwright-core");
      const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
      try {
        const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
        const times: number[] = [];
        for (let i = 0; i < 3; i++) {
          await page.goto(obs.url);
          await page.locator('tr[data-node="n1"]').waitFor();
          const t = performance.now();
          await page.locator('nav button[data-tab="processes"]').click();
          await page.locator('table[data-test="procs"] tbody tr').first().waitFor();
          times.push(performance.now() - t);
          await page.goto("about:blank");
        }
        render = `${ms(median(times))} ms`;
      } finally {
        await browser.close();
      }
    }
    console.log(machineHeader());
    printTable(
      `observer: ${some.total.toLocaleString("en-US")} processes on ${NODES} nodes, /api/procs answer times (ms)`,
      ["request", "median", "max", "matching", "rows"],
      rows,
      [
        `median and max of ${REPEAT} requests after one warm-up, each over HTTP with the token, merged from ${NODES} nodes`,
        `processes tab clicked to first row drawn in chromium (median of 3): ${render}`,
      ],
    );
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
