import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../../cli/dev/devServer";
import type { Pid } from "../../wire/pid";
import { cli, makeProject, nextSave, startCluster, type Project } from "../helpers/cluster";

/** A behaviour whose codeChange can be made to fail, to keep processes on the old version. */
const keeper = (version: number, codeChange: "ok" | "throws" | "none"): string => `
export function init() { return { v: ${version}, seen: 0 }; }
export function handleCall(msg: string, _f: unknown, s: { v: number; seen: number }) { return { reply: "v${version}:" + (s.seen + 1), state: { ...s, seen: s.seen + 1 } }; }
${codeChange === "ok" ? `export function codeChange(old: string, s: { v: number; seen: number }) { return { ...s, v: ${version} }; }` : ""}
${codeChange === "throws" ? `export function codeChange(old: string, s: unknown) { throw new Error("cannot migrate to ${version}"); }` : ""}
`;

const APP = `
import { spawn, register, type StartContext } from "devcluster";
export async function start(ctx: StartContext) { await register("keeper", await spawn(ctx.node, "keeper", {})); }
`;

describe("two versions, as in Erlang (docs/design.md §4.6)", () => {
  let project: Project;
  let server: DevServer;

  const callKeeper = async (): Promise<string> => {
    const r = await cli(["shell", "--json", "--eval", 'call("keeper", "hi")'], project.dir);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as string;
  };

  before(async () => {
    project = makeProject({ "src/app.ts": APP, "src/keeper.ts": keeper(1, "none") }, { nodes: 1 });
    ({ server } = await startCluster(project));
  });

  after(async () => {
    await server?.close();
    project?.cleanup();
  });

  test("codeChange migrates a process's state at the reload; one that throws leaves it on the old version with its state", async () => {
    assert.equal(await callKeeper(), "v1:1");
    let saved = nextSave(server);
    project.write("src/keeper.ts", keeper(2, "ok"));
    let s = await saved;
    assert.equal(s.report?.ok, true);
    assert.equal(await callKeeper(), "v2:2", "new code, state carried through codeChange");

    saved = nextSave(server);
    project.write("src/keeper.ts", keeper(3, "throws"));
    s = await saved;
    assert.equal(s.report?.ok, true, "the reload itself commits");
    assert.equal(s.report?.codeChangeFailures?.length, 1);
    assert.match(s.report!.codeChangeFailures![0]!.error.message, /cannot migrate to 3/);
    assert.equal(await callKeeper(), "v2:3", "the process stayed on the old version, state intact");
  });

  test("a third version is refused while a process still runs the oldest, naming it; reload --force loads it and ends that process", async () => {
    const pid = ((await server.coordinator.nodeRequest("n1", { op: "ps" })) as { pid: Pid; module: string }[]).find((p) => p.module === "keeper")!.pid;
    project.write("src/keeper.ts", keeper(4, "none"));
    const refused = await cli(["reload", "keeper", "--json"], project.dir);
    assert.equal(refused.code, 1);
    const report = JSON.parse(refused.stdout) as { ok: boolean; nodes: { error?: { code: string; message: string } }[] };
    assert.equal(report.ok, false);
    assert.equal(report.nodes[0]!.error?.code, "not_purged");
    assert.match(report.nodes[0]!.error!.message, /^cannot load a third version of keeper: 1 process still runs the oldest/);
    assert.ok(report.nodes[0]!.error!.message.includes(pid.toString()), report.nodes[0]!.error!.message);
    assert.equal(await callKeeper(), "v2:4", "nothing switched");

    // A forced reload that aborts (the new version throws while loading) must not have purged anything.
    project.write("src/keeper.ts", keeper(4, "none") + "\nthrow new Error('broken at load');\n");
    const aborted = await cli(["reload", "keeper", "--force", "--json"], project.dir);
    assert.equal(aborted.code, 1);
    assert.equal((JSON.parse(aborted.stdout) as { nodes: { error?: { code: string } }[] }).nodes[0]!.error?.code, "eval_failed");
    assert.equal(await callKeeper(), "v2:5", "the process on the oldest version is still there, state intact");
    project.write("src/keeper.ts", keeper(4, "none"));

    const forced = await cli(["reload", "keeper", "--force", "--json"], project.dir);
    assert.equal(forced.code, 0, forced.stdout + forced.stderr);
    const after = await cli(["shell", "--eval", `state("${pid}")`], project.dir);
    assert.match(after.stderr, /noproc/, "the process on the oldest version was purged");
  });

  test("a process that ends before its codeChange runs does not hold the reload up: it is reported, the node stays responsive", async () => {
    const sleeper = (v: number, withCodeChange: boolean): string => `
export function init() { return { v: ${v} }; }
export async function handleCast(_m: unknown, s: { v: number }) { await new Promise((r) => setTimeout(r, 1500)); throw new Error("dies mid-handler"); }
export function handleCall(_m: unknown, _f: unknown, s: { v: number }) { return { reply: ${v}, state: s }; }
${withCodeChange ? "export function codeChange(_old: string, s: { v: number }) { return s; }" : ""}
`;
    let saved = nextSave(server);
    project.write("src/sleeper.ts", sleeper(1, false));
    assert.equal((await saved).report?.ok, true);
    const pid = (await server.coordinator.nodeRequest("n1", { op: "spawn", module: "sleeper", args: {} })) as Pid;
    await server.coordinator.nodeRequest("n1", { op: "cast", pid, msg: "sleep" });
    saved = nextSave(server);
    project.write("src/sleeper.ts", sleeper(2, true));
    const report = (await saved).report!;
    assert.equal(report.ok, true, JSON.stringify(report));
    assert.deepEqual(
      report.codeChangeFailures?.map((f) => [f.pid, f.error.code]),
      [[pid.toString(), "noproc"]],
    );
    assert.equal((await server.coordinator.status()).nodes[0]?.up, true);
  });

  test("rollback loads the version a module had before its last reload on every node, and says when there is none", async () => {
    // after the forced load above, keeper is at version 4 and its history ends with version 3
    let saved = nextSave(server);
    project.write("src/keeper.ts", keeper(5, "none"));
    assert.equal((await saved).report?.ok, true);
    const fresh = await cli(["shell", "--json", "--eval", 'spawn("n1", "keeper", {})'], project.dir);
    const pid = JSON.parse(fresh.stdout) as string;
    const callIt = async (): Promise<string> => JSON.parse((await cli(["shell", "--json", "--eval", `call("${pid}", "hi")`], project.dir)).stdout) as string;
    assert.equal(await callIt(), "v5:1");
    const r = await cli(["rollback", "keeper"], project.dir);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^rolled back to keeper@[0-9a-f]{8} on 1 nodes/);
    assert.equal(await callIt(), "v4:2", "the previous code, the same process and state");
    const none = await cli(["shell", "--eval", 'rollback("app")'], project.dir);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /no_history: no earlier version of app to roll back to/);
  });
});
