import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { test } from "node:test";
import { NODE_MAIN } from "../../cli/dev/launcher";
import { loadOrCreateKeys } from "../../wire/security";

// The stdin lifeline, without the launcher dying: the test process stays the node's parent, so only the
// closed pipe can end it (cli.test kills a real `up` for the re-parenting lifeline).
test("a node whose launcher's pipe closes exits, also when its stdout has no reader any more", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "devcluster-lifeline-"));
  const keys = path.join(dir, ".devcluster", "keys.json");
  loadOrCreateKeys(keys);
  // No coordinator listens there: the node waits for its welcome, as a node does whose `up` just died.
  const child = spawn(process.execPath, [NODE_MAIN], {
    env: {
      ...process.env,
      DEVCLUSTER_NODE: "n1",
      DEVCLUSTER_COORDINATOR: "tcp://127.0.0.1:9",
      DEVCLUSTER_KEYS: keys,
      DEVCLUSTER_SRC: dir,
      DEVCLUSTER_STDIN_LIFELINE: "1",
    },
    stdio: ["pipe", "pipe", "ignore"],
  });
  try {
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    // What dies with the launcher: the reader of the node's stdout, and the writer of its stdin.
    child.stdout!.destroy();
    child.stdin!.end();
    const code = await Promise.race([exited, new Promise<"alive">((r) => setTimeout(() => r("alive"), 10_000).unref())]);
    assert.notEqual(code, "alive", "the node is still running 10 s after its launcher went away");
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
});

// The way the stdin lifeline once failed: it fired, but process.exit never finished. pino's default stdout
// flushes a buffered line at exit with sonic-boom's flushSync, which retried EPIPE for ever once the reader
// was gone (gdb showed the node in Atomics.wait under flushSync, re-parented and ignoring SIGTERM).
test("a node whose log line is still being written when its stdout's reader goes away still exits", async () => {
  const script = `
    const log = require(${JSON.stringify(path.join(__dirname, "..", "..", "wire", "log.js"))}).createLogger({ node: "n1" });
    // The first line is in flight when the second is queued: exit must flush the second.
    log.info({ big: "x".repeat(1 << 20) }, "a line larger than the pipe holds");
    log.info({ big: "y".repeat(1 << 20) }, "and another behind it");
    process.exit(0);
  `;
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "ignore"] });
  try {
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    // The reader goes away once the node is writing, as `up` does when it is killed.
    await new Promise<void>((resolve) => child.stdout!.once("data", () => resolve()));
    child.stdout!.destroy();
    const code = await Promise.race([exited, new Promise<"alive">((r) => setTimeout(() => r("alive"), 10_000).unref())]);
    assert.notEqual(code, "alive", "the process is still running 10 s after its stdout's reader went away");
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  }
});
