/**
 * The observer's pieces that need no cluster: a node's page of processes
 * (one pass, a bounded heap) against a plain full sort, and the version diff
 * (source from the inline source map, or the compiled JavaScript).
 */
import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";
import type { CompiledModule } from "../../cli/save/compiler";
import { diffLines, sourceOf, versionDiff } from "../../cli/observer/diff";
import { Observer } from "../../cli/observer/observer";
import type { Coordinator } from "../../cli/dev/coordinator";
import type { ObserverOp } from "../../wire/observer";
import { procs, topK, type ObserveHost } from "../../runtime/node/observe";
import type { NodeInfo } from "../../wire/protocol";
import type { ProcRow, ProcSortKey } from "../../wire/observer";
import { Pid } from "../../wire/pid";
import type { Tracer } from "../../runtime/node/trace";
import { FakeNode } from "../helpers/fakeNode";
import { EventEmitter } from "node:events";
import type { ReloadReport } from "../../cli/dev/reloadTransaction";

describe("topK", () => {
  test("gives the k smallest in order, whatever the input's order", () => {
    for (const n of [0, 1, 7, 100, 1000]) {
      const xs = Array.from({ length: n }, (_, i) => (i * 7919) % 1009);
      for (const k of [0, 1, 5, 50, 2000]) {
        const want = [...xs].sort((a, b) => a - b).slice(0, k);
        assert.deepEqual(
          topK(xs, k, (a, b) => a - b),
          want,
          `n=${n} k=${k}`,
        );
        assert.deepEqual(
          topK(
            [...xs].sort((a, b) => b - a),
            k,
            (a, b) => a - b,
          ),
          want,
          `descending input, n=${n} k=${k}`,
        );
      }
    }
  });
});

describe("a node's page of processes", () => {
  let nodes: FakeNode[] = [];
  afterEach(() => {
    for (const n of nodes) n.close();
    nodes = [];
  });

  async function host(n: number, name = "n1"): Promise<ObserveHost> {
    const node = new FakeNode(name);
    nodes.push(node);
    node.modules.load("a", "v1", { init: (i: number) => ({ i, pad: "x".repeat(i % 13) }) });
    node.modules.load("b", "v2", { init: (i: number) => ({ i }) });
    for (let i = 0; i < n; i++) {
      const pid = await node.procs.spawn(i % 3 ? "a" : "b", i);
      const p = node.procs.get(pid.id)!;
      p.handled = (i * 37) % 11;
      if (i % 5 === 0) p.mailbox.push({ kind: "info", msg: i } as never);
      if (i % 17 === 0) p.suspended = true;
    }
    const names: [string, Pid][] = [
      ["zed", new Pid(name, 4)],
      ["alpha", new Pid(name, 9)],
      ["elsewhere", new Pid("n9", 4)],
    ];
    return {
      name,
      procs: node.procs,
      tracer: undefined as unknown as Tracer,
      info: () => ({}) as NodeInfo,
      namesOf: (pid) => names.filter(([, p]) => p.equals(pid)).map(([n]) => n),
      registeredNames: () => names,
      suspend: async () => undefined,
      resume: async () => undefined,
    };
  }

  /** What the page must get: every row, filtered, fully sorted (ties by pid), cut. */
  function naive(h: ObserveHost, sort: ProcSortKey, desc: boolean, filter: string, limit: number): { total: number; rows: ProcRow[] } {
    const all = procs(h, { sort: "pid", desc: false, filter: "", limit: 1e9 }).rows;
    const rows = all.filter((r) => !filter || `${r.pid} ${r.name} ${r.module} ${r.version} ${r.status}`.toLowerCase().includes(filter.trim().toLowerCase()));
    const id = (r: ProcRow) => Number(r.pid.slice(r.pid.lastIndexOf(".") + 1, -1));
    const dir = desc ? -1 : 1;
    rows.sort((x, y) => {
      const a = sort === "pid" ? id(x) : x[sort];
      const b = sort === "pid" ? id(y) : y[sort];
      return a < b ? -dir : a > b ? dir : id(x) - id(y);
    });
    return { total: rows.length, rows: rows.slice(0, limit) };
  }

  test("every sort, both directions, with and without a filter, equals the full sort", async () => {
    const h = await host(300);
    const sorts: ProcSortKey[] = ["pid", "name", "module", "version", "status", "mailbox", "handled", "memory"];
    for (const sort of sorts)
      for (const desc of [false, true])
        for (const filter of ["", "suspended", "v2", "<n1.1", "1 a", "a v1", "ZED", "1.2"])
          assert.deepEqual(procs(h, { sort, desc, filter, limit: 25 }), naive(h, sort, desc, filter, 25), `${sort} ${desc ? "desc" : "asc"} '${filter}'`);
  });

  test("rows carry the first registered name of this node's pid, the state's size, and the status", async () => {
    const h = await host(20);
    const { rows, total } = procs(h, { sort: "pid", desc: false, filter: "", limit: 10 });
    assert.equal(total, 20);
    assert.equal(rows.length, 10);
    assert.equal(rows.find((r) => r.pid === "<n1.4>")!.name, "zed", "n9's <n9.4> named elsewhere is not this one");
    assert.equal(rows.find((r) => r.pid === "<n1.1>")!.status, "suspended");
    assert.ok(rows.every((r) => r.memory > 0));
    assert.deepEqual(
      procs(h, { sort: "name", desc: true, filter: "", limit: 2 }).rows.map((r) => r.name),
      ["zed", "alpha"],
    );
  });
  test("the cluster's pages, merged from the nodes, equal one sorted list cut at each offset, deep pages by pid included", async () => {
    const hosts = [await host(45, "n2"), await host(30, "n1"), await host(0, "n3")];
    const coordinator = {
      membership: () => hosts.map((h) => ({ node: h.name, up: true })),
      nodeRequest: async (node: string, op: { op: "observer"; req: ObserverOp }) => {
        const req = op.req;
        assert.equal(req.op, "procs");
        return procs(
          hosts.find((h) => h.name === node)!,
          (req as Extract<ObserverOp, { op: "procs" }>).query,
        );
      },
    } as unknown as Coordinator;
    const observer = new Observer(coordinator);
    for (const sort of ["pid", "handled", "name"] as const)
      for (const desc of [false, true])
        for (const filter of ["", "v1"]) {
          const all = await observer.procs({ sort, desc, filter, offset: 0, limit: 1000 });
          assert.equal(all.rows.length, all.total);
          for (const offset of [0, 1, 29, 30, 44, 45, 60, 74, 75, 90])
            for (const limit of [1, 10, 50]) {
              const page = await observer.procs({ sort, desc, filter, offset, limit });
              assert.equal(page.total, all.total, `${sort} ${desc} ${filter} ${offset} ${limit}`);
              assert.deepEqual(
                page.rows.map((r) => r.pid),
                all.rows.slice(offset, offset + limit).map((r) => r.pid),
                `${sort} ${desc ? "desc" : "asc"} '${filter}' offset ${offset} limit ${limit}`,
              );
            }
        }
  });
});

const mapped = (code: string, sources: string[], contents: string[]): string =>
  `${code}\n//# sourceMappingURL=data:application/json;base64,${Buffer.from(JSON.stringify({ version: 3, sources, sourcesContent: contents, mappings: "" })).toString("base64")}\n`;
const mod = (version: string, code: string): CompiledModule => ({ name: "sum", version, code, imports: [], file: "/p/src/sum.ts", bundled: [] });

describe("the version diff", () => {
  test("a line diff with context, unchanged runs folded, counts of added and removed lines", () => {
    const a = Array.from({ length: 20 }, (_, i) => `line ${i}`);
    const b = [...a];
    b[3] = "changed 3";
    b.splice(15, 0, "inserted");
    const d = diffLines(a, b, 1);
    assert.equal(d.added, 2);
    assert.equal(d.removed, 1);
    assert.deepEqual(
      d.lines.map((l) => `${l.op}${l.text}`),
      ["…2 unchanged lines", " line 2", "-line 3", "+changed 3", " line 4", "…9 unchanged lines", " line 14", "+inserted", " line 15", "…4 unchanged lines"],
    );
    assert.deepEqual(diffLines(["x"], ["x"]).lines, [{ op: "…", text: "1 unchanged line" }]);
  });

  test("compares the TypeScript source the bundles' source maps keep, named relative to the project", () => {
    const ts1 = 'export const step: string = "v1";\nexport const n = 1;\n';
    const ts2 = 'export const step: string = "v2";\nexport const n = 1;\n';
    const from = mod("aaa", mapped('exports.step = "v1";', ["../src/other.ts", "../src/sum.ts"], ["// other", ts1]));
    const to = mod("bbb", mapped('exports.step = "v2";', ["../src/sum.ts"], [ts2]));
    assert.equal(sourceOf(from, "/p").text, ts1);
    const d = versionDiff(from, to, "/p");
    assert.equal(d.of, "typescript");
    assert.equal(d.file, "src/sum.ts");
    assert.deepEqual(
      d.lines.filter((l) => l.op !== " ").map((l) => `${l.op}${l.text}`),
      ['-export const step: string = "v1";', '+export const step: string = "v2";'],
    );
  });

  test("compares the compiled JavaScript when a bundle keeps no source, and says so", () => {
    const from = mod("aaa", 'exports.step = "v1";\n');
    const to = mod("bbb", mapped('exports.step = "v2";', ["../src/sum.ts"], ["export const step = 'v2';"]));
    const d = versionDiff(from, to, "/p");
    assert.equal(d.of, "javascript");
    assert.equal(d.file, "sum.js");
    assert.deepEqual(
      d.lines.map((l) => `${l.op}${l.text}`),
      ['-exports.step = "v1";', '+exports.step = "v2";'],
    );
  });
});

describe("the reload timeline", () => {
  test("a reload after which closures still run old code carries what the log and the shell say about them", async () => {
    const coordinator = Object.assign(new EventEmitter(), { membership: () => [], status: async () => ({ nodes: [] }) }) as unknown as Coordinator;
    const observer = new Observer(coordinator);
    observer.start();
    const report: ReloadReport = {
      ok: true,
      modules: [{ name: "raft", version: "0123456789ab" }],
      nodes: [{ node: "n1", ok: true, ms: 3 }],
      ms: 3,
      stale: [{ kind: "kept", module: "raft", fn: "onSet", at: "raft.ts:12", count: 2, nodes: ["n1"] }],
    };
    coordinator.emit("reloaded", report, { source: "save" });
    observer.close();
    const entry = observer.initial().timeline.at(-1);
    assert.ok(entry?.kind === "reload");
    assert.deepEqual(entry.stale, [
      "1 function still runs the old code:",
      "raft: onSet (raft.ts:12) changed, but 2 closures made earlier on n1 keep the old body (V8 could not patch them: a function around them gained, lost or renamed a variable they could capture, or the edit reached across their edges): restart n1, or make them again",
    ]);
  });
});
