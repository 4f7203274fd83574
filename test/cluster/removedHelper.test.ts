/**
 * Found by hand on 3 nodes: a top-level helper renamed after several saves was named
 * "gone from the source, but closures made from it still run" (one per earlier version
 * per node), while every node answered with the new helper. Each earlier version's
 * scope still holds its own copy, which nothing runs; the report must not name it.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../../cli/dev/devServer";
import { makeProject, nextSave, startCluster, type Project } from "../helpers/cluster";
import { freePortRun } from "../helpers/ports";

const NODES = ["n1", "n2", "n3"];

const SVC = (helper: string, tag: string, ports: Record<string, number>): string => `import * as http from "node:http";
function ${helper}(n: number): string {
  return "${helper}:" + n + "${tag}";
}
export class Svc {
  n = 0;
  constructor(port: number) {
    http.createServer((_q, r) => r.end(${helper}(++this.n))).listen(port, "127.0.0.1");
  }
}
export const port = (${JSON.stringify(ports)} as Record<string, number>)[process.env.DEVCLUSTER_NODE!]!;
`;

function get(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: "/", agent: false }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => resolve(text));
      })
      .on("error", reject);
  });
}

async function untilEvery(ports: Record<string, number>, ok: (s: string) => boolean): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const all = await Promise.all(NODES.map((n) => get(ports[n]!).catch((e: Error) => e.message)));
    if (all.every(ok)) return;
    if (Date.now() > deadline) assert.fail(`not every node answered as expected: ${JSON.stringify(all)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("a top-level helper renamed after several saves (3 nodes)", () => {
  let project: Project;
  let server: DevServer;
  let ports: Record<string, number>;

  before(async () => {
    const base = await freePortRun(3);
    ports = Object.fromEntries(NODES.map((n, i) => [n, base + i]));
    project = makeProject(
      {
        "src/app.ts": `import { Svc, port } from "./svc";\nimport { hot } from "devcluster";\nexport async function start() { (hot as any).data.svc ??= new Svc(port); }\n`,
        "src/svc.ts": SVC("h1", "", ports),
      },
      { nodes: 3 },
    );
    ({ server } = await startCluster(project));
    await untilEvery(ports, (s) => s.startsWith("h1:"));
  });

  after(async () => {
    await server?.close();
    project?.cleanup();
  });

  const save = async (text: string) => {
    const saved = nextSave(server);
    project.write("src/svc.ts", text);
    const s = await saved;
    assert.equal(s.report?.ok, true, JSON.stringify(s.report ?? s.error));
    return s.report!;
  };

  test("the rename's report names nothing, and every node answers with the new helper", async () => {
    for (const tag of ["!", "!!"]) {
      await save(SVC("h1", tag, ports));
      await untilEvery(ports, (s) => s.startsWith("h1:") && s.endsWith(tag));
    }
    const report = await save(SVC("h2", "!!", ports));
    await untilEvery(ports, (s) => s.startsWith("h2:"));
    assert.deepEqual(report.stale ?? [], [], "nothing runs h1");
  });
});
