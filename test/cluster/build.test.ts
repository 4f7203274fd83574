import assert from "node:assert/strict";
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { describe, test } from "node:test";
import { cliUp, makeProject, stopChild } from "../helpers/cluster";

// Issue 22, item 1: no install and no command rebuilds a dist/ that a cluster runs from, and installing
// (`npx devcluster` in the checkout, `npm install ../devcluster` in a project: both run `prepare`) builds
// nothing already built.

const ROOT = path.join(__dirname, "..", "..", "..");

function run(file: string, args: string[], cwd: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { cwd, timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

const mtime = (file: string): number => statSync(file).mtimeMs;

/**
 * A checkout in miniature: scripts/build.js with sources and a built dist/, so the script's choices are seen without
 * running tsc (a stale dist/ that nothing uses would be built, and tsc is not there: that shows as a failure).
 */
function miniCheckout(): { dir: string; touchSource(): void; cleanup(): void } {
  const dir = mkdtempSync(path.join(tmpdir(), "devcluster-build-"));
  cpSync(path.join(ROOT, "scripts", "build.js"), path.join(dir, "scripts", "build.js"));
  mkdirSync(path.join(dir, "cli"), { recursive: true });
  writeFileSync(path.join(dir, "cli", "main.ts"), "export {};\n");
  writeFileSync(path.join(dir, "tsconfig.json"), "{}\n");
  mkdirSync(path.join(dir, "dist", "cli"), { recursive: true });
  writeFileSync(path.join(dir, "dist", "cli", "main.js"), "setInterval(() => {}, 1000);\n");
  writeFileSync(path.join(dir, "dist", ".built"), "\n");
  const past = new Date(Date.now() - 60_000);
  for (const f of ["cli/main.ts", "cli", "tsconfig.json", "."]) utimesSync(path.join(dir, f), past, past);
  // Built after its sources and well before any save the test makes: a save in the same clock tick as the build would
  // not read as newer (seen in CI).
  const built = new Date(Date.now() - 30_000);
  for (const f of ["dist/.built", "dist/cli/main.js", "dist/cli", "dist"]) utimesSync(path.join(dir, f), built, built);
  return {
    dir,
    touchSource: () => writeFileSync(path.join(dir, "cli", "main.ts"), "export const changed = 1;\n"),
    cleanup: () => rmSync(dir, { recursive: true, force: true }),
  };
}

describe("building dist/", () => {
  test("prepare (what npx and npm install run) builds nothing when dist/ is newer than every source", async () => {
    const c = miniCheckout();
    try {
      const before = mtime(path.join(c.dir, "dist", "cli", "main.js"));
      const r = await run(process.execPath, ["scripts/build.js", "--if-stale"], c.dir);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(r.stderr, "");
      assert.equal(mtime(path.join(c.dir, "dist", "cli", "main.js")), before);
      // a saved source makes it stale: then it builds (and fails here, where there is no tsc to build with)
      c.touchSource();
      const stale = await run(process.execPath, ["scripts/build.js", "--if-stale"], c.dir);
      assert.notEqual(stale.code, 0, "a stale dist/ that nothing runs from was not rebuilt");
    } finally {
      c.cleanup();
    }
  });

  test("a stale dist/ that a process runs from is not rebuilt: prepare warns and succeeds, build refuses naming the process", async () => {
    const c = miniCheckout();
    // A node of a cluster, as far as dist/ is concerned: a process started from a file in it.
    const user = spawn(process.execPath, ["dist/cli/main.js"], { cwd: c.dir, stdio: "ignore" });
    try {
      await once(user, "spawn");
      c.touchSource();
      const main = path.join(c.dir, "dist", "cli", "main.js");
      const before = mtime(main);
      const prepare = await run(process.execPath, ["scripts/build.js", "--if-stale"], c.dir);
      assert.equal(prepare.code, 0, prepare.stderr);
      assert.match(prepare.stderr, new RegExp(`dist/ is older than its sources but not rebuilt: pid ${user.pid} \\(node dist/cli/main\\.js\\) runs from it`));
      const build = await run(process.execPath, ["scripts/build.js"], c.dir);
      assert.equal(build.code, 1);
      assert.match(build.stderr, new RegExp(`dist/ not rebuilt: pid ${user.pid} \\(node dist/cli/main\\.js\\) runs from it.*devcluster stop`));
      assert.equal(mtime(main), before);
      assert.equal(readFileSync(main, "utf8"), "setInterval(() => {}, 1000);\n");
    } finally {
      user.kill("SIGKILL");
      c.cleanup();
    }
  });

  test("in this checkout, with a cluster running: npm run prepare succeeds and npm run build refuses, and dist/ stays as it is", async () => {
    const project = makeProject({ "src/app.ts": "export function start() {}\n" }, { nodes: 1 });
    const up = cliUp(project.dir);
    try {
      await up.logs.waitFor(/cluster test ready/, 30_000);
      const nodeMain = path.join(ROOT, "dist", "runtime", "node", "main.js");
      const before = mtime(nodeMain);
      const prepare = await run("npm", ["run", "prepare", "--silent"], ROOT);
      assert.equal(prepare.code, 0, prepare.stderr);
      const build = await run("npm", ["run", "build", "--silent"], ROOT);
      assert.equal(build.code, 1, `npm run build rebuilt dist/ under a running cluster: ${build.stdout}${build.stderr}`);
      assert.match(build.stderr, new RegExp(`pid ${up.child.pid} \\(node dist/cli/main\\.js up`));
      assert.equal(mtime(nodeMain), before);
    } finally {
      await stopChild(up.child, 10_000);
      project.cleanup();
    }
  });
});
