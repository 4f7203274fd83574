/**
 * Issue 17 item 13, on 3 real nodes: a node evaluates what its entry imports
 * and what is spawned by name, when it is first spawned, as Erlang loads a
 * module on first use. The project keeps two launcher scripts in src (one
 * forks a child process, one exits when `process.argv` lacks its flag): run
 * on a node, each would have written to a marker file, and the second would
 * have put every node in a restart loop.
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../../cli/dev/devServer";
import { reloadHeadline } from "../../cli/views/reloadReport";
import { renderStatus } from "../../cli/views/status";
import type { Pid } from "../../wire/pid";
import { cli, makeProject, nextEvent, nextSave, startCluster, type Project } from "../helpers/cluster";

const NODES = ["n1", "n2", "n3"];

const APP = `
import { spawn, startSupervisor } from "devcluster";
import { greet } from "./greet";
export async function start() {}
/** spawn by name from a module */
export async function spawnWorker(node: string) { return spawn(node, "worker", { who: greet("module") }); }
/** a supervisor whose child spec names a module */
export async function superviseWorker(node: string) {
  return startSupervisor(node, { children: [{ id: "w", module: "worker", args: { who: "supervisor" } }] });
}
`;
const GREET = `export const greet = (who: string) => "hello " + who;\n`;
const WORKER = (word: string): string => `
import { label } from "./workerLib";
export function init(args: { who: string }) { return args.who; }
export function handleCall(_msg: unknown, _from: unknown, who: string) { return { reply: label("${word}", who), state: who }; }
`;
const WORKER_LIB = `
const g = globalThis as any;
g.__workerLibEvaluated = (g.__workerLibEvaluated ?? 0) + 1;
export const label = (word: string, who: string) => word + " " + who + " (lib evaluated " + g.__workerLibEvaluated + "x)";
`;
const LAUNCH = (marker: string, extra = ""): string => `
import { spawnSync } from "node:child_process";
import { appendFileSync } from "node:fs";
appendFileSync(${JSON.stringify(marker)}, "launch ran in " + process.pid + "\\n");
spawnSync(process.execPath, ["-e", ${JSON.stringify(`require("fs").appendFileSync(${JSON.stringify(marker)}, "forked child ran\\n")`)}]);
${extra}
`;
const CLI_SCRIPT = (marker: string): string => `
import { appendFileSync } from "node:fs";
if (!process.argv.includes("--port")) {
  appendFileSync(${JSON.stringify(marker)}, "cli ran without --port in " + process.pid + "\\n");
  process.exit(2);
}
`;

describe("a node evaluates what its entry reaches and what is spawned by name, not every file under src", () => {
  let project: Project;
  let server: DevServer;
  let marker: string;

  const modulesOn = async (): Promise<Record<string, string[]>> =>
    Object.fromEntries((await server.coordinator.status()).nodes.map((n) => [n.name, Object.keys(n.modules).sort()]));
  const rpc = (node: string, fn: string, args: unknown[]): Promise<unknown> => server.coordinator.nodeRequest(node, { op: "rpc", module: "app", fn, args });
  const call = (node: string, pid: Pid): Promise<unknown> => server.coordinator.nodeRequest(node, { op: "call", pid, msg: "hi" });
  const markerText = (): string => (existsSync(marker) ? readFileSync(marker, "utf8") : "");

  before(async () => {
    project = makeProject({}, { nodes: 3 });
    marker = path.join(project.dir, "marker.txt");
    for (const [rel, text] of Object.entries({
      "src/app.ts": APP,
      "src/greet.ts": GREET,
      "src/worker.ts": WORKER("v1"),
      "src/workerLib.ts": WORKER_LIB,
      "src/scripts/launch.ts": LAUNCH(marker),
      "src/scripts/cli.ts": CLI_SCRIPT(marker),
    }))
      project.write(rel, text);
    ({ server } = await startCluster(project));
  });

  after(async () => {
    await server?.close();
    project?.cleanup();
  });

  test("the nodes boot with the entry and its imports only; the launcher scripts never run", async () => {
    assert.equal(markerText(), "", "no launcher script ran");
    const status = await server.coordinator.status();
    for (const n of status.nodes) {
      assert.equal(n.state, "up", `${n.name} is up`);
      assert.equal(n.restarts, 0, `${n.name} was never restarted`);
      assert.deepEqual(Object.keys(n.modules).sort(), ["app", "greet"], `${n.name} runs what its entry reaches`);
    }
    // The coordinator still has every module: a module known but not loaded is no drift, and runs on no node.
    assert.deepEqual(status.drift ?? [], []);
    assert.ok(server.coordinator.store.has("scripts/launch"));
    const history = server.coordinator.historyReport("scripts/launch");
    assert.deepEqual(history.modules[0]!.versions[0]!.nodes, [], "history says no node runs the launcher");
    // Tracing its calls is no use of it: it is not loaded for that, and the shell says why nothing can be traced.
    const traced = await cli(["shell", "--eval", 'trace("scripts/launch", "main")'], project.dir);
    assert.match(traced.stdout + traced.stderr, /unknown_module: scripts\/launch is not loaded on node n\d: nothing there has used it yet/);
    assert.equal(markerText(), "");
  });

  test("spawn by name loads a module with its imports on that node only: from the shell, from a module, and by a supervisor's child spec", async () => {
    // From the shell (cli/shell/helpers.ts), as a user types it.
    const shell = await cli(["shell", "--json", "--eval", "call(await spawn('n1', 'worker', { who: 'shell' }), 'hi')"], project.dir);
    assert.equal(shell.code, 0, shell.stderr);
    assert.equal(JSON.parse(shell.stdout.trim()), "v1 shell (lib evaluated 1x)");
    // From a module on n1, onto n2.
    const fromModule = (await rpc("n1", "spawnWorker", ["n2"])) as Pid;
    assert.equal(fromModule.node, "n2");
    assert.equal(await call("n2", fromModule), "v1 hello module (lib evaluated 1x)");
    // A supervisor on n3 whose child spec names the module.
    const sup = (await rpc("n3", "superviseWorker", ["n3"])) as Pid;
    const [child] = (await server.coordinator.nodeRequest("n3", { op: "tree" })) as { pid: Pid; children?: { pid: Pid }[] }[];
    assert.equal(child?.pid?.toString(), sup.toString());
    assert.equal(await call("n3", child!.children![0]!.pid), "v1 supervisor (lib evaluated 1x)");
    // A second spawn on a node loads nothing again.
    const again = (await server.coordinator.nodeRequest("n1", { op: "spawn", module: "worker", args: { who: "again" } })) as Pid;
    assert.equal(await call("n1", again), "v1 again (lib evaluated 1x)");
    const mods = await modulesOn();
    for (const n of NODES) assert.deepEqual(mods[n], ["app", "greet", "worker", "workerLib"]);
    assert.equal(markerText(), "");
    assert.deepEqual(server.coordinator.historyReport("worker").modules[0]!.versions[0]!.nodes, NODES);
  });

  test("saving a module spawned by name reloads it where it runs", async () => {
    const saved = nextSave(server);
    project.write("src/worker.ts", WORKER("v2"));
    const s = await saved;
    assert.equal(s.report?.ok, true, JSON.stringify(s.report));
    assert.equal(s.report!.kept, undefined, "the worker runs, so the report does not call it kept");
    assert.match(reloadHeadline(s.report!), /^reloaded worker@/);
    const pids = (await server.coordinator.nodeRequest("n1", { op: "ps" })) as { pid: Pid; module: string }[];
    for (const p of pids.filter((x) => x.module === "worker")) assert.match(String(await call("n1", p.pid)), /^v2 /);
  });

  test("saving a launcher script compiles and checks it on every node without running it, and says no node runs it", async () => {
    const saved = nextSave(server);
    project.write("src/scripts/launch.ts", LAUNCH(marker, "export const edited = true;"));
    const s = await saved;
    assert.equal(s.report?.ok, true, JSON.stringify(s.report));
    assert.deepEqual(s.report!.kept, ["scripts/launch"]);
    assert.deepEqual(s.report!.nodes.map((n) => n.node).sort(), NODES);
    assert.match(reloadHeadline(s.report!), /^checked scripts\/launch@\w+ on 3 nodes in [\d.]+ ms: no node runs it, so nothing was evaluated/);
    assert.doesNotMatch(reloadHeadline(s.report!), /reloaded/);
    assert.equal(markerText(), "", "the saved launcher did not run");
    // `devcluster reload` and `rollback` of it say the same, and run nothing either
    const reload = await cli(["reload", "scripts/launch"], project.dir);
    assert.equal(reload.code, 0, reload.stderr);
    assert.match(reload.stdout, /^checked scripts\/launch@\w+ on 3 nodes in [\d.]+ ms: no node runs it, so nothing was evaluated/);
    const rollback = await cli(["rollback", "scripts/launch"], project.dir);
    assert.equal(rollback.code, 0, rollback.stderr);
    assert.match(rollback.stdout, /^rolled back to scripts\/launch@\w+ on 3 nodes in [\d.]+ ms: no node runs it, so nothing was evaluated/);
    assert.equal(markerText(), "", "neither ran it");
    const mods = await modulesOn();
    for (const n of NODES) assert.ok(!mods[n]!.includes("scripts/launch"), `${n} does not run the launcher`);
    const status = await server.coordinator.status();
    // Rolled back, the kept version is not the disk's: status says so without saying any node runs it.
    assert.deepEqual(
      status.drift?.map((d) => [d.module, d.kept]),
      [["scripts/launch", true]],
    );
    const text = renderStatus(status);
    assert.match(text, /warning: no node runs scripts\/launch; the version a first spawn would load \(\w+\) is not src\/scripts\/launch\.ts as it is on disk/);
    assert.doesNotMatch(text, /scripts\/launch runs/);
    assert.ok(status.nodes.every((n) => n.restarts === 0));
    const back = nextSave(server);
    project.write("src/scripts/launch.ts", LAUNCH(marker, "export const edited = 2;"));
    assert.deepEqual((await back).report?.kept, ["scripts/launch"]);
    assert.deepEqual((await server.coordinator.status()).drift ?? [], [], "kept at the version on disk: no drift");
  });

  test("a syntax error in a launcher script is still reported, and nothing is sent", async () => {
    const saved = nextSave(server);
    project.write("src/scripts/cli.ts", CLI_SCRIPT(marker) + "\nexport const broken = (;\n");
    const s = await saved;
    assert.equal(s.report, undefined, "nothing may be sent");
    assert.match(s.error!.message, /src\/scripts\/cli\.ts:\d+:\d+: error: /);
    const fixed = nextSave(server);
    project.write("src/scripts/cli.ts", CLI_SCRIPT(marker) + "\nexport const fixed = 1;\n");
    const f = await fixed;
    assert.equal(f.report?.ok, true, JSON.stringify(f.report));
    assert.deepEqual(f.report!.kept, ["scripts/cli"]);
    assert.equal(markerText(), "");
    assert.ok(
      (await server.coordinator.status()).nodes.every((n) => n.state === "up" && n.restarts === 0),
      "no node restarted",
    );
  });

  test("a node that restarts loads its entry's modules again, not the launchers, and a first spawn there loads the latest version", async () => {
    const restarted = nextEvent<string>(server.coordinator, "nodeStarted", (n) => n === "n3", 20_000);
    assert.ok(server.launcher.kill("n3"));
    await restarted;
    assert.deepEqual((await modulesOn()).n3, ["app", "greet"]);
    assert.deepEqual(server.coordinator.historyReport("worker").modules[0]!.versions.at(-1)!.nodes, ["n1", "n2"], "n3 no longer runs the worker");
    const pid = (await server.coordinator.nodeRequest("n3", { op: "spawn", module: "worker", args: { who: "after restart" } })) as Pid;
    assert.equal(await call("n3", pid), "v2 after restart (lib evaluated 1x)");
    assert.equal(markerText(), "");
  });
});
