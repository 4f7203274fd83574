import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Compiler } from "../../cli/save/compiler";
import type { DevServer, SaveReport } from "../../cli/dev/devServer";
import { makeProject, nextEvent, startCluster, type LogCapture, type Project } from "../helpers/cluster";

const NODES = ["n1", "n2", "n3"];

describe("every save is what runs: split bursts, importers saved first, JSON files", () => {
  let project: Project;
  let server: DevServer;
  let logs: LogCapture;

  const rpcAll = (module: string, fn: string): Promise<unknown[]> =>
    Promise.all(NODES.map((node) => server.coordinator.nodeRequest(node, { op: "rpc", module, fn, args: [] })));
  const savedWith = (module: string): Promise<SaveReport> =>
    nextEvent<SaveReport>(server, "saved", (s) => s.report?.ok === true && s.report.modules.some((m) => m.name === module), 20_000);

  /**
   * What every node runs (as each acknowledged it) equals what the files on disk compile to, and so does what the
   * cluster keeps of the modules a node has not loaded (it loads that version on first use, docs/design.md §4.5).
   */
  async function assertNodesRunDisk(): Promise<void> {
    const disk = await new Compiler({ projectDir: project.dir, srcDir: "src" }).compileAll();
    const status = await server.coordinator.status();
    for (const m of disk) {
      assert.equal(server.coordinator.store.get(m.name)?.version, m.version, `the cluster does not keep ${m.name} as it is on disk`);
      for (const node of status.nodes) {
        if (m.name in node.modules || m.name === "app") assert.equal(node.modules[m.name], m.version, `${node.name} does not run ${m.name} as it is on disk`);
      }
    }
    assert.deepEqual([...server.pending.pending().keys()], []);
  }

  before(async () => {
    project = makeProject(
      {
        "src/app.ts": `import { base } from "./lib";\nexport async function start(): Promise<void> {}\nexport function value(): number {\n  return base();\n}\n`,
        "src/lib.ts": `export function base(): number {\n  return 1;\n}\n`,
        "src/settings.ts": `import limits from "./limits.json";\nexport function max(): number {\n  return limits.max;\n}\n`,
        "src/limits.json": `{ "max": 3 }\n`,
      },
      { nodes: 3 },
    );
    ({ server, logs } = await startCluster(project));
  });

  after(async () => {
    await server?.close();
    project?.cleanup();
  });

  test("an importer saved before the file that defines its new export is held with a reason, then both reload", async () => {
    project.write(
      "src/app.ts",
      `import { base, bonus } from "./lib";\nexport async function start(): Promise<void> {}\nexport function value(): number {\n  return base() + bonus();\n}\n`,
    );
    await logs.waitFor(/src\/app\.ts is held back: it waits for lib \(src\/lib\.ts\) to export bonus/);
    const saved = savedWith("app");
    project.write("src/lib.ts", `export function base(): number {\n  return 1;\n}\nexport function bonus(): number {\n  return 100;\n}\n`);
    const s = await saved;
    assert.deepEqual(s.report!.modules.map((m) => m.name).sort(), ["app", "lib"]);
    assert.deepEqual(await rpcAll("app", "value"), [101, 101, 101]);
    await assertNodesRunDisk();
  });

  test("a new file and its importer arriving as two batches end up running together", async () => {
    const refused = nextEvent<SaveReport>(server, "saved", (s) => s.error !== undefined, 20_000);
    // The importer's save comes first, alone: fresh2 is not there yet.
    project.write(
      "src/app.ts",
      `import { base } from "./lib";\nimport { extra } from "./fresh2";\nexport async function start(): Promise<void> {}\nexport function value(): number {\n  return base() + extra;\n}\n`,
    );
    assert.match((await refused).error!.message, /src\/app\.ts:2:\d+: error: Could not resolve "\.\/fresh2"/);
    const saved = savedWith("app");
    project.write("src/fresh2.ts", `export const extra = 20;\n`);
    const s = await saved;
    assert.deepEqual(s.report!.modules.map((m) => m.name).sort(), ["app", "fresh2"]);
    assert.deepEqual(await rpcAll("app", "value"), [21, 21, 21]);
    await assertNodesRunDisk();
  });

  test("saving an imported JSON file rebuilds and reloads its importers on every node", async () => {
    assert.deepEqual(await rpcAll("settings", "max"), [3, 3, 3]);
    const saved = savedWith("settings");
    project.write("src/limits.json", `{ "max": 7 }\n`);
    await saved;
    assert.deepEqual(await rpcAll("settings", "max"), [7, 7, 7]);
    await assertNodesRunDisk();
  });
});
