/**
 * Issue 22 item 5 on 3 real nodes: a plain `setInterval` at a module's top level runs
 * again with each version; the save's report in `up` and `devcluster status` name the
 * ones earlier versions started, with their line and the fix.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../../cli/dev/devServer";
import { cli, makeProject, nextSave, startCluster, type LogCapture, type Project } from "../helpers/cluster";

const TICKER = (tag: string): string => `import { hot } from "devcluster";
let ticks = 0;
setInterval(() => { ticks++; }, 50);
hot.setInterval(() => undefined, 50);
export const tag = () => "${tag}";
`;

describe("a top-level setInterval an earlier version started is named after the save (issue 22 item 5, 3 nodes)", () => {
  let project: Project;
  let server: DevServer;
  let logs: LogCapture;

  before(async () => {
    project = makeProject({ "src/app.ts": `import "./ticker";\nexport async function start() {}\n`, "src/ticker.ts": TICKER("v1") }, { nodes: 3 });
    ({ server, logs } = await startCluster(project));
  });

  after(async () => {
    await server?.close();
    project?.cleanup();
  });

  test("the save's report in up, and status, name it with its line, on every node, with hot.setInterval as the fix", async () => {
    const saved = nextSave(server);
    project.write("src/ticker.ts", TICKER("v2"));
    const s = await saved;
    assert.equal(s.report?.ok, true, JSON.stringify(s.report));
    const found = s.report!.stale?.find((f) => f.kind === "toplevel");
    assert.deepEqual(found && { ...found, nodes: [...found.nodes].sort() }, {
      kind: "toplevel",
      module: "ticker",
      fn: "setInterval",
      at: "ticker.ts:3",
      count: 3,
      nodes: ["n1", "n2", "n3"],
    });
    assert.equal(s.report!.stale!.length, 1, "hot.setInterval is not named");
    await logs.waitFor(
      /ticker: setInterval \(ticker\.ts:3\) that an earlier version's top level started still runs beside this version's \(3 on n1, n2, n3\): each save adds one more; start it with hot\.setInterval/,
    );
    const status = await cli(["status"], project.dir);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /ticker: setInterval \(ticker\.ts:3\) that an earlier version's top level started still runs/);
  });
});
