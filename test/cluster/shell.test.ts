import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { DevServer } from "../../cli/dev/devServer";
import { cli, CLI, makeProject, nextEvent, startCluster, LogCapture, type Project } from "../helpers/cluster";
import { counter } from "../helpers/fixtures";
import { ShellDriver, handledBy, waitUntil, withShellCluster } from "../helpers/shell";
import { shellProject } from "../helpers/shellFixtures";

describe("devcluster shell against a live cluster", () => {
  let project: Project;
  let server: DevServer;
  const shells: ShellDriver[] = [];

  /** `shell --json --eval expr`: the parsed value, or the failure. */
  const evalJson = async (expr: string): Promise<unknown> => {
    const r = await cli(["shell", "--json", "--eval", expr], project.dir);
    assert.equal(r.code, 0, `${expr} failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  const evalFails = async (expr: string): Promise<string> => {
    const r = await cli(["shell", "--eval", expr], project.dir);
    assert.equal(r.code, 1, `${expr} should fail; it printed ${r.stdout}`);
    assert.equal(r.stdout, "");
    return r.stderr;
  };
  const openShell = async (args: string[] = []): Promise<ShellDriver> => {
    const s = new ShellDriver(project.dir, args);
    shells.push(s);
    await s.ready();
    return s;
  };

  before(async () => {
    project = makeProject(shellProject(), { nodes: 2 });
    ({ server } = await startCluster(project));
  });

  after(async () => {
    for (const s of shells) await s.close();
    await server?.close();
    project?.cleanup();
  });

  describe("--eval --json runs every helper once and prints its value", () => {
    test("nodes() and status() list the nodes", async () => {
      assert.deepEqual(await evalJson("nodes()"), ["n1", "n2"]);
      const s = (await evalJson("status()")) as { name: string; nodes: { name: string; up: boolean }[] };
      assert.equal(s.name, "test");
      assert.deepEqual(
        s.nodes.map((n) => [n.name, n.up]),
        [
          ["n1", true],
          ["n2", true],
        ],
      );
    });

    test("call, cast and send reach a process by name and state() shows the result", async () => {
      assert.equal(await evalJson('call("counter:n1", { type: "incr", by: 5 })'), 5);
      assert.equal(await evalJson('cast("counter:n1", { type: "incr" })'), true);
      // a call after the cast is handled after it: the mailbox keeps their order
      assert.equal(await evalJson('call("counter:n1", { type: "get" })'), 6);
      assert.deepEqual(await evalJson('state("counter:n1")'), { count: 6 });
      // a plain message to a process without handleInfo is logged and dropped; the process lives on
      assert.deepEqual(await evalJson('send("counter:n1", "hello")'), "hello");
      assert.equal(await evalJson('call("counter:n1", { type: "get" })'), 6);
    });

    test("spawn returns a pid that the other helpers accept as text", async () => {
      const pid = (await evalJson('spawn("n2", "counter", { start: 40 })')) as string;
      assert.match(pid, /^<n2\.\d+>$/);
      assert.equal(await evalJson(`call("${pid}", { type: "incr" })`), 41);
      assert.deepEqual(await evalJson(`state("${pid}")`), { count: 41 });
    });

    test("ps() lists processes with name, module, version and counters", async () => {
      const rows = (await evalJson('ps("n1")')) as { pid: string; names: string[]; module: string; version: string; handled: number; status: string }[];
      const c = rows.find((r) => r.names.includes("counter:n1"));
      assert.ok(c, JSON.stringify(rows));
      assert.equal(c.module, "counter");
      assert.match(c.version, /^[0-9a-f]{12}$/);
      assert.ok(c.handled >= 3);
      assert.equal(c.status, "waiting");
    });

    test("whereis(name) answers the pid, kill(pid) ends it, and then state says it is not alive and where it lived", async () => {
      const pid = (await evalJson('spawn("n1", "counter", { start: 1 })')) as string;
      assert.equal(await evalJson(`kill("${pid}")`), true);
      const err = await evalFails(`state("${pid}")`);
      assert.equal(err.trim(), `noproc: process ${pid} is not alive (it lived on node n1)`);
      assert.match((await evalJson('whereis("counter:n2")')) as string, /^<n2\.\d+>$/);
    });

    test("restart(pid) starts the process over under the same name", async () => {
      await evalJson('call("counter:n2", { type: "incr", by: 9 })');
      const before = await evalJson('whereis("counter:n2")');
      const fresh = await evalJson('restart("counter:n2")');
      assert.notEqual(fresh, before);
      assert.equal(await evalJson('whereis("counter:n2")'), fresh);
      assert.deepEqual(await evalJson('state("counter:n2")'), { count: 0 });
    });

    test("restart(pid) of a supervised process goes through its supervisor", async () => {
      const sup = (await evalJson(
        `evalOn("n1", "await startSupervisor(node, { strategy: 'one_for_one', children: [{ id: 'c', module: 'counter', args: { start: 5 } }] })")`,
      )) as string;
      const child = (await evalJson(`evalOn("n1", "(await whichChildren('${sup}'))[0].pid")`)) as string;
      await evalJson(`call("${child}", { type: "incr" })`);
      const fresh = (await evalJson(`restart("${child}")`)) as string;
      assert.notEqual(fresh, child);
      assert.equal(await evalJson(`evalOn("n1", "String((await whichChildren('${sup}'))[0].pid)")`), fresh);
      assert.deepEqual(await evalJson(`state("${fresh}")`), { count: 5 }, "started over from its child spec");
      // a name registered for it from outside follows it to its new incarnation
      await evalJson(`evalOn("n1", "await register('supervised:c', parsePid('${fresh}'))")`);
      const third = (await evalJson('restart("supervised:c")')) as string;
      assert.notEqual(third, fresh);
      assert.equal(await evalJson('whereis("supervised:c")'), third);
      await evalJson(`kill("${sup}")`);
    });

    test("rpc runs a function on one node and multicall on every node, answering per node", async () => {
      assert.equal(await evalJson('rpc("n2", "util", "add", 2, 3)'), 5);
      assert.deepEqual(await evalJson('multicall("util", "whoami")'), { n1: "n1", n2: "n2" });
      assert.deepEqual(await evalJson('multicall("util", "fails")'), {
        n1: { error: "error: util.fails on purpose" },
        n2: { error: "error: util.fails on purpose" },
      });
    });

    test("evalOn evaluates on that node with the runtime API in scope", async () => {
      assert.equal(await evalJson('evalOn("n2", "node + \\":\\" + process.env.DEVCLUSTER_NODE")'), "n2:n2");
      assert.match((await evalJson('evalOn("n1", "await whereis(\\"counter:n1\\")")')) as string, /^<n1\.\d+>$/);
    });

    test("--node makes a node the default for spawn and evalOn", async () => {
      const r = await cli(
        ["shell", "--node", "n2", "--json", "--eval", "[await spawn(undefined, 'counter', { start: 0 }), await evalOn(undefined, 'node')]"],
        project.dir,
      );
      assert.equal(r.code, 0, r.stderr);
      const [pid, node] = JSON.parse(r.stdout) as [string, string];
      assert.match(pid, /^<n2\./);
      assert.equal(node, "n2");
    });

    test("--node for a node the cluster does not have is refused, naming the nodes it has, with --eval and without", async () => {
      for (const args of [["--eval", "1 + 1"], []]) {
        const r = await cli(["shell", "--node", "n9", ...args], project.dir);
        assert.equal(r.code, 1, `shell --node n9 ${args.join(" ")} was not refused: ${r.stdout}`);
        assert.equal(r.stdout, "");
        assert.match(r.stderr, /--node n9: cluster test has no node n9; its nodes are n1, n2/);
      }
    });

    test("reload and versions report per node", async () => {
      const report = (await evalJson('reload("util")')) as { ok: boolean; nodes: { node: string; ok: boolean }[] };
      assert.equal(report.ok, true);
      assert.deepEqual(report.nodes.map((n) => n.node).sort(), ["n1", "n2"]);
      const v = (await evalJson('versions("util")')) as Record<string, { util: { current: string; old?: string } }>;
      assert.deepEqual(Object.keys(v).sort(), ["n1", "n2"]);
      assert.equal(v.n1!.util.current, v.n2!.util.current);
      assert.equal(v.n1!.util.old, v.n1!.util.current, "a reload of the same source keeps the previous instance as old");
    });

    test("self() is a pid processes can send to, and flush() shows what arrived", async () => {
      const got = await evalJson(`(async () => {
        await cast("replier:n1", { replyTo: await self(), text: "hi" });
        for (let i = 0; i < 200; i++) { const m = await flush(); if (m.length) return m; await new Promise((r) => setTimeout(r, 25)); }
        return "nothing arrived";
      })()`);
      assert.deepEqual(got, [{ echo: "hi", seen: 1 }]);
    });
  });

  describe("errors read like answers", () => {
    test("an unknown node lists the known ones", async () => {
      assert.match(await evalFails('rpc("n9", "util", "add", 1, 2)'), /^nodedown: unknown or down node n9 \(nodes: n1, n2\)/);
    });

    test("an unknown module lists the known ones", async () => {
      assert.match(await evalFails('spawn("n1", "nope", {})'), /^unknown_module: no module nope on node n1 \(known: app, counter, describe, replier, util\)/);
      assert.match(await evalFails('rpc("n1", "util", "nope")'), /^unknown_function: util exports no function nope \(it exports: add, fails, whoami\)/);
    });

    test("a call that gets no answer says how long it waited", async () => {
      assert.match(await evalFails('call("replier:n2", { type: "hang" }, 300)'), /^timeout: call to <n2\.\d+> timed out after 300 ms/);
    });

    test("an expression that throws exits non-zero with the message on stderr", async () => {
      assert.match(await evalFails("undefinedThing.x"), /ReferenceError: undefinedThing is not defined/);
    });
  });

  describe("the interactive REPL", () => {
    test("typing a call and state() prints the reply and the state, and a dead pid is an answer, not the end", async () => {
      const sh = await openShell();
      sh.line('await call("counter:n1", { type: "incr", by: 100 })');
      await sh.expect(/\b106\b/);
      sh.line('state("counter:n1")');
      await sh.expect(/\{ count: 106 \}/);
      sh.line('call("<n1.999999>", 1)');
      await sh.expect(/noproc: process <n1\.999999> is not alive \(it lived on node n1\)/);
      sh.line("1 + 1");
      await sh.expect(/\b2\b/);
    });

    test("ps() prints a table row per process", async () => {
      const sh = await openShell();
      sh.line('ps("n1")');
      await sh.expect(/pid\s+name\s+module\s+version\s+mailbox\s+handled\s+memory\s+status/);
      await sh.expect(/<n1\.\d+>\s+counter:n1\s+counter\s+[0-9a-f]{8}\s+0\s+\d+\s+\S+\s+waiting/);
    });

    test("reload() prints the per-node report, and .help lists every helper with an example", async () => {
      const sh = await openShell();
      project.write("src/counter.ts", counter(1));
      sh.line('reload("counter")');
      await sh.expect(/reloaded counter@[0-9a-f]{8} on 2 nodes in [\d.]+ ms/);
      await sh.expect(/n1\s+ok\s+[\d.]+/);
      sh.line(".help");
      for (const name of [
        "nodes",
        "ps",
        "state",
        "send",
        "call",
        "cast",
        "spawn",
        "kill",
        "restart",
        "whereis",
        "rpc",
        "multicall",
        "reload",
        "rollback",
        "versions",
        "evalOn",
        "flush",
      ]) {
        assert.match(await sh.expect(new RegExp(`\\n  ${name}\\(.*\\n\\s+e\\.g\\. .*`)), new RegExp(name));
      }
    });

    test("history is kept in .devcluster/shell_history (in a real terminal)", async () => {
      const sh = new ShellDriver(project.dir, [], { file: "script", args: ["-qfec", `${process.execPath} ${CLI} shell`, "/dev/null"] });
      shells.push(sh);
      await sh.expect(/attached to cluster test/);
      sh.type('whereis("counter:n1")\r');
      await sh.expect(/<n1\.\d+>/);
      sh.type(".exit\r");
      await new Promise((resolve) => sh.child.once("exit", resolve));
      const file = path.join(project.dir, ".devcluster", "shell_history");
      assert.ok(existsSync(file));
      assert.match(readFileSync(file, "utf8"), /whereis\("counter:n1"\)/);
    });

    test("tab completes node names and registered names inside a string (in a real terminal)", async () => {
      const sh = new ShellDriver(project.dir, [], { file: "script", args: ["-qfec", `${process.execPath} ${CLI} shell`, "/dev/null"] });
      shells.push(sh);
      await sh.expect(/attached to cluster test/);
      // a unique prefix completes in place: "cou" -> "counter" (module counter, names counter:n1, counter:n2)
      sh.type('whereis("cou');
      await sh.expect(/whereis\("cou/);
      sh.type("\t");
      // readline writes only the completed rest of the word
      await sh.expect(/^nter/);
      await sh.tabUntil(/counter:n1\s+counter:n2/);
      sh.type("\u0015");
      sh.type('spawn("n');
      await sh.expect(/spawn\("n/);
      await sh.tabUntil(/n1\s+n2/);
      sh.type("\u0015.exit\r");
    });

    test("a call waiting on a node that dies fails at once with nodedown, not at its timeout, and the shell goes on", async () => {
      const sh = await openShell();
      const before = await handledBy(server, "n2", "replier:n2");
      sh.line('call("replier:n2", { type: "hang" }, 600000)');
      // the call must be out, held by the replier, when the node is killed; it must not wait its ten minutes
      await waitUntil(async () => (await handledBy(server, "n2", "replier:n2")) > before, "the call never reached the replier");
      const back = nextEvent<string>(server.coordinator, "nodeStarted", (n) => n === "n2", 20_000);
      server.launcher.kill("n2");
      await sh.expect(/(nodedown|noconnection): .*n2/);
      await back;
      sh.line("1 + 41");
      await sh.expect(/\b42\b/);
    });

    test("the shell's own pid is made again on a node that restarted: flush() works, not noproc", async () => {
      const sh = await openShell(["--node", "n2"]);
      sh.line("self()");
      const first = (await sh.expect(/<n2\.\d+(?:\.\d+)?>/)).trim();
      const back = nextEvent<string>(server.coordinator, "nodeStarted", (n) => n === "n2", 20_000);
      server.launcher.kill("n2");
      await back;
      sh.line("flush()");
      await sh.expect(/\[\]/);
      sh.line("self()");
      const second = (await sh.expect(/<n2\.\d+(?:\.\d+)?>/)).trim();
      assert.notEqual(second, first);
    });

    test("the shell outlives a node that is killed and restarted", async () => {
      const sh = await openShell();
      const back = nextEvent<string>(server.coordinator, "nodeStarted", (n) => n === "n2", 20_000);
      server.launcher.kill("n2");
      await back;
      sh.line('call("counter:n2", { type: "get" })');
      await sh.expect(/^0$|\b0\b/m);
    });
  });
});

describe("a shell whose coordinator goes away", () => {
  test("says so, and reconnects when the cluster comes back", () =>
    withShellCluster(async (ctx) => {
      await ctx.server.close();
      await ctx.sh.expect(/the coordinator went away/);
      ctx.sh.line("nodes()");
      await ctx.sh.expect(/not_running: no cluster is running/);
      ctx.server = await DevServer.start({ configPath: ctx.project.configPath, logFormat: "json", out: new LogCapture() });
      await ctx.server.ready();
      await ctx.sh.expect(/reconnected: the cluster is back/);
      ctx.sh.line("nodes()");
      await ctx.sh.expect(/\[ 'n1' \]/);
    }));
});

describe("a shell with a request in flight when the cluster stops", () => {
  test("answers that line with the reason instead of hanging, and .exit still leaves", () =>
    withShellCluster(async ({ server, sh }) => {
      sh.line('call("replier:n1", { type: "hang" }, 600000)');
      // the request must have reached the replier (it keeps calls unanswered) before the cluster goes
      await waitUntil(async () => (await handledBy(server, "n1", "replier:n1")) >= 1, "the call never reached the replier");
      await server.close();
      await sh.expect(/(shutdown|disconnected|nodedown): /);
      sh.line(".exit");
      await new Promise((resolve) => sh.child.once("exit", resolve));
    }));
});

describe("a shell that is killed", () => {
  test("leaves no mailbox process behind: it ends itself when its shell is gone", async () => {
    const saved = process.env.DEVCLUSTER_SHELL_IDLE_MS;
    process.env.DEVCLUSTER_SHELL_IDLE_MS = "300";
    try {
      await withShellCluster(async ({ server, sh }) => {
        sh.line("self()");
        const pid = (await sh.expect(/<n1\.\d+>/)).trim();
        const mailboxes = async (): Promise<string[]> =>
          ((await server.coordinator.nodeRequest("n1", { op: "ps" })) as { pid: { toString(): string }; module: string }[])
            .filter((p) => p.module === "devcluster/shell")
            .map((p) => p.pid.toString());
        assert.deepEqual(await mailboxes(), [pid]);
        sh.child.kill("SIGKILL");
        await waitUntil(async () => (await mailboxes()).length === 0, "the mailbox of a killed shell is still there", 15_000, 100);
      });
    } finally {
      if (saved === undefined) delete process.env.DEVCLUSTER_SHELL_IDLE_MS;
      else process.env.DEVCLUSTER_SHELL_IDLE_MS = saved;
    }
  });
});
