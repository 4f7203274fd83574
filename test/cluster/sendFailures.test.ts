import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../../cli/dev/devServer";
import { LogCapture, cli, makeProject, startCluster, type Project } from "../helpers/cluster";
import { PROBE } from "../helpers/probe";

const APP = `
import { spawn, register, type StartContext } from "devcluster";
export async function start(ctx: StartContext) {
  await register("probe:" + ctx.node, await spawn(ctx.node, "probe", {}));
}
`;

describe("a failing send between nodes (issue 18 item 5)", () => {
  let project: Project;
  let server: DevServer;
  let up: LogCapture;
  const capWas = process.env.DEVCLUSTER_MAX_FRAME_BYTES;

  before(async () => {
    // A frame cap the nodes' code fits under and a 300 kB message does not: each send of it fails at the sender.
    process.env.DEVCLUSTER_MAX_FRAME_BYTES = String(200_000);
    project = makeProject({ "src/app.ts": APP, "src/probe.ts": PROBE }, { nodes: 2 });
    ({ server, logs: up } = await startCluster(project));
  });

  after(async () => {
    await server?.close();
    project?.cleanup();
    if (capWas === undefined) delete process.env.DEVCLUSTER_MAX_FRAME_BYTES;
    else process.env.DEVCLUSTER_MAX_FRAME_BYTES = capWas;
  });

  test("ten sends to a peer that all fail are one line in the sender's log, not ten", async () => {
    const r = await cli(
      [
        "shell",
        "--json",
        "--eval",
        `evalOn("n1", "(async () => { const to = await whereis('probe:n2'); for (let i = 0; i < 10; i++) cast(to, 'x'.repeat(300000)); return 'sent'; })()")`,
      ],
      project.dir,
    );
    assert.equal(r.code, 0, r.stderr);
    await up.waitFor(/"node":"n1".*send to peer n2 failed: a message of \d+ bytes is over the frame cap/, 10_000);
    // The shell's next answer comes after the sends have been tried.
    await cli(["shell", "--json", "--eval", `evalOn("n1", "1")`], project.dir);
    const lines = up.lines.filter((l) => /send to peer n2 failed/.test(l));
    assert.equal(lines.length, 1, lines.join("\n"));
    assert.match(lines[0]!, /"count":1/);
  });
});
