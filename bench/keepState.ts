/**
 * Benchmark: `devcluster restart` of every node with its processes kept
 * (issue 19) beside a plain restart (`--fresh`), on 3 nodes holding 100,000
 * processes of about 200 B of state each: the time each node is away (freeze
 * and write to back with its processes) and the snapshot's size.
 */
import { performance } from "node:perf_hooks";
import { ClusterClient } from "../cli/dev/client";
import type { RestartResult } from "../cli/dev/reports";
import { bytes } from "../cli/views/units";
import { callOn, makeProject, median, ms, pidsOf, printTable, progress, startCluster } from "./lib";

export interface KeepStateOptions {
  nodes: number;
  processes: number;
  /** restarts of each kind */
  rounds: number;
}

export const DEFAULT_KEEP_STATE_OPTIONS: KeepStateOptions = { nodes: 3, processes: 100_000, rounds: 2 };

/** A room-like process: a name, members and a short history, about 200 B as JSON. */
const FILES: Record<string, string> = {
  "src/app.ts": `
import { spawn, type StartContext } from "devcluster";
export async function start(ctx: StartContext): Promise<void> { await spawn(ctx.node, "spawner", {}); }
`,
  "src/spawner.ts": `
import { nodeName, spawn, type From } from "devcluster";
export function init() { return { spawned: 0 }; }
export async function handleCall(msg: { n: number }, _from: From, state: { spawned: number }) {
  const node = nodeName();
  for (let i = 0; i < msg.n; i++) await spawn(node, "room", { i: state.spawned++ });
  return { reply: state.spawned, state };
}
`,
  "src/room.ts": `
import type { From } from "devcluster";
export function init(args: { i: number }) {
  return { name: "room-" + args.i, members: ["alice", "bob", "carol"], history: [
    { from: "alice", text: "hello everyone, this is room " + args.i, at: 1733370000000 },
    { from: "bob", text: "hi alice, good to see you", at: 1733370001000 },
  ], seen: 2 };
}
export function handleCall(_msg: unknown, _from: From, state: { seen: number }) { return { reply: state.seen, state }; }
`,
};

export async function runKeepStateBench(opts: KeepStateOptions = DEFAULT_KEEP_STATE_OPTIONS): Promise<void> {
  const project = makeProject(FILES, { nodes: opts.nodes });
  const cluster = await startCluster(project);
  const { server, nodes } = cluster;
  const client = ClusterClient.connect(project.dir);
  try {
    const fill = async (): Promise<void> => {
      const t0 = performance.now();
      for (const [k, node] of nodes.entries()) {
        const n = Math.floor(opts.processes / nodes.length) + (k < opts.processes % nodes.length ? 1 : 0);
        const [spawner] = await pidsOf(server, node, "spawner");
        await callOn(server, node, spawner!, { n }, 600_000);
      }
      progress(`spawned ${opts.processes} rooms on ${nodes.length} nodes in ${ms(performance.now() - t0)} ms`);
    };
    const restart = (fresh: boolean): Promise<RestartResult[]> =>
      client.request<RestartResult[]>({ type: "restart", nodes, ...(fresh ? { fresh: true } : {}) }, 600_000);

    await fill();
    const kept: RestartResult[][] = [];
    for (let r = 0; r < opts.rounds; r++) {
      const res = await restart(false);
      const back = res.reduce((a, x) => a + (x.restored ?? 0), 0);
      // Every room and each node's spawner comes back, or the round does not count.
      if (back !== opts.processes + nodes.length)
        throw new Error(`round ${r + 1}: ${back} processes restored, expected ${opts.processes + nodes.length}: ${JSON.stringify(res)}`);
      kept.push(res);
      progress(`kept restart ${r + 1}: away ${res.map((x) => `${x.node} ${x.awayMs} ms`).join(", ")}`);
    }
    const plain: RestartResult[][] = [];
    for (let r = 0; r < opts.rounds; r++) {
      // A plain restart drops the rooms: put them back, so both kinds stop a node holding the same processes.
      if (r > 0) await fill();
      plain.push(await restart(true));
      progress(`plain restart ${r + 1}: away ${plain[r]!.map((x) => `${x.node} ${x.awayMs} ms`).join(", ")}`);
    }
    const rows = nodes.map((node) => {
      const k = kept.map((round) => round.find((x) => x.node === node)!);
      const p = plain.map((round) => round.find((x) => x.node === node)!);
      return [
        node,
        String(k[0]!.snapshot?.processes ?? "-"),
        bytes(k[0]!.snapshot?.bytes),
        ms(median(k.map((x) => x.snapshot?.ms ?? NaN))),
        ms(median(k.map((x) => x.restoreMs ?? NaN))),
        ms(median(k.map((x) => x.awayMs!))),
        ms(median(p.map((x) => x.awayMs!))),
      ];
    });
    const total = kept[0]!.reduce((a, x) => a + (x.snapshot?.bytes ?? 0), 0);
    printTable(
      `restart keeping processes vs plain restart (${opts.processes.toLocaleString("en")} rooms of ~200 B state on ${nodes.length} nodes, median of ${opts.rounds})`,
      ["node", "processes", "snapshot", "write ms", "restore ms", "away kept ms", "away plain ms"],
      rows,
      [
        `snapshot total ${bytes(total)}, ${(total / (opts.processes + nodes.length)).toFixed(0)} B per process`,
        "write: freeze and write on the old node; restore: read and make them again on the new one",
        "away: from the freeze (kept) or the stop (plain) until the node has run its entry again, or restored its processes",
        "nodes restart one after another; the plain restart's processes are gone afterwards (their state lost)",
      ],
    );
  } finally {
    client.close();
    await server.close();
    project.cleanup();
  }
}
