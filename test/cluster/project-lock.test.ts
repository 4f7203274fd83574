import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { keysFile, processStart, readRunning, stateDir } from "../../cli/project/stateDir";
import { loadKeys, loadOrCreateKeys } from "../../wire/security";
import { CLI, cli, cliUp, makeProject, type Project } from "../helpers/cluster";
import { counterProject } from "../helpers/fixtures";
import { freePortRun } from "../helpers/ports";
import { waitUntil } from "../helpers/probe";

/** A process that is alive and has nothing to do with devcluster: what a reused pid points at. */
function unrelated(): ChildProcess {
  return spawn("sleep", ["600"], { stdio: "ignore" });
}

describe("keys: .devcluster/ is 0700, key files 0600, an unprotected one is refused (issue: several machines, rule 8)", () => {
  const projects: Project[] = [];
  after(() => projects.forEach((p) => p.cleanup()));

  test("the keys are made 0600 in a 0700 folder; a key file others can read is refused with the chmod that fixes it, not tightened", async () => {
    const project = makeProject(counterProject(), { nodes: 1 });
    projects.push(project);
    const file = keysFile(project.dir);
    loadOrCreateKeys(file);
    assert.equal(statSync(stateDir(project.dir)).mode & 0o777, 0o700);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    chmodSync(file, 0o644);
    assert.throws(
      () => loadKeys(file),
      (err: Error & { code?: string }) => err.code === "keys_unprotected" && /mode 0644/.test(err.message) && err.message.includes(`chmod 600 ${file}`),
    );
    assert.equal(statSync(file).mode & 0o777, 0o644, "the mode is left as the user set it");
    const up = await cli(["up"], project.dir);
    assert.notEqual(up.code, 0);
    assert.match(up.stderr, /readable by others \(mode 0644\).*chmod 600/);
  });

  test("keys export writes name and keys with mode 0600; keys rotate makes a new pair, still 0600", async () => {
    const project = makeProject(counterProject(), { nodes: 1 });
    projects.push(project);
    const before = loadOrCreateKeys(keysFile(project.dir));
    const out = path.join(project.dir, "cluster.keys");
    writeFileSync(out, "old content", { mode: 0o644 }); // an existing file does not keep its wider mode
    const r = await cli(["keys", "export", "cluster.keys"], project.dir);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    const exported = JSON.parse(readFileSync(out, "utf8")) as { cluster: string; publicKey: string };
    assert.equal(exported.cluster, "test");
    assert.deepEqual(loadKeys(out), before);
    const rot = await cli(["keys", "rotate"], project.dir);
    assert.equal(rot.code, 0, rot.stderr);
    assert.match(rot.stdout, /rejoin/);
    const after = loadKeys(keysFile(project.dir));
    assert.notEqual(after.publicKey, before.publicKey);
    assert.equal(statSync(keysFile(project.dir)).mode & 0o777, 0o600);
  });
});

describe("keys rotate while up runs (issue 18, item 11)", () => {
  const projects: Project[] = [];
  const ups: ReturnType<typeof cliUp>[] = [];
  after(async () => {
    for (const u of ups) await u.stop();
    projects.forEach((p) => p.cleanup());
  });

  test("after keys rotate, status, restart and stop still reach the running up; the next up runs with the new keys", async () => {
    const project = makeProject(counterProject(), { nodes: 1 });
    projects.push(project);
    const up = cliUp(project.dir);
    ups.push(up);
    await up.logs.waitFor(/cluster test ready/, 30_000);
    const old = loadKeys(keysFile(project.dir));
    const rot = await cli(["keys", "rotate"], project.dir);
    assert.equal(rot.code, 0, rot.stderr);
    assert.match(rot.stdout, new RegExp(`running cluster \\(pid ${up.child.pid}\\) goes on with the old keys`));
    const rotated = loadKeys(keysFile(project.dir));
    assert.notEqual(rotated.publicKey, old.publicKey);
    const exported = await cli(["keys", "export", "cluster.keys"], project.dir);
    assert.equal(exported.code, 0, exported.stderr);
    assert.match(exported.stdout, /still uses the keys from before `devcluster keys rotate`: these admit a node once `devcluster up` restarts/);
    const status = await cli(["status"], project.dir, 10_000);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /n1/);
    const restart = await cli(["restart", "n1"], project.dir);
    assert.equal(restart.code, 0, `a node restarted after the rotation joins the up it belongs to: ${restart.stderr}`);
    const stop = await cli(["stop"], project.dir, 20_000);
    assert.equal(stop.code, 0, stop.stderr);
    assert.match(stop.stdout, /cluster stopped/);
    const next = cliUp(project.dir);
    ups.push(next);
    await next.logs.waitFor(/cluster test ready/, 30_000);
    assert.equal(readRunning(project.dir)?.publicKey, rotated.publicKey, "the next up runs with the rotated keys");
  });
});

describe("one `up` per project, always (rule 10), and stop waits for it to be gone (rule 11)", () => {
  const projects: Project[] = [];
  const children: ChildProcess[] = [];
  const ups: ReturnType<typeof cliUp>[] = [];
  after(async () => {
    for (const u of ups) await u.stop();
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    projects.forEach((p) => p.cleanup());
  });

  test("two `up` started at the same moment: one runs, the other says which pid holds the project", async () => {
    const project = makeProject(counterProject(), { nodes: 1 });
    projects.push(project);
    const a = cliUp(project.dir);
    const b = cliUp(project.dir);
    ups.push(a, b);
    const exited = await Promise.race([once(a.child, "exit").then(() => [a, b] as const), once(b.child, "exit").then(() => [b, a] as const)]);
    const [loser, winner] = exited;
    assert.notEqual(loser.child.exitCode, 0);
    const said = await loser.logs.waitFor(/already running/);
    assert.match(said, new RegExp(`pid ${winner.child.pid} holds`));
    await winner.logs.waitFor(/cluster test ready/, 30_000);
    await winner.stop();
    assert.equal(existsSync(path.join(stateDir(project.dir), "up.lock")), false, "the lock is given back at stop");
  });

  test("a lock and a state file naming a live but unrelated process (a reused pid) are stale: status says nothing runs, up starts", async () => {
    const project = makeProject(counterProject(), { nodes: 1 });
    projects.push(project);
    const other = unrelated();
    children.push(other);
    await once(other, "spawn");
    const pid = other.pid!;
    assert.ok(processStart(pid), "this test needs /proc");
    mkdirSync(stateDir(project.dir), { recursive: true, mode: 0o700 });
    const reused = { pid, procStart: "1" }; // the pid's process started at another time than the one recorded
    writeFileSync(path.join(stateDir(project.dir), "up.lock"), JSON.stringify(reused));
    writeFileSync(
      path.join(stateDir(project.dir), "coordinator.json"),
      JSON.stringify({ cluster: "test", endpoint: "tcp://127.0.0.1:9", configPath: project.configPath, startedAt: "", ...reused }),
    );
    assert.equal(readRunning(project.dir), undefined);
    const s = await cli(["status"], project.dir);
    assert.notEqual(s.code, 0);
    assert.match(s.stderr, /no cluster is running/);
    const up = cliUp(project.dir);
    ups.push(up);
    await up.logs.waitFor(/cluster test ready/, 30_000);
    assert.equal(readRunning(project.dir)?.pid, up.child.pid);
  });

  test("a lock and state file without a start time (an older up's), naming a live unrelated process: status says nothing runs, up starts (issue 18, item 12)", async () => {
    const project = makeProject(counterProject(), { nodes: 1 });
    projects.push(project);
    const other = unrelated();
    children.push(other);
    await once(other, "spawn");
    mkdirSync(stateDir(project.dir), { recursive: true, mode: 0o700 });
    const stale = { pid: other.pid! }; // no procStart: only the pid's command line can tell it is not an up
    writeFileSync(path.join(stateDir(project.dir), "up.lock"), JSON.stringify(stale));
    writeFileSync(
      path.join(stateDir(project.dir), "coordinator.json"),
      JSON.stringify({ cluster: "test", endpoint: "tcp://127.0.0.1:9", configPath: project.configPath, startedAt: "", ...stale }),
    );
    const s = await cli(["status"], project.dir);
    assert.notEqual(s.code, 0);
    assert.match(s.stderr, /no cluster is running/);
    const up = cliUp(project.dir);
    ups.push(up);
    await up.logs.waitFor(/cluster test ready/, 30_000);
    assert.equal(readRunning(project.dir)?.pid, up.child.pid);
  });

  test("a state file naming a live process where nothing listens at its endpoint: status and stop say so at once, not after the request's deadline (issue 18, item 12)", async () => {
    const project = makeProject(counterProject(), { nodes: 1 });
    projects.push(project);
    // A pid the OS gave to a process that looks like devcluster (another project's node, say): the pid alone cannot tell.
    const lookalike = spawn(process.execPath, ["-e", "setInterval(() => {}, 1e9)", "devcluster"], { stdio: "ignore" });
    children.push(lookalike);
    await once(lookalike, "spawn");
    const keys = loadOrCreateKeys(keysFile(project.dir));
    const port = await freePortRun(1);
    writeFileSync(
      path.join(stateDir(project.dir), "coordinator.json"),
      JSON.stringify({ cluster: "test", endpoint: `tcp://127.0.0.1:${port}`, configPath: project.configPath, startedAt: "", pid: lookalike.pid, ...keys }),
      { mode: 0o600 },
    );
    for (const command of ["status", "stop"]) {
      const r = await cli([command], project.dir);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`no cluster is running.*nothing listens at tcp://127\\.0\\.0\\.1:${port}`), `${command}: ${r.stderr}`);
    }
    lookalike.kill("SIGKILL");
  });

  test("stop returns once the coordinator is gone, even when its parent has not reaped it (a zombie)", async () => {
    const project = makeProject(counterProject(), { nodes: 1 });
    projects.push(project);
    // `sleep` becomes the parent of `up` and never waits for it: when `up` exits it stays a zombie.
    const parent = spawn("sh", ["-c", `"${process.execPath}" "${CLI}" up --log-format json >up.log 2>&1 & echo $!; exec sleep 600`], {
      cwd: project.dir,
      stdio: ["ignore", "pipe", "ignore"],
    });
    children.push(parent);
    const [first] = (await once(parent.stdout!, "data")) as [Buffer];
    const upPid = Number(first.toString().trim());
    await waitUntil(async () => (readRunning(project.dir)?.pid === upPid && (await cli(["status"], project.dir)).code === 0 ? true : undefined), 30_000);
    const r = await cli(["stop"], project.dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /cluster stopped/);
    const state = readFileSync(`/proc/${upPid}/stat`, "utf8").split(") ")[1]![0];
    assert.equal(state, "Z", "up has exited and is not reaped: stop did not wait for its parent");
    parent.kill("SIGKILL");
  });
});
