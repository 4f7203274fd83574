import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { EventEmitter, once } from "node:events";
import { readFileSync, statSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { DevServer } from "../../cli/dev/devServer";
import type { LogRecord } from "../../cli/dev/logs";
import type { Pid } from "../../wire/pid";
import { CLI, LogCapture, cli, cliClusterPerSuite, makeProject, type Project } from "../helpers/cluster";

// The issue "every command tells the truth", its logs half: rules 6, 7, 13 and 14, each on real nodes.

const APP = `
import { spawn, register, type StartContext } from "devcluster";
// Imported so each node loads them: a node evaluates only what its entry reaches (docs/design.md §4.5).
import "./keeper";
import "./bad";
export async function start(ctx: StartContext) {
  console.log("hello from " + ctx.node);
  console.error("warn from " + ctx.node);
  console.log(JSON.stringify({ level: 30, time: 1, msg: "a user's own json" }));
  const pid = await spawn(ctx.node, "counter", { start: 0 });
  await register("counter:" + ctx.node, pid);
}
`;

/** A state holding a socket: the crash log must not dump it. */
const COUNTER = (step: number): string => `
import { Socket } from "node:net";
export function init(args: { start: number }) { return { count: args.start, sock: new Socket() }; }
export function handleCall(msg: { type: string }, _from: unknown, state: { count: number }) {
  if (msg.type === "boom") throw new Error("boom on purpose");
  return { reply: state.count + ${step}, state };
}
export function handleCast(_msg: unknown, state: unknown) { return state; }
`;

/** Once v2 has loaded, v1 refuses to load again: a rollback that every node refuses. */
const KEEPER_V1 = `
import { hot } from "devcluster";
if (hot.data.v2) throw new Error("v1 cannot come back");
export const v = 1;
`;
const KEEPER_V2 = `
import { hot } from "devcluster";
hot.data.v2 = true;
export const v = 2;
`;

const files = (): Record<string, string> => ({
  "src/app.ts": APP,
  "src/counter.ts": COUNTER(0),
  "src/keeper.ts": KEEPER_V1,
  "src/bad.ts": "export const x = 1;\n",
});

const record = (line: string): LogRecord => JSON.parse(line) as LogRecord;

describe("up's log and devcluster logs, with `up --log-format json` as a child process", () => {
  const suite = cliClusterPerSuite(files);

  test("rule 6: every line of --log-format json is JSON with the node's name, user output included", async () => {
    await suite.up.logs.waitFor(/hello from n2/);
    await suite.up.logs.waitFor(/warn from n1/);
    const records = suite.up.logs.lines.map((l) => {
      assert.doesNotThrow(() => JSON.parse(l), `not JSON: ${l}`);
      return record(l);
    });
    for (const r of records) assert.match(String(r.node), /^(up|n1|n2)$/, JSON.stringify(r));
    const hello = records.find((r) => r.msg === "hello from n2")!;
    assert.equal(hello.node, "n2");
    assert.equal(hello.stream, "stdout");
    const warn = records.find((r) => r.msg === "warn from n1")!;
    assert.equal(warn.node, "n1");
    assert.equal(warn.stream, "stderr");
    // a user's own JSON line is user output of its node, not taken for a log record
    const own = records.filter((r) => r.msg.includes("a user's own json"));
    assert.deepEqual(own.map((r) => [r.node, r.stream]).sort(), [
      ["n1", "stdout"],
      ["n2", "stdout"],
    ]);
  });

  test("rule 7: every transaction is one line in up's log with its source and result (save, cli, shell; a refused rollback says rollback)", async () => {
    const line = (source: string, re: RegExp): Promise<LogRecord> => suite.up.logs.waitFor(new RegExp(`"msg":"${source}: ${re.source}`)).then((l) => record(l));
    suite.project.write("src/keeper.ts", KEEPER_V2);
    const saved = await line("save", /reloaded keeper@/);
    assert.equal(saved.source, "save");
    assert.equal(saved.ok, true);

    suite.project.write("src/counter.ts", COUNTER(1));
    const r = await cli(["reload", "counter"], suite.project.dir);
    assert.equal(r.code, 0, r.stderr);
    const fromCli = await line("cli", /reloaded counter@[0-9a-f]{8} on 2 nodes/);
    assert.equal(fromCli.source, "cli");
    const back = await cli(["rollback", "counter"], suite.project.dir);
    assert.equal(back.code, 0, back.stderr);
    const rolledBack = await line("cli", /rolled back to counter@/);
    assert.equal(rolledBack.rollback, true);

    const refused = await cli(["shell", "--eval", 'rollback("keeper")'], suite.project.dir);
    assert.match(refused.stdout + refused.stderr, /rollback of keeper@\w+ aborted/);
    const shell = await line("shell", /rollback of keeper@[0-9a-f]{8} aborted: no node switched; n1, n2: eval_failed: /);
    assert.equal(shell.ok, false);
    assert.equal(shell.level, 50);
    assert.ok(!suite.up.logs.lines.some((l) => /reload of keeper@\S+ aborted|reload aborted/.test(l)), "a refused rollback never logs as a reload");
    // one line per transaction: the rollback was logged once
    assert.equal(suite.up.logs.lines.filter((l) => /"msg":"shell: rollback of keeper/.test(l)).length, 1);
  });

  test("rule 14: devcluster logs [node] [--level] prints what up kept; the files are private", async () => {
    const n1 = await cli(["logs", "n1"], suite.project.dir);
    assert.equal(n1.code, 0, n1.stderr);
    assert.match(n1.stdout, /^n1\s+\| hello from n1$/m);
    for (const l of n1.stdout.trimEnd().split("\n")) assert.match(l, /^n1\s+\| /);

    const warn = await cli(["logs", "--level", "warn", "--json"], suite.project.dir);
    assert.equal(warn.code, 0, warn.stderr);
    const recs = warn.stdout.trimEnd().split("\n").map(record);
    assert.ok(recs.length > 0);
    for (const r of recs) assert.ok(r.level >= 40, JSON.stringify(r));
    assert.ok(recs.some((r) => r.msg === "warn from n2"));
    assert.ok(!recs.some((r) => r.msg.startsWith("hello from")));

    const bad = await cli(["logs", "n1", "--level", "loud"], suite.project.dir);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /unknown log level loud/);
    const nobody = await cli(["logs", "n9"], suite.project.dir);
    assert.notEqual(nobody.code, 0);
    assert.match(nobody.stderr, /no log for n9 \(logs: up, n1, n2\)/);

    const dir = path.join(suite.project.dir, ".devcluster", "logs");
    assert.equal(statSync(path.dirname(dir)).mode & 0o777, 0o700);
    assert.equal(statSync(dir).mode & 0o777, 0o700);
    for (const n of ["up", "n1", "n2"]) assert.equal(statSync(path.join(dir, `${n}.log`)).mode & 0o777, 0o600, `${n}.log`);
    await suite.up.logs.waitFor(/hello from n1/);
    const lines = readFileSync(path.join(dir, "n1.log"), "utf8").trimEnd().split("\n").map(record);
    assert.ok(lines.some((r) => r.msg === "hello from n1"));
  });

  test("rule 14: logs(node, n) in the shell gives the last n lines of that node", async () => {
    const r = await cli(["shell", "--json", "--eval", 'logs("n2", 2)'], suite.project.dir);
    assert.equal(r.code, 0, r.stderr);
    const recs = JSON.parse(r.stdout) as LogRecord[];
    assert.equal(recs.length, 2);
    for (const x of recs) assert.equal(x.node, "n2");
    const text = await cli(["shell", "--eval", 'logs("n2", 50)'], suite.project.dir);
    assert.match(text.stdout, /^n2\s+\| hello from n2$/m);
    const help = await cli(["shell", "--eval", "1"], suite.project.dir);
    assert.equal(help.code, 0);
  });

  test("rule 14: logs -f follows a line logged after it started, until Ctrl-C", async () => {
    const child = spawn(process.execPath, [CLI, "logs", "n1", "-f"], { cwd: suite.project.dir, stdio: ["ignore", "pipe", "pipe"] });
    // One listener for the child's whole life: output that arrives between two waits is kept, not dropped.
    let out = "";
    const printed = new EventEmitter();
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      printed.emit("data");
    });
    const seen = (re: RegExp, ms = 15_000): Promise<void> =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          if (!re.test(out)) return;
          clearTimeout(timer);
          printed.off("data", check);
          resolve();
        };
        const timer = setTimeout(() => {
          printed.off("data", check);
          reject(new Error(`logs -f printed no ${re} within ${ms} ms; got:\n${out}`));
        }, ms);
        printed.on("data", check);
        check();
      });
    try {
      await seen(/hello from n1/); // the recent lines: it is running
      assert.doesNotMatch(out, /followed after start/);
      const r = await cli(["shell", "--eval", 'evalOn("n1", "console.log(\'followed after start\')")'], suite.project.dir);
      assert.equal(r.code, 0, r.stderr);
      await seen(/^n1\s+\| followed after start$/m);
      const exited = once(child, "exit");
      child.kill("SIGINT");
      const [code] = (await exited) as [number | null];
      assert.equal(code, 0);
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    }
  });
});

describe("up's pretty log on 3 nodes: compact errors, prefixed user output (rule 13, rule 6's pretty half)", () => {
  let project: Project;
  let server: DevServer;
  let logs: LogCapture;

  before(async () => {
    project = makeProject(files(), { nodes: 3 });
    logs = new LogCapture();
    server = await DevServer.start({ configPath: project.configPath, logFormat: "pretty", out: logs });
    await server.ready(30_000);
  });

  after(async () => {
    await server?.close();
    project?.cleanup();
  });

  test("rule 6: in pretty mode user output carries its node's prefix", async () => {
    for (const n of ["n1", "n2", "n3"]) await logs.waitFor(new RegExp(`^${n}\\s+\\| hello from ${n}$`));
  });

  test("rule 13: an error at load is one line per node plus one summary line, with no runtime frames", async () => {
    project.write("src/bad.ts", 'export const x = 1;\nthrow new Error("bad at load");\n');
    await logs.waitFor(/^up\s+\| .*ERROR: save: reload of bad@\w+ aborted: no node switched; n1, n2, n3: eval_failed: .*bad at load/);
    for (const n of ["n1", "n2", "n3"]) await logs.waitFor(new RegExp(`^${n}\\s+\\| .*prepare failed: eval_failed: .*bad at load`));
    const about = logs.lines.filter((l) => /bad at load/.test(l));
    const summaries = about.filter((l) => /^up\s/.test(l)).length;
    assert.equal(about.length, summaries * 4, about.join("\n"));
    // nothing but record lines: no err objects, frames or cause text under them
    for (const l of logs.lines) assert.match(l, /^(up|n1|n2|n3)\s+\| (\[\d\d:\d\d:\d\d\.\d{3}\] |hello from|warn from|\{"level")/, l);
    assert.ok(!logs.lines.some((l) => /dist\/runtime|node:internal/.test(l)));
  });

  test("rule 13: a crash log shows the state truncated, the user's frames only and the source line under them", async () => {
    const ps = (await server.coordinator.nodeRequest("n2", { op: "ps" })) as { pid: Pid; module: string }[];
    const pid = ps.find((p) => p.module === "counter")!.pid;
    await assert.rejects(server.coordinator.nodeRequest("n2", { op: "call", pid, msg: { type: "boom" } }), /boom on purpose/);
    const head = await logs.waitFor(/^n2\s+\| .*ERROR: process crashed: Error: boom on purpose/);
    assert.match(head, /"state":"\{ count: 0, sock: \[Socket\] \}"/);
    const at = logs.lines.indexOf(head);
    const lineNo =
      COUNTER(0)
        .split("\n")
        .findIndex((l) => l.includes("boom on purpose")) + 1;
    await logs.waitFor(/\|\s+\^$/);
    const under = logs.lines.slice(at + 1, at + 5).map((l) => l.replace(/^n2\s+\| /, ""));
    assert.match(under[0]!, new RegExp(`^    at handleCall \\(.*src/counter\\.ts:${lineNo}:\\d+\\)$`));
    assert.match(under[1]!, new RegExp(`^src/counter\\.ts:${lineNo}:\\d+$`));
    assert.match(under[2]!, new RegExp(`^\\s+${lineNo} \\|\\s+if \\(msg.type === "boom"\\) throw new Error\\("boom on purpose"\\);$`));
    assert.match(under[3]!, /^\s+\|\s+\^$/);
    // the record up keeps (and logs --json prints) has the same stack: the user's frames only
    const kept = (await server.logStore.query({ node: "n2", level: "error" })).lines.find((r) => r.msg === "process crashed")!;
    const err = kept.err as { stack: string; source: string };
    assert.deepEqual(err.stack.split("\n").filter((l) => /^\s+at /.test(l)).length, 1, err.stack);
    assert.ok(!/dist\/runtime|node:/.test(err.stack), err.stack);
  });
});
