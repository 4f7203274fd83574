import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../../cli/dev/devServer";
import type { StatusReport } from "../../cli/dev/coordinator";
import { cli, makeProject, nextEvent, startCluster, type LogCapture, type Project } from "../helpers/cluster";

// Issue "every command tells the truth", rule 8: status shows per node RSS, heap, event-loop delay, uptime and
// restart count, and a node whose top supervisor gave up is not a plain "up".

/** n1 runs a tree whose only child crashes right after each start, so its supervisor gives up; n2 runs a quiet one. */
const APP = `
import { startSupervisor, type StartContext } from "devcluster";
export async function start(ctx: StartContext) {
  const child = ctx.node === "n1" ? "crasher" : "idle";
  await startSupervisor(ctx.node, { strategy: "one_for_one", intensity: 1, period: 30, children: [{ id: "c", module: child }] });
}
`;
const CRASHER = `
import { self, sendAfter } from "devcluster";
export function init() { sendAfter(5, self(), "boom"); return {}; }
export function handleInfo(msg: string) { throw new Error("crasher: " + msg); }
`;
const IDLE = `export function init() { return {}; }\n`;

describe("devcluster status", () => {
  let project: Project;
  let server: DevServer;
  let logs: LogCapture;

  before(async () => {
    project = makeProject({ "src/app.ts": APP, "src/crasher.ts": CRASHER, "src/idle.ts": IDLE }, { nodes: 2 });
    ({ server, logs } = await startCluster(project));
    await logs.waitFor(/supervisor gave up/);
  });

  after(async () => {
    await server?.close();
    project?.cleanup();
  });

  test("a node whose top supervisor gave up shows that state and a warning, in the command, --json and the shell's status()", async () => {
    const table = await cli(["status"], project.dir);
    assert.equal(table.code, 0, table.stderr);
    const row = (name: string): string => table.stdout.split("\n").find((l) => l.startsWith(`${name} `)) ?? "";
    assert.match(row("n1"), /^n1\s+\d+\s+supervisor gave up\s/);
    assert.match(row("n2"), /^n2\s+\d+\s+up\s/);
    assert.match(table.stdout, /^warning: n1 is running, but its top supervisor <n1\.\d+> gave up \(reached_max_restart_intensity\)/m);
    assert.doesNotMatch(table.stdout, /warning: n2/);

    const json = JSON.parse((await cli(["status", "--json"], project.dir)).stdout) as StatusReport;
    const [n1, n2] = json.nodes;
    assert.equal(n1!.state, "supervisor gave up");
    assert.equal(n1!.up, true, "the node itself runs");
    assert.equal(n1!.processes, 0);
    assert.match(n1!.supervisorsGaveUp![0]!, /^<n1\.\d+>$/);
    assert.equal(n2!.state, "up");
    assert.deepEqual(n2!.supervisorsGaveUp, []);

    const shell = await cli(["shell", "--eval", "status()"], project.dir);
    assert.equal(shell.code, 0, shell.stderr);
    assert.match(shell.stdout, /^n1\s+\d+\s+supervisor gave up\s/m);
    assert.match(shell.stdout, /^warning: n1 is running, but its top supervisor/m);
  });

  test("each node's RSS, heap, event-loop delay and uptime come from the node; restarts count the times the launcher started it again", async () => {
    const first = JSON.parse((await cli(["status", "--json"], project.dir)).stdout) as StatusReport;
    for (const n of first.nodes) {
      assert.equal(n.restarts, 0, n.name);
      assert.ok(n.rss! > 0 && n.heapUsed! > 0 && n.heapTotal! >= n.heapUsed!, `${n.name} memory: ${JSON.stringify(n)}`);
      assert.ok(n.uptimeMs! > 0, `${n.name} uptime`);
      assert.ok(n.eventLoopDelay && n.eventLoopDelay.p99 >= 0 && n.eventLoopDelay.max >= n.eventLoopDelay.mean, `${n.name} loop delay`);
    }

    const restarted = nextEvent<string>(server.coordinator, "nodeStarted", (n) => n === "n2", 20_000);
    assert.ok(server.launcher.kill("n2"));
    await restarted;
    const table = await cli(["status"], project.dir);
    assert.match(table.stdout, /^node\s+os pid\s+state\s+uptime\s+restarts\s+processes\s+rss\s+heap\s+loop mean\/p99\s+modules$/m);
    assert.match(table.stdout, /^n2\s+\d+\s+up\s+\S+\s+1\s+2\s+[\d.]+MB\s+[\d.]+MB\s+[\d.]+\/[\d.]+ms\s/m);
    assert.match(table.stdout, /^n1\s+\d+\s+supervisor gave up\s+\S+\s+0\s/m);
  });
});
