import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, test } from "node:test";
import { cli, cliClusterPerSuite, cliUp, isRunning, makeProject } from "../helpers/cluster";
import { counter, counterProject } from "../helpers/fixtures";

describe("the devcluster command line against a running cluster", () => {
  const suite = cliClusterPerSuite(counterProject);

  test("status --json prints the cluster, each node's OS pid and module versions", async () => {
    const r = await cli(["status", "--json"], suite.project.dir);
    assert.equal(r.code, 0, r.stderr);
    const s = JSON.parse(r.stdout) as { name: string; nodes: { name: string; pid: number; modules: Record<string, string> }[] };
    assert.equal(s.name, "test");
    assert.deepEqual(
      s.nodes.map((n) => n.name),
      ["n1", "n2"],
    );
    for (const n of s.nodes) {
      assert.ok(isRunning(n.pid), `node ${n.name} pid ${n.pid} is alive`);
      assert.deepEqual(Object.keys(n.modules).sort(), ["app", "counter", "describe"]);
    }
  });

  test("ps prints a table of processes, and --json the same rows", async () => {
    const table = await cli(["ps"], suite.project.dir);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^pid\s+name\s+module\s+version\s+mailbox\s+handled\s+memory\s+status$/m);
    assert.match(table.stdout, /^<n1\.\d+>\s+counter:n1\s+counter\s+[0-9a-f]{8}\s+\d+\s+\d+/m);
    assert.match(table.stdout, /^<n2\.\d+>\s+counter:n2\s+counter/m);
    const json = await cli(["ps", "n2", "--json"], suite.project.dir);
    const rows = JSON.parse(json.stdout) as { pid: string; names: string[]; module: string }[];
    assert.deepEqual(
      rows.map((r) => [r.names, r.module]),
      [[["counter:n2"], "counter"]],
    );
    assert.match(rows[0]!.pid, /^<n2\.\d+>$/);
    const unknown = await cli(["ps", "n7"], suite.project.dir);
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /unknown or down node n7 \(nodes: n1, n2\)/);
  });

  test("shell --eval runs an expression with the helpers and --json prints its value", async () => {
    let r = await cli(["shell", "--json", "--eval", 'call("counter:n2", { type: "incr", by: 4 })'], suite.project.dir);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout), 4);
    r = await cli(["shell", "--json", "--eval", 'state("counter:n2")'], suite.project.dir);
    assert.deepEqual(JSON.parse(r.stdout), { count: 4 });
    r = await cli(["shell", "--json", "--eval", 'spawn("n1", "counter", { start: 40 })'], suite.project.dir);
    const pid = JSON.parse(r.stdout) as string;
    assert.match(pid, /^<n1\.\d+>$/);
    r = await cli(["shell", "--json", "--eval", `call("${pid}", { type: "incr" })`], suite.project.dir);
    assert.equal(JSON.parse(r.stdout), 41);
    r = await cli(["shell", "--json", "--eval", "nodes()"], suite.project.dir);
    assert.deepEqual(JSON.parse(r.stdout), ["n1", "n2"]);
  });

  test("shell --eval exits non-zero with the error on stderr when the expression throws", async () => {
    const r = await cli(["shell", "--eval", 'call("<n2.999>", { type: "get" })'], suite.project.dir);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /noproc: process <n2\.999> is not alive \(it lived on node n2\)/);
  });

  test("reload --json reports every node, and the nodes run the file as it is on disk", async () => {
    suite.project.write("src/counter.ts", counter(10));
    // The watcher may reload it first; reload on demand still reports the current version on every node.
    const r = await cli(["reload", "counter", "--json"], suite.project.dir);
    assert.equal(r.code, 0, r.stderr);
    const report = JSON.parse(r.stdout) as {
      ok: boolean;
      modules: { name: string; version: string }[];
      nodes: { node: string; ok: boolean; ms: number }[];
      ms: number;
    };
    assert.equal(report.ok, true);
    assert.equal(report.modules[0]?.name, "counter");
    assert.deepEqual(
      report.nodes.map((n) => [n.node, n.ok]),
      [
        ["n1", true],
        ["n2", true],
      ],
    );
    assert.equal(typeof report.ms, "number");
    const s = await cli(["shell", "--json", "--eval", 'call("counter:n2", { type: "incr" })'], suite.project.dir);
    assert.equal(JSON.parse(s.stdout), 14);
  });

  test("reload of an unknown module fails and names the modules there are", async () => {
    const r = await cli(["reload", "nope"], suite.project.dir);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unknown module nope \(modules: .*counter/);
  });

  test("a second up in the same suite.project is refused", async () => {
    const r = await cli(["up"], suite.project.dir);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /already running/);
  });

  test("stop ends the coordinator and every node: no process is left", async () => {
    const s = JSON.parse((await cli(["status", "--json"], suite.project.dir)).stdout) as { nodes: { pid: number }[] };
    const r = await cli(["stop"], suite.project.dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cluster stopped/);
    assert.equal(isRunning(suite.up.child.pid!), false);
    for (const n of s.nodes) assert.equal(isRunning(n.pid), false, `node pid ${n.pid} still running`);
    const again = await cli(["status"], suite.project.dir);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /no cluster is running in .*: start one with `devcluster up`/);
  });
});

describe("the devcluster command line without a running cluster", () => {
  test("up with a config that does not validate names the field and exits non-zero", async () => {
    const project = makeProject({ "src/app.ts": "export function start() {}" }, { nodes: [{ name: "n1" }, { name: 5 }] });
    try {
      const r = await cli(["up"], project.dir);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /"nodes\[1\]\.name"/);
    } finally {
      project.cleanup();
    }
  });

  test("up with a wildcard coordinator host is refused: nodes are told where to connect, so it names one address", async () => {
    const project = makeProject({ "src/app.ts": "export function start() {}" }, { coordinator: { host: "0.0.0.0" } });
    try {
      const r = await cli(["up"], project.dir);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /coordinator\.host.*every address of this machine/);
    } finally {
      project.cleanup();
    }
  });

  test("up on a coordinator port that is taken says which setting and exits non-zero, starting no node", async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as { port: number }).port;
    const project = makeProject(counterProject(), { coordinator: { port } });
    try {
      const r = await cli(["up"], project.dir);
      assert.equal(r.code, 1);
      assert.match(
        r.stderr,
        new RegExp(`the coordinator cannot listen on 127\\.0\\.0\\.1:${port} \\("coordinator" in cluster\\.config\\.json\\): .*Pick another port`),
      );
      const again = await cli(["status"], project.dir);
      assert.match(again.stderr, /no cluster is running/);
    } finally {
      blocker.close();
      project.cleanup();
    }
  });

  test("Ctrl-C (SIGINT) on up ends every node", async () => {
    const project = makeProject(counterProject(), { nodes: 2 });
    const run = cliUp(project.dir);
    try {
      await run.logs.waitFor(/cluster test ready/, 30_000);
      const pids = run.logs.lines.filter((l) => / joined"/.test(l)).map((l) => (JSON.parse(l) as { osPid: number }).osPid);
      assert.equal(pids.length, 2);
      const exited = new Promise((resolve) => run.child.once("exit", resolve));
      run.child.kill("SIGINT");
      await exited;
      for (const pid of pids) assert.equal(isRunning(pid), false, `node pid ${pid} still running`);
    } finally {
      await run.stop();
      project.cleanup();
    }
  });

  test("a node outlives no coordinator: killing up with SIGKILL ends its nodes too", async () => {
    const project = makeProject(counterProject(), { nodes: 2 });
    const run = cliUp(project.dir);
    try {
      await run.logs.waitFor(/cluster test ready/, 30_000);
      const pids = run.logs.lines.filter((l) => / joined"/.test(l)).map((l) => (JSON.parse(l) as { osPid: number }).osPid);
      run.child.kill("SIGKILL");
      const deadline = Date.now() + 10_000;
      while (pids.some(isRunning) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      for (const pid of pids) assert.equal(isRunning(pid), false, `node pid ${pid} still running`);
    } finally {
      await run.stop();
      project.cleanup();
    }
  });
});
