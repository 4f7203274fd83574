import assert from "node:assert/strict";
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../../cli/dev/devServer";
import { describeError } from "../../cli/shell/eval";
import { CLI, cli, makeProject, startCluster, type Project } from "../helpers/cluster";
import { ShellDriver, handledBy, waitUntil } from "../helpers/shell";
import { shellProject } from "../helpers/shellFixtures";

/**
 * The shell never dies on a typo, and every command tells the truth: each
 * rule is checked with the shell reading a pipe and in a real terminal.
 */
describe("every line of the shell ends, whatever it does", () => {
  let project: Project;
  let server: DevServer;
  let scratch: string;
  const shells: ShellDriver[] = [];

  before(async () => {
    project = makeProject(shellProject(), { nodes: 1 });
    scratch = mkdtempSync(path.join(tmpdir(), "devcluster-shell-"));
    ({ server } = await startCluster(project));
  });

  after(async () => {
    for (const s of shells) await s.close();
    await server?.close();
    project?.cleanup();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  /** A shell reading a pipe, or one in a terminal; `enter` is the key that ends a line there. */
  const modes = [
    { name: "piped", enter: "\n", open: (): ShellDriver => new ShellDriver(project.dir) },
    { name: "in a terminal", enter: "\r", open: (): ShellDriver => ShellDriver.inTerminal(project.dir) },
  ];

  for (const mode of modes) {
    const open = async (): Promise<ShellDriver & { enter(line: string): void }> => {
      const sh = mode.open();
      shells.push(sh);
      await sh.ready();
      return Object.assign(sh, { enter: (line: string) => sh.type(line + mode.enter) });
    };

    describe(`a shell ${mode.name}`, () => {
      test("rule 1: a line that throws is an answer; the next lines run and .exit leaves", async () => {
        const sh = await open();
        sh.enter("nodes()");
        await sh.expect(/\[ 'n1' \]/);
        sh.enter('throw new Error("x")');
        await sh.expect(/Error: x\n/);
        sh.enter("1+1");
        await sh.expect(answer(2));
        sh.enter("nodez()");
        await sh.expect(/ReferenceError: nodez is not defined\n/);
        sh.enter('await call("<n1.999999>", 1)');
        await sh.expect(/noproc: process <n1\.999999> is not alive/);
        sh.enter("40+2");
        await sh.expect(answer(42));
        sh.enter(".exit");
        // rule 2: a script with failed lines says so; a person at a terminal leaves with 0
        assert.equal(await sh.exitCode(), mode.name === "piped" ? 1 : 0);
      });

      test("rule 1: declarations made with top-level await persist across lines, also after a failed line", async () => {
        const sh = await open();
        sh.enter('const sum = await rpc("n1", "util", "add", 2, 3)');
        sh.enter("nope.x");
        await sh.expect(/ReferenceError: nope is not defined/);
        sh.enter("sum * 10");
        await sh.expect(answer(50));
      });

      test("rule 3: the same Node globals as --eval", async () => {
        const sh = await open();
        sh.enter(GLOBALS);
        await sh.expect(new RegExp(`'${EXPECTED_GLOBALS}'`));
      });

      test("rule 4: .clear forgets the user's variables and keeps every helper", async () => {
        const sh = await open();
        sh.enter("let mine = 7");
        sh.enter("mine + 1");
        await sh.expect(answer(8));
        sh.enter(".clear");
        await sh.expect(/Clearing context/);
        sh.enter("typeof mine");
        await sh.expect(/'undefined'/);
        sh.enter("[typeof call, typeof ps, typeof nodes].join()");
        await sh.expect(/'function,function,function'/);
        sh.enter("nodes()");
        await sh.expect(/\[ 'n1' \]/);
      });

      if (mode.name === "piped") {
        test("issue 22: a script's shell prints no banner and no prompt, only answers", async () => {
          const sh = await open();
          sh.enter("{");
          sh.enter("  a: 1 }");
          await sh.expect(/\{ a: 1 \}\n/);
          assert.equal(sh.output, "'attached'\n{ a: 1 }\n");
        });
      } else {
        test("rule 4: the banner comes before the first prompt", async () => {
          const sh = await open();
          await sh.expect(/test> /);
          const out = sh.output;
          assert.ok(out.indexOf("attached to cluster test") < out.indexOf("test> "), out);
        });
      }

      for (const awaited of [false, true]) {
        test(`rule 4: Ctrl-C abandons a pending line${awaited ? " (awaited)" : ""}, the prompt comes back and later lines run`, async () => {
          const sh = await open();
          const before = await handledBy(server, "n1", "replier:n1");
          sh.enter(`${awaited ? "await " : ""}call("replier:n1", { type: "hang" }, 600000)`);
          await waitUntil(async () => (await handledBy(server, "n1", "replier:n1")) > before, "the call never reached the replier");
          if (mode.name === "piped") sh.child.kill("SIGINT");
          else sh.type("\x03");
          await sh.expect(mode.name === "piped" ? /interrupted: the line was abandoned.*\n/ : /interrupted: the line was abandoned.*\ntest> /);
          sh.enter("1+1");
          await sh.expect(answer(2));
        });
      }

      test("rule 5: errors are one line with their code, without the REPL's frames", async () => {
        const sh = await open();
        if (mode.name === "piped") {
          // No prompt ends an answer here: each error is a line of stderr, and nothing else is.
          sh.enter("nodez()");
          sh.enter('await call("<n1.999999>", 1)');
          sh.enter('rpc("n1", "util", "fails")');
          await waitUntil(async () => /util\.fails/.test(sh.errors), "the third error never came");
          const [typo, noproc, ...user] = sh.errors.trimEnd().split("\n");
          assert.equal(typo, "ReferenceError: nodez is not defined");
          assert.equal(noproc, "noproc: process <n1.999999> is not alive (it lived on node n1)");
          assert.match(user.join("\n"), /^Error: util\.fails on purpose(\n {4}at .*\.ts:\d+:\d+\))*$/);
          return;
        }
        sh.enter("nodez()");
        const typo = await sh.expect(/ReferenceError[\s\S]*?test> /);
        assert.equal(typo.replace(/test> $/, "").trim(), "ReferenceError: nodez is not defined");
        sh.enter('await call("<n1.999999>", 1)');
        const noproc = await sh.expect(/noproc[\s\S]*?test> /);
        assert.equal(noproc.replace(/test> $/, "").trim(), "noproc: process <n1.999999> is not alive (it lived on node n1)");
        sh.enter('rpc("n1", "util", "fails")');
        const user = await sh.expect(/Error: util\.fails[\s\S]*?test> /);
        assert.doesNotMatch(user, /Uncaught|ContextifyScript|domain|node:|[/\\]dist[/\\]/);
        assert.match(user, /^Error: util\.fails on purpose\n/);
      });
    });
  }

  describe("a terminal session", () => {
    test("rule 1: Ctrl-D leaves after a line that threw, with exit code 0", async () => {
      const sh = ShellDriver.inTerminal(project.dir);
      shells.push(sh);
      await sh.expect(/attached to cluster test/);
      sh.type('throw new Error("x")\r');
      await sh.expect(/Error: x\n/);
      sh.type("\x04");
      assert.equal(await sh.exitCode(), 0);
    });
  });

  describe("a piped shell (a script)", () => {
    /** `devcluster shell < file`: what it printed and its exit code. */
    const runScript = async (lines: string[]): Promise<{ code: number | null; output: string }> => {
      const file = path.join(scratch, `script-${Math.random().toString(36).slice(2)}.txt`);
      writeFileSync(file, lines.join("\n") + "\n");
      const fd = openSync(file, "r");
      try {
        const sh = new ShellDriver(project.dir, [], { file: process.execPath, args: [CLI, "shell"], stdin: fd });
        shells.push(sh);
        const code = await sh.exitCode();
        return { code, output: sh.output };
      } finally {
        closeSync(fd);
      }
    };

    test("rule 1 and 2: the issue's sequence answers every line and exits 1 at end of input", async () => {
      const sh = new ShellDriver(project.dir);
      shells.push(sh);
      sh.type('nodes()\nthrow new Error("x")\n1+1\n');
      sh.child.stdin!.end();
      assert.equal(await sh.exitCode(), 1);
      // answers on stdout, the error on stderr: each stream in its own order
      assert.equal(sh.output.replace(sh.errors, ""), "[ 'n1' ]\n2\n");
      assert.equal(sh.errors, "Error: x\n");
    });

    test("rule 2: `shell < script.txt` exits 0 when every line succeeded", async () => {
      const r = await runScript(["nodes()", 'const x = await rpc("n1", "util", "add", 1, 2)', "x + 1", "{", "  a: 1 }"]);
      assert.equal(r.output, "[ 'n1' ]\n4\n{ a: 1 }\n");
      assert.equal(r.code, 0, r.output);
    });

    test("rule 2: `shell < script.txt` exits 1 when a line threw", async () => {
      const r = await runScript(["nodez()", "1+1"]);
      assert.match(r.output, /ReferenceError: nodez is not defined\n/);
      assert.match(r.output, answer(2));
      assert.equal(r.code, 1, r.output);
    });

    test("rule 2: `shell < script.txt` exits 1 when an await rejected", async () => {
      const r = await runScript(['await call("<n1.999999>", 1)', "1+1"]);
      assert.match(r.output, /noproc: /);
      assert.match(r.output, answer(2));
      assert.equal(r.code, 1, r.output);
    });
  });

  describe("--eval", () => {
    test("rule 3: has the interactive shell's Node globals", async () => {
      const r = await cli(["shell", "--eval", GLOBALS], project.dir);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stdout.trim(), `'${EXPECTED_GLOBALS}'`);
    });

    test("rule 5: an error is one line on stderr", async () => {
      const r = await cli(["shell", "--eval", "nodez()"], project.dir);
      assert.equal(r.code, 1);
      assert.equal(r.stderr, "ReferenceError: nodez is not defined\n");
    });
  });
});

/** A value printed as the answer to a line (after the prompt or the echoed line). */
const answer = (v: number): RegExp => new RegExp(`(^|[^\\w.])${v}\\n`);
const GLOBALS = "[setTimeout, process, Buffer, URL, require, require('node:path').join, structuredClone].map((g) => typeof g).join()";
const EXPECTED_GLOBALS = "function,object,function,function,function,function,function";

describe("rule 5: describeError", () => {
  test("keeps the user's .ts frames and drops node internals and the compiled runtime", () => {
    const err = Object.assign(new Error("room is full"), { code: "room_full" });
    err.stack = [
      "Error: room is full",
      "    at Room.join (/home/me/chat/src/room.ts:14:11)",
      "    at handleCall (/home/me/chat/src/lobby.ts:30:5)",
      "    at Proc.dispatch (/home/me/chat/node_modules/devcluster/dist/runtime/process/proc.js:120:20)",
      "    at /work/devcluster/dist/runtime/node/node.js:88:9",
      "    at node:internal/process/task_queues:95:5",
      "    at ContextifyScript.runInContext (node:vm:149:12)",
    ].join("\n");
    assert.equal(
      describeError(err),
      ["room_full: room is full", "    at Room.join (/home/me/chat/src/room.ts:14:11)", "    at handleCall (/home/me/chat/src/lobby.ts:30:5)"].join("\n"),
    );
  });

  test("an error without a code reads Name: message; a thrown value is shown as such", () => {
    assert.equal(describeError(new TypeError("nope")), "TypeError: nope");
    assert.equal(describeError(Object.assign(new Error("plain"), { code: "error" })), "Error: plain");
    assert.equal(describeError(42), "thrown: 42");
  });
});
