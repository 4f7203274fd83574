import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { describe, test } from "node:test";
import { CLI, cli, cliUp, makeProject, stopChild } from "../helpers/cluster";

// Issue 22, item 3: `devcluster logs -f` ends when the cluster stops, with exit code 0, instead of waiting out
// its request's deadline and failing with "the coordinator did not answer".

const files = (): Record<string, string> => ({
  "src/app.ts": `export function start(ctx: { node: string }) { console.log("hello from " + ctx.node); }\n`,
});

/** `devcluster logs -f` as a second terminal runs it: what it printed, and a promise of its exit code. */
function follow(dir: string): { child: ChildProcess; out: () => string; err: () => string; printed(re: RegExp): Promise<void>; exit: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, "logs", "-f"], { cwd: dir, stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  let err = "";
  const waiters: (() => void)[] = [];
  child.stdout!.on("data", (d: Buffer) => ((out += d.toString()), waiters.splice(0).forEach((w) => w())));
  child.stderr!.on("data", (d: Buffer) => (err += d.toString()));
  const exit = once(child, "exit").then(([code]) => code as number | null);
  const printed = (re: RegExp): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`logs -f printed no ${re} within 15 s; got:\n${out}`)), 15_000);
      const check = (): void => (re.test(out) ? (clearTimeout(timer), resolve()) : void waiters.push(check));
      check();
    });
  return { child, out: () => out, err: () => err, printed, exit };
}

/** The exit code, or a failure naming what it printed when it is still running after `ms` (a deadline, not a sleep). */
async function exitWithin(f: ReturnType<typeof follow>, ms: number): Promise<number | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<"running">((resolve) => (timer = setTimeout(() => resolve("running"), ms)));
  const code = await Promise.race([f.exit, late]);
  clearTimeout(timer);
  if (code === "running") throw new Error(`logs -f still runs ${ms} ms after the cluster stopped; stdout:\n${f.out()}\nstderr:\n${f.err()}`);
  return code;
}

describe("devcluster logs -f when the cluster goes away", () => {
  for (const how of ["devcluster stop", "up killed"] as const) {
    test(`after ${how}, logs -f says the cluster stopped and exits 0`, async () => {
      const project = makeProject(files(), { nodes: 2 });
      const up = cliUp(project.dir);
      let f: ReturnType<typeof follow> | undefined;
      try {
        await up.logs.waitFor(/cluster test ready/, 30_000);
        f = follow(project.dir);
        await f.printed(/hello from n2/);
        if (how === "devcluster stop") {
          const r = await cli(["stop"], project.dir);
          assert.equal(r.code, 0, r.stderr);
        } else {
          // No goodbye at all: the follower's request is out to a coordinator that will never answer it.
          up.child.kill("SIGKILL");
        }
        // Well inside the follow request's own deadline (15 s), which is what it used to wait out.
        assert.equal(await exitWithin(f, 8_000), 0, f.err());
        assert.match(f.err(), /the cluster stopped\n$/);
        assert.doesNotMatch(f.err(), /did not answer/);
      } finally {
        if (f && f.child.exitCode === null && f.child.signalCode === null) f.child.kill("SIGKILL");
        await stopChild(up.child, 10_000);
        project.cleanup();
      }
    });
  }
});
