import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { inspect } from "node:util";
import { Pid } from "../../wire/pid";
import type { ReloadReport, StatusReport } from "../../cli/dev/coordinator";
import { ProcessTable } from "../../cli/views/processes";
import { ReloadView, reloadHeadline, reloadJson, reloadLogLine, renderReload } from "../../cli/views/reloadReport";
import { StatusView, renderStatus, statusJson } from "../../cli/views/status";
import { table, toJson } from "../../cli/views/tables";

// What `devcluster reload`, the shell's reload() and `up`'s log show: one rendering, so one set of assertions.

const ok: ReloadReport = {
  ok: true,
  modules: [{ name: "counter", version: "0123456789ab" }],
  nodes: [
    { node: "n1", ok: true, ms: 1.234 },
    { node: "n2", ok: true, ms: 12.5 },
  ],
  ms: 20.04,
  skewMs: 0.3,
  phases: { prepareMs: 10, commitMs: 10 },
};

const aborted: ReloadReport = {
  ok: false,
  failedIn: "prepare",
  modules: [{ name: "counter", version: "0123456789ab" }],
  nodes: [
    { node: "n1", ok: true, ms: 2 },
    { node: "n2", ok: false, ms: 0, error: { code: "eval_failed", message: "counter threw: boom" } },
  ],
  ms: 5,
};

describe("the reload report view", () => {
  test("an ok reload: headline with short versions, node count and time, then a row per node", () => {
    assert.equal(
      renderReload(ok),
      ["reloaded counter@01234567 on 2 nodes in 20.0 ms", "node  result  ms", "n1    ok      1.23", "n2    ok      12.50"].join("\n"),
    );
  });

  test("a reload after which code still runs an earlier version never says only reloaded: the shell, reload and up's log name each finding once", () => {
    const stale: ReloadReport = {
      ...ok,
      stale: [
        { kind: "constructor", module: "raft", fn: "RaftNode.setupKVHandler", at: "raft.ts:40", count: 3, nodes: ["n1", "n2"] },
        { kind: "refused", module: "raft", fn: "RaftNode.run", at: "raft.ts:9", count: 1, nodes: ["n2"], status: "BlockedByActiveGenerator" },
        { kind: "constructor", module: "raft", fn: "RaftNode.loop", at: "raft.ts:50", count: 3, nodes: ["n1", "n2"], suspends: true },
      ],
      staleUnknown: ["n3"],
    };
    const lines = [
      "  raft: RaftNode.setupKVHandler (raft.ts:40) changed; it ran in the constructor of 3 live instances on n1, n2 and will not run again: restart them, or register routes through a method",
      "  raft: RaftNode.run (raft.ts:9) keeps its old body in 1 closure on n2: V8 refused to patch the earlier version (BlockedByActiveGenerator: one of its async functions or generators is suspended): run `devcluster reload raft` once it has resumed (saving the same text again sends nothing), or restart n2",
      "  raft: RaftNode.loop (raft.ts:50) changed; the constructor of 3 live instances on n1, n2 started it, and a call still suspended in it (an async loop) goes on with the old body until it returns: restart them, or have each turn of the loop call a method (`await this.tick()`)",
    ];
    const headline =
      "reloaded counter@01234567 on 2 nodes in 20.0 ms; n3 did not say within 3000 ms whether old code still runs there; 3 functions still run the old code:";
    assert.equal(renderReload(stale), [headline, ...lines, "node  result  ms", "n1    ok      1.23", "n2    ok      12.50"].join("\n"));
    assert.equal(reloadLogLine(stale), [headline, ...lines].join("\n"));
    assert.equal(inspect(new ReloadView(stale)), renderReload(stale));
  });

  test("a rollback says so in the headline", () => {
    assert.match(renderReload(ok, { rollback: true }), /^rolled back to counter@01234567 on 2 nodes in 20\.0 ms\n/);
  });

  test("a module no node runs is said to be checked, never reloaded (issue 17 item 13)", () => {
    const launcher = { name: "scripts/launch", version: "89abcdef0123" };
    assert.match(
      reloadHeadline({ ...ok, modules: [launcher], kept: ["scripts/launch"] }),
      /^checked scripts\/launch@89abcdef on 2 nodes in 20\.0 ms: no node runs it, so nothing was evaluated/,
    );
    const both = reloadHeadline({ ...ok, modules: [...ok.modules, launcher], kept: ["scripts/launch"] });
    assert.equal(both, "reloaded counter@01234567 on 2 nodes in 20.0 ms; checked scripts/launch@89abcdef: no node runs it, so nothing was evaluated");
    assert.deepEqual(reloadJson({ ...ok, kept: ["counter"] }).kept, ["counter"]);
  });

  test("an aborted reload: no node switched, the ready nodes say ready, the failing one its code and message", () => {
    assert.equal(
      renderReload(aborted),
      [
        "reload of counter@01234567 aborted: no node switched",
        "node  result  ms    error",
        "n1    ready   2.00  ",
        "n2    error   -     eval_failed: counter threw: boom",
      ].join("\n"),
    );
  });

  test("a commit some nodes did not confirm, processes left on the old version and nodes left out are all shown", () => {
    const r: ReloadReport = {
      ...aborted,
      failedIn: "commit",
      skipped: ["n3"],
      codeChangeFailures: [{ node: "n1", pid: "<n1.7>", error: { code: "code_change_failed", message: "bad state" } }],
    };
    const text = renderReload(r);
    assert.match(text, /^reload of counter@01234567 committed, but not every node confirmed\n/);
    assert.match(text, /^n1\s+ok\s+2\.00/m);
    assert.match(text, /^ {2}<n1\.7> on n1 stays on the old version: bad state$/m);
    assert.match(text, /\nnot answering, will catch up when back: n3$/);
  });

  test("a set refused at commit says every node is back on the previous version, not that it committed", () => {
    const text = renderReload({ ...aborted, failedIn: "commit", rolledBack: true });
    assert.match(text, /^reload of counter@01234567 refused at commit: every node is back on the previous version\n/);
    assert.doesNotMatch(text, /committed/);
    assert.match(text, /^n1\s+ready\s+2\.00/m);
  });

  test("up's log line is the same headline on one line, with why each node failed", () => {
    assert.equal(reloadLogLine(ok), "reloaded counter@01234567 on 2 nodes in 20.0 ms");
    assert.equal(
      reloadLogLine({ ...aborted, skipped: ["n3"] }),
      "reload of counter@01234567 aborted: no node switched; n2: eval_failed: counter threw: boom; not answering, will catch up when back: n3",
    );
    assert.doesNotMatch(reloadLogLine(aborted), /\n/);
  });

  test("up's log line says rollback for a refused rollback, and names nodes failing alike once", () => {
    const error = { code: "eval_failed" as const, message: "counter threw: boom" };
    const all: ReloadReport = {
      ...aborted,
      nodes: [
        { node: "n1", ok: false, ms: 0, error },
        { node: "n2", ok: false, ms: 0, error },
      ],
    };
    assert.equal(reloadLogLine(all, { rollback: true }), "rollback of counter@01234567 aborted: no node switched; n1, n2: eval_failed: counter threw: boom");
  });

  test("the shell prints the view as the command does, and --json has the full versions but not the phases", () => {
    assert.equal(inspect(new ReloadView(ok)), renderReload(ok));
    assert.equal(inspect(new ReloadView(ok, { rollback: true })), renderReload(ok, { rollback: true }));
    const json = JSON.parse(toJson(new ReloadView(ok))) as Record<string, unknown>;
    assert.deepEqual(json, JSON.parse(toJson(reloadJson(ok))));
    assert.deepEqual(Object.keys(json), ["ok", "modules", "nodes", "ms"]);
    assert.deepEqual(json.modules, [{ name: "counter", version: "0123456789ab" }]);
  });

  test("--json gives reload times to 0.01 ms, the whole report's and each node's", () => {
    const noisy: ReloadReport = {
      ...ok,
      ms: 11.634917000000001,
      nodes: [
        { node: "n1", ok: true, ms: 0.98765432 },
        { node: "n2", ok: true, ms: 3.005 },
      ],
    };
    const json = JSON.parse(toJson(new ReloadView(noisy))) as { ms: number; nodes: { ms: number }[] };
    assert.equal(json.ms, 11.63);
    assert.deepEqual(
      json.nodes.map((n) => n.ms),
      [0.99, 3.01],
    );
    assert.deepEqual(reloadJson(noisy).nodes[0], { node: "n1", ok: true, ms: 0.99 });
  });
});

const status: StatusReport = {
  name: "demo",
  endpoint: "tcp://127.0.0.1:4000",
  nodes: [
    {
      name: "n1",
      pid: 4242,
      up: true,
      state: "up",
      processes: 3,
      modules: { app: "aaaaaaaaaaaa", counter: "bbbbbbbbbbbb" },
      restarts: 0,
      uptimeMs: 725_400,
      rss: 52_428_800,
      heapUsed: 10_485_760,
      heapTotal: 20_971_520,
      eventLoopDelay: { mean: 10.2, p99: 12.5, max: 30 },
      supervisorsGaveUp: [],
    },
    {
      name: "n2",
      pid: 4343,
      up: true,
      state: "supervisor gave up",
      processes: 0,
      modules: { app: "aaaaaaaaaaaa" },
      restarts: 2,
      uptimeMs: 3_000,
      rss: 41_943_040,
      heapUsed: 9_437_184,
      heapTotal: 20_971_520,
      eventLoopDelay: { mean: 10.1, p99: 11, max: 12 },
      supervisorsGaveUp: ["<n2.1.2>"],
    },
    { name: "n3", pid: null, up: false, state: "down", processes: 0, modules: {}, restarts: 1 },
  ],
};

describe("the status view", () => {
  test("a row per node: OS pid, state, uptime, restarts, processes, RSS, heap, event-loop delay, short versions", () => {
    assert.equal(
      renderStatus(status).split("\n").slice(0, 5).join("\n"),
      [
        "cluster demo at tcp://127.0.0.1:4000",
        "node  os pid  state               uptime  restarts  processes  rss     heap    loop mean/p99  modules",
        "n1    4242    up                  12m05s  0         3          50.0MB  10.0MB  10.2/12.5ms    app@aaaaaaaa counter@bbbbbbbb",
        "n2    4343    supervisor gave up  3s      2         0          40.0MB  9.0MB   10.1/11.0ms    app@aaaaaaaa",
        "n3    -       down                -       1         0          -       -       -              ",
      ].join("\n"),
    );
  });

  test("a node whose top supervisor gave up is not shown as a plain up: its state says so and a warning line names the supervisor", () => {
    const lines = renderStatus(status).split("\n");
    assert.equal(lines.length, 6);
    assert.match(lines[5]!, /^warning: n2 is running, but its top supervisor <n2\.1\.2> gave up \(reached_max_restart_intensity\)/);
    assert.ok(!renderStatus({ ...status, nodes: [status.nodes[0]!] }).includes("warning"), "a healthy cluster has no warning");
  });

  test("the shell's status() prints the same table, keeps the report's fields, and --json is the report", () => {
    const view = new StatusView(status);
    assert.equal(inspect(view), renderStatus(status));
    assert.deepEqual(
      view.nodes.map((n) => n.name),
      ["n1", "n2", "n3"],
    );
    assert.deepEqual(JSON.parse(toJson(view)), JSON.parse(toJson(statusJson(status))));
    assert.deepEqual(JSON.parse(toJson(view)), status);
  });
});

describe("the ps view", () => {
  const row = (node: string, id: number, extra: Partial<ConstructorParameters<typeof ProcessTable>[0][number]> = {}) => ({
    pid: new Pid(node, id),
    module: "counter",
    version: "0123456789ab",
    names: [] as string[],
    mailbox: 0,
    handled: 5,
    status: "waiting" as const,
    ...extra,
  });

  test("rows sorted by node then pid, with names, short version, memory and status", () => {
    const t = new ProcessTable([row("n2", 1), row("n1", 12, { names: ["counter:n1"], memory: 2048 }), row("n1", 3, { memory: 100 })]);
    assert.equal(
      t.render(),
      [
        "pid      name        module   version   mailbox  handled  memory  status",
        "<n1.3>   -           counter  01234567  0        5        100B    waiting",
        "<n1.12>  counter:n1  counter  01234567  0        5        2.0KB   waiting",
        "<n2.1>   -           counter  01234567  0        5        -       waiting",
      ].join("\n"),
    );
    assert.equal(inspect(t), t.render());
    assert.deepEqual(
      (JSON.parse(toJson(t)) as { pid: string }[]).map((r) => r.pid),
      ["<n1.3>", "<n1.12>", "<n2.1>"],
    );
  });

  test("no processes says so", () => {
    assert.equal(new ProcessTable([]).render(), "(no processes)");
  });
});

describe("table and toJson", () => {
  test("columns are padded to their widest cell, the last is not", () => {
    assert.equal(
      table([
        ["a", "bb", "c"],
        ["ccc", "d", "e"],
      ]),
      "a    bb  c\nccc  d   e",
    );
  });

  test("toJson writes Maps as objects, Sets as arrays, BigInts as strings, undefined as null", () => {
    assert.equal(toJson({ m: new Map([["k", 1]]), s: new Set([1, 2]), b: 10n }), '{"m":{"k":1},"s":[1,2],"b":"10"}');
    assert.equal(toJson(undefined), "null");
  });
});
