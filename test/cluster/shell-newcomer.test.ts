import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../../cli/dev/devServer";
import { CLI, cli, cliUp, makeProject, startCluster, stopChild, type Project } from "../helpers/cluster";
import { ShellDriver } from "../helpers/shell";
import { shellProject } from "../helpers/shellFixtures";

// Issue 22, item 2: the shell as a newcomer meets it, piped and in a terminal.

describe("the shell a newcomer meets", () => {
  let project: Project;
  let server: DevServer;
  const shells: ShellDriver[] = [];

  before(async () => {
    project = makeProject(shellProject(), { nodes: 1 });
    ({ server } = await startCluster(project));
  });

  after(async () => {
    for (const s of shells) await s.close();
    await server?.close();
    project?.cleanup();
  });

  /** `printf '<lines>' | devcluster shell`: stdout, stderr and the exit code, each on its own. */
  const piped = async (lines: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> => {
    const child = spawn(process.execPath, [CLI, "shell"], { cwd: project.dir, stdio: ["pipe", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    child.stdin.end(lines.join("\n") + "\n");
    const [code] = (await once(child, "exit")) as [number | null];
    clearTimeout(timer);
    return { code, stdout, stderr };
  };

  test("piped: answers on stdout, errors on stderr, and no banner or prompt", async () => {
    const r = await piped(["nodes()", "nodez()", "{", "  a: 1 }", '"last"']);
    assert.equal(r.stdout, "[ 'n1' ]\n{ a: 1 }\n'last'\n");
    assert.equal(r.stderr, "ReferenceError: nodez is not defined\n");
    assert.equal(r.code, 1, "a script with a failed line exits 1");
  });

  test("piped: a request still out when the input ends is awaited, and its answer comes instead of 'disconnected'", async () => {
    // `void` leaves the promise to itself: the line ends at once, the input ends, and the answer comes later
    const r = await piped(['void evalOn("n1", "await new Promise((r) => setTimeout(r, 300)); 42").then((v) => console.log("late answer", v))']);
    assert.equal(r.stderr, "");
    assert.equal(r.stdout, "late answer 42\n");
    assert.equal(r.code, 0);
  });

  test("self() is a pid to every helper that takes one, without await: call(self(), ...), send, processInfo", async () => {
    const r = await piped(["send(self(), { hi: 1 })", "flush()", "(await processInfo(self())).module", 'await call(self(), "ping", 200).catch((e) => e.code)']);
    assert.equal(r.stderr, "");
    assert.equal(r.stdout, "{ hi: 1 }\n[ { hi: 1 } ]\n'devcluster/shell'\n'timeout'\n");
  });

  test("suspend(pid) holds a process's messages in its mailbox until resume(pid)", async () => {
    const r = await piped([
      'suspend("counter:n1")',
      'cast("counter:n1", { type: "incr", by: 7 })',
      'ps("n1").then((t) => t.rows.find((p) => p.names.includes("counter:n1"))).then((p) => [p.status, p.mailbox])',
      'resume("counter:n1")',
      'await call("counter:n1", { type: "get" })',
    ]);
    assert.equal(r.stderr, "");
    const [suspended, cast, row, resumed, count] = r.stdout.trimEnd().split("\n");
    assert.match(suspended!, /^<n1\.\d+> suspended: its messages wait in its mailbox until resume\("<n1\.\d+>"\)$/);
    assert.equal(cast, "true");
    assert.equal(row, "[ 'suspended', 1 ]");
    assert.match(resumed!, /^<n1\.\d+> resumed$/);
    assert.equal(count, "7");
  });

  test("evalOn's syntax error names the user's code, not the wrapper it runs in", async () => {
    const r = await cli(["shell", "--eval", 'evalOn("n1", "1 +")'], project.dir);
    assert.equal(r.code, 1);
    assert.equal(r.stderr, "syntax_error: evalOn n1: SyntaxError: Unexpected end of input at 1:4 of the code: 1 +\n");
  });

  test("in a terminal, a trace event prints above the prompt, which comes back with what was typed so far", async () => {
    const sh = ShellDriver.inTerminal(project.dir);
    shells.push(sh);
    await sh.ready();
    sh.type('trace("counter:n1", { count: 1 })\r');
    await sh.expect(/tracing messages of <n1\.\d+> \(counter:n1\)[^\n]*\n/);
    await sh.expect(/test> $/m);
    sh.type("20 +");
    await sh.expect(/20 \+/);
    const r = await cli(["shell", "--eval", 'cast("counter:n1", { type: "incr" })'], project.dir);
    assert.equal(r.code, 0, r.stderr);
    const event = await sh.expect(/\(shell\) -> <n1\.\d+> cast: \{ type: 'incr' \}\n[\s\S]*?test> 20 \+/);
    assert.doesNotMatch(event, /test> 20 \+[^\n]*\(shell\)/, "the event was written into the typed line");
    sh.type(" 22\r");
    await sh.expect(/\n42\n/);
  });
});

describe("a script's shell whose coordinator dies while a request is still out", () => {
  test("ends with that request failed as disconnected, not at the request's own deadline", async () => {
    const project = makeProject(shellProject(), { nodes: 1 });
    const up = cliUp(project.dir);
    try {
      await up.logs.waitFor(/cluster test ready/, 30_000);
      const sh = new ShellDriver(project.dir);
      try {
        sh.line('void call("replier:n1", { type: "hang" }, 600000).catch((e) => console.log("answered:", e.code))');
        await sh.ready();
        sh.child.stdin!.end();
        // No goodbye: the call is out to a coordinator that will never answer it, and would wait its ten minutes.
        up.child.kill("SIGKILL");
        await sh.exitCode(10_000);
        // disconnected when the call was out; not_running when the kill came while the shell still looked up the name
        // (the next request then finds the coordinator gone): either way at once, not at the call's deadline.
        assert.match(sh.output, /answered: (disconnected|not_running)\n/);
      } finally {
        await sh.close();
      }
    } finally {
      await stopChild(up.child, 10_000);
      project.cleanup();
    }
  });
});
