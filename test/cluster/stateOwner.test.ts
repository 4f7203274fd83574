// Issue 18, item 8: another local user plants .devcluster/ before the first `up` (their keys, symlinks for
// observer.json and logs/up.log). Refused as ssh refuses a foreign ~/.ssh; no write follows a link.
import assert from "node:assert/strict";
import { chmodSync, chownSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { curveKeyPair } from "zeromq";
import { keysFile, stateDir } from "../../cli/project/stateDir";
import { cli, makeProject, startCluster, type Project } from "../helpers/cluster";
import { counterProject } from "../helpers/fixtures";
import { waitUntil } from "../helpers/probe";

/** Files owned by another user can only be made by root (chown). */
const skip = process.geteuid?.() === 0 ? false : "needs root to make files another user owns (chown)";
const STRANGER = 4242;

describe("a state folder or key file another user planted is refused (issue 18, item 8)", { skip }, () => {
  const projects: Project[] = [];
  after(() => projects.forEach((p) => p.cleanup()));

  /** A project whose .devcluster/ another user made first, with their own keys in it. */
  function planted(): { project: Project; theirKeys: string } {
    const project = makeProject(counterProject(), { nodes: 1 });
    projects.push(project);
    const dir = stateDir(project.dir);
    mkdirSync(dir, { mode: 0o700 });
    const theirKeys = JSON.stringify(curveKeyPair());
    writeFileSync(keysFile(project.dir), theirKeys, { mode: 0o600 });
    chownSync(keysFile(project.dir), STRANGER, STRANGER);
    chownSync(dir, STRANGER, STRANGER);
    return { project, theirKeys };
  }

  test("up refuses a .devcluster/ another user owns, names the owner and how to fix it, and starts nothing", async () => {
    const { project, theirKeys } = planted();
    const up = await cli(["up", "--log-format", "json"], project.dir);
    assert.notEqual(up.code, 0);
    assert.match(up.stderr, new RegExp(`state folder ${stateDir(project.dir)} belongs to uid ${STRANGER}, not to you`));
    assert.match(up.stderr, /rm -rf/);
    assert.doesNotMatch(up.stdout, /joined|ready/, "no node started");
    assert.equal(readFileSync(keysFile(project.dir), "utf8"), theirKeys, "their keys are left as they are, and not used");
    const status = await cli(["status"], project.dir);
    assert.notEqual(status.code, 0);
    assert.match(status.stderr, /belongs to uid 4242/, "status says the same instead of 'no cluster is running'");
  });

  test("a key file another user owns in our own folder is refused: they chose the keys", async () => {
    const { project } = planted();
    chownSync(stateDir(project.dir), process.geteuid!(), process.getegid!());
    const up = await cli(["up", "--log-format", "json"], project.dir);
    assert.notEqual(up.code, 0);
    assert.match(up.stderr, new RegExp(`key file ${keysFile(project.dir)} belongs to uid ${STRANGER}`));
  });

  test("a .devcluster/ others may write, or one that is a symlink, is refused with the command that fixes it", async () => {
    const project = makeProject(counterProject(), { nodes: 1 });
    projects.push(project);
    mkdirSync(stateDir(project.dir), { mode: 0o700 });
    chmodSync(stateDir(project.dir), 0o777);
    const open = await cli(["up", "--log-format", "json"], project.dir);
    assert.notEqual(open.code, 0);
    assert.match(open.stderr, /writable by others \(mode 0777\).*chmod 700/);
    rmSync(stateDir(project.dir), { recursive: true });
    const elsewhere = mkdtempSync(path.join(tmpdir(), "devcluster-elsewhere-"));
    symlinkSync(elsewhere, stateDir(project.dir));
    try {
      const linked = await cli(["up", "--log-format", "json"], project.dir);
      assert.notEqual(linked.code, 0);
      assert.match(linked.stderr, new RegExp(`is a symbolic link \\(to ${elsewhere}\\)`));
    } finally {
      rmSync(elsewhere, { recursive: true, force: true });
    }
  });
});

describe("state and logs are never written through a symlink (issue 18, item 8)", () => {
  const projects: Project[] = [];
  const outside = mkdtempSync(path.join(tmpdir(), "devcluster-victim-"));
  after(() => {
    projects.forEach((p) => p.cleanup());
    rmSync(outside, { recursive: true, force: true });
  });

  test("links planted at observer.json and logs/up.log are replaced by our own 0600 files; their targets are untouched", async () => {
    const project = makeProject(counterProject(), { nodes: 1 });
    projects.push(project);
    const dir = stateDir(project.dir);
    mkdirSync(path.join(dir, "logs"), { recursive: true, mode: 0o700 });
    const victim = path.join(outside, "passwd");
    writeFileSync(victim, "root:x:0:0\n");
    const drop = path.join(outside, "token");
    symlinkSync(victim, path.join(dir, "logs", "up.log"));
    symlinkSync(drop, path.join(dir, "observer.json"));
    symlinkSync(path.join(outside, "running"), path.join(dir, "coordinator.json"));
    const { server } = await startCluster(project);
    try {
      assert.equal(readFileSync(victim, "utf8"), "root:x:0:0\n", "the file the log link pointed at is not overwritten");
      assert.throws(() => lstatSync(drop), /ENOENT/, "the observer's token did not go where the link pointed");
      assert.throws(() => lstatSync(path.join(outside, "running")), /ENOENT/);
      for (const f of ["observer.json", "coordinator.json", path.join("logs", "up.log")]) {
        const st = lstatSync(path.join(dir, f));
        assert.ok(st.isFile(), `${f} is a plain file now`);
        assert.equal(st.mode & 0o777, 0o600, f);
      }
      assert.match(readFileSync(path.join(dir, "observer.json"), "utf8"), /token/);
      // The log is written as a stream: wait for the line rather than race it.
      await waitUntil(async () => (/cluster test ready/.test(readFileSync(path.join(dir, "logs", "up.log"), "utf8")) ? true : undefined), 10_000);
    } finally {
      await server.close();
    }
  });
});
