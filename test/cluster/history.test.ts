import assert from "node:assert/strict";
import { mkdirSync, rmSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { cli, cliClusterPerSuite } from "../helpers/cluster";
import { counter, counterProject } from "../helpers/fixtures";
import { waitUntil } from "../helpers/shell";

interface History {
  modules: { module: string; versions: { version: string; at: string; source: string; by?: string; size: number; current: boolean; nodes: string[] }[] }[];
}

/** Runs a CLI command that must succeed, and parses its --json output. */
async function json<T>(args: string[], cwd: string): Promise<T> {
  const r = await cli([...args, "--json"], cwd);
  assert.equal(r.code, 0, `devcluster ${args.join(" ")}: ${r.stderr}`);
  return JSON.parse(r.stdout) as T;
}

// Issue "every save is what runs", items a and b, on 2 real nodes through the CLI as a user runs it.
describe("history, rollback --to, drift from the disk, and restart", () => {
  const suite = cliClusterPerSuite(counterProject);

  test("history lists every version since up with its source and nodes; rollback --to loads one again; status and versions() name the file that differs", async () => {
    suite.project.write("src/counter.ts", counter(2));
    await suite.up.logs.waitFor(/"source":"save","ok":true.*"name":"counter"/);
    let h = await json<History>(["history", "counter"], suite.project.dir);
    const [first, saved] = h.modules[0]!.versions;
    assert.deepEqual(
      h.modules[0]!.versions.map((v) => [v.source, v.current, v.nodes]),
      [
        ["up", false, []],
        ["save", true, ["n1", "n2"]],
      ],
    );
    assert.ok(first!.size > 0 && !Number.isNaN(Date.parse(saved!.at)));
    const table = await cli(["history"], suite.project.dir);
    assert.match(table.stdout, /^module\s+version\s+time\s+source\s+size\s+nodes$/m);
    assert.match(table.stdout, new RegExp(`^counter\\s+${saved!.version.slice(0, 8)} \\*\\s+\\d\\d:\\d\\d:\\d\\d\\s+save\\s+[\\d.]+K?B\\s+n1 n2$`, "m"));
    assert.match(table.stdout, /^app\s+[0-9a-f]{8} \*\s+\S+\s+up\s/m);

    // back to the version `up` started with, by the prefix history shows
    const r = await cli(["rollback", "counter", "--to", first!.version.slice(0, 8)], suite.project.dir);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await json<number>(["shell", "--eval", 'call("counter:n1", { type: "incr" })'], suite.project.dir), 1, "n1 runs the step-1 counter again");
    assert.equal(await json<number>(["shell", "--eval", 'call("counter:n2", { type: "incr" })'], suite.project.dir), 1, "and so does n2");
    h = await json<History>(["history", "counter"], suite.project.dir);
    assert.deepEqual(
      h.modules[0]!.versions.map((v) => [v.version, v.source, v.by, v.current, v.nodes]),
      [
        [first!.version, "up", undefined, false, ["n1", "n2"]],
        [saved!.version, "save", undefined, false, []],
        [first!.version, "rollback", "cli", true, ["n1", "n2"]],
      ],
    );

    // the nodes now run something else than src/counter.ts: status and versions() say so and name the file
    const status = await cli(["status"], suite.project.dir);
    assert.match(status.stdout, /warning: counter runs [0-9a-f]{8}, not src\/counter\.ts as it is on disk \([0-9a-f]{8}\): src\/counter\.ts changed on disk/);
    assert.doesNotMatch(status.stdout, /warning: (app|describe) runs/);
    const versions = await cli(["shell", "--eval", 'versions("counter")'], suite.project.dir);
    assert.match(versions.stdout, /warning: counter runs [0-9a-f]{8}, not src\/counter\.ts as it is on disk/);

    // an unknown version is refused with the versions there are
    const bad = await cli(["rollback", "counter", "--to", "ffffffff"], suite.project.dir);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /counter has run no version ffffffff since up \(its versions: [0-9a-f]{8}, [0-9a-f]{8}/);

    // a reload of the file brings the nodes back to the disk: no warning left
    assert.equal((await cli(["reload", "counter"], suite.project.dir)).code, 0);
    assert.doesNotMatch((await cli(["status"], suite.project.dir)).stdout, /warning: counter runs/);
  });

  test("a lock file or node_modules change is reported once as needing a restart, and undoing it withdraws that", async () => {
    const warning = /dependencies changed \((.*?)\): npm packages are not hot-swapped; `devcluster restart` restarts the nodes with them/;
    const count = (): number => suite.up.logs.lines.filter((l) => warning.test(l)).length;
    const lock = path.join(suite.project.dir, "package-lock.json");
    const modules = path.join(suite.project.dir, "node_modules");
    suite.project.write("package-lock.json", JSON.stringify({ lockfileVersion: 3, packages: {} }));
    assert.match(await suite.up.logs.waitFor(warning), /\(package-lock\.json\)/);
    // npm install goes on: the lock again, a package in node_modules; the one warning stands
    suite.project.write("package-lock.json", JSON.stringify({ lockfileVersion: 3, packages: { "node_modules/ms": {} } }));
    suite.project.write("node_modules/ms/package.json", "{}");
    rmSync(lock);
    rmSync(modules, { recursive: true });
    await suite.up.logs.waitFor(/dependencies back as up started them/);
    assert.equal(count(), 1, "warned again while the first warning stood");
    // a package added to node_modules alone (a relink, a manual copy) warns again, naming node_modules
    mkdirSync(path.join(modules, "@scope", "pkg"), { recursive: true });
    await suite.up.logs.waitFor(/dependencies changed \(node_modules\)/);
    assert.equal(count(), 2);
    // inside a scope folder that stays: node_modules' own top level does not change, the scope's does
    rmSync(path.join(modules, "@scope", "pkg"), { recursive: true });
    await suite.up.logs.waitFor(/dependencies back as up started them \(node_modules\)/);
    mkdirSync(path.join(modules, "@scope", "other"));
    await waitUntil(async () => count() === 3, "a third warning, for @scope/other");
    rmSync(modules, { recursive: true });
  });

  test("restart n2 restarts that node alone: a new OS process with the current code, its processes back with their state (issue 19)", async () => {
    const count = await json<number>(["shell", "--eval", 'call("counter:n2", { type: "incr", by: 5 })'], suite.project.dir);
    const before = await json<{ nodes: { name: string; pid: number; modules: Record<string, string> }[] }>(["status"], suite.project.dir);
    const r = await cli(["restart", "n2"], suite.project.dir, 60_000);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^n2 restarted \(os pid \d+ -> \d+\), running the current code, away \d+ ms$/m);
    assert.match(r.stdout, /^ {2}1 process restored with its state and pid from a [\d.]+[KM]?B snapshot$/m);
    const after = await json<{ nodes: { name: string; pid: number; modules: Record<string, string> }[] }>(["status"], suite.project.dir);
    const [n1Before, n2Before] = before.nodes;
    const [n1After, n2After] = after.nodes;
    assert.equal(n1After!.pid, n1Before!.pid, "n1 was not restarted");
    assert.notEqual(n2After!.pid, n2Before!.pid, "n2 is a new OS process");
    assert.deepEqual(n2After!.modules, n1After!.modules, "n2 runs what n1 runs");
    assert.equal(await json<number>(["shell", "--eval", 'call("counter:n2", { type: "get" })'], suite.project.dir), count, "n2's counter kept its count");
    const unknown = await cli(["restart", "n7"], suite.project.dir);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no node n7 in cluster test \(nodes: n1, n2\)/);
  });
});
