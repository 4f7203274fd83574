import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { Compiler } from "../../cli/save/compiler";
import type { DevServer, SaveReport } from "../../cli/dev/devServer";
import { cli, makeProject, nextEvent, startCluster, type LogCapture, type Project } from "../helpers/cluster";

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
        // Outside the source folder: bundled into both importers, not a module of its own (issue 17, item 11).
        "shared/fmt.ts": `export function fmt(n: number): string {\n  return "n=" + n;\n}\n`,
        "src/report.ts": `import { fmt } from "../shared/fmt";\nexport function show(): string {\n  return fmt(1);\n}\n`,
        "src/audit.ts": `import { fmt } from "../shared/fmt";\nexport function show(): string {\n  return "audit " + fmt(2);\n}\n`,
        "src/good.ts": `export function answer(): number {\n  return 1;\n}\n`,
        "src/bad.ts": `export function answer(): number {\n  return 1;\n}\n`,
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

  // issue 17, item 11
  test("saving ../shared/fmt.ts, bundled into two modules, reloads both on every node, names the file, and status blames it while it is broken", async () => {
    // Both in use on every node (a node evaluates a module on first use, item 13), so both reload.
    assert.deepEqual(await rpcAll("report", "show"), ["n=1", "n=1", "n=1"]);
    assert.deepEqual(await rpcAll("audit", "show"), ["audit n=2", "audit n=2", "audit n=2"]);
    const saved = savedWith("report");
    project.write("shared/fmt.ts", `export function fmt(n: number): string {\n  return "#" + n;\n}\n`);
    const s = await saved;
    assert.deepEqual(s.report!.modules.map((m) => m.name).sort(), ["audit", "report"]);
    await logs.waitFor(
      /"save: reloaded (audit|report)@\w+, (audit|report)@\w+ on 3 nodes in [\d.]+ ms; saved shared\/fmt\.ts, which is bundled into audit, report"/,
    );
    assert.deepEqual(await rpcAll("report", "show"), ["#1", "#1", "#1"]);
    assert.deepEqual(await rpcAll("audit", "show"), ["audit #2", "audit #2", "audit #2"]);
    await assertNodesRunDisk();

    // A typo there holds both importers back, and status names the file the typo is in, not an importer.
    const refused = nextEvent<SaveReport>(server, "saved", (r) => r.error !== undefined, 20_000);
    project.write("shared/fmt.ts", `export function fmt(n: number): string {\n  return "#" + n +;\n}\n`);
    const r = await refused;
    assert.equal(r.error!.diagnostics.length, 1, "an error in a file bundled into two modules is said once");
    assert.match(r.error!.message, /shared\/fmt\.ts:2:19: error: /);
    assert.deepEqual(
      r.held.map((h) => h.file),
      ["src/audit.ts", "src/report.ts"],
    );
    const status = await cli(["status"], project.dir);
    assert.match(
      status.stdout,
      /warning: report runs [0-9a-f]{8}, not shared\/fmt\.ts as it is on disk: shared\/fmt\.ts does not compile \(bundled into src\/report\.ts\)/,
    );
    assert.doesNotMatch(status.stdout, /not src\/report\.ts as it is on disk/);

    // The fix, saved where the typo is, reloads both.
    const fixed = savedWith("report");
    project.write("shared/fmt.ts", `export function fmt(n: number): string {\n  return "#" + n + "!";\n}\n`);
    await fixed;
    assert.deepEqual(await rpcAll("report", "show"), ["#1!", "#1!", "#1!"]);
    await assertNodesRunDisk();
  });

  // issue 17, item 15
  test("a save of a file that compiles with one that does not reloads the good one, says the other is held back with file:line:col, then reloads it once fixed", async () => {
    assert.deepEqual(await rpcAll("good", "answer"), [1, 1, 1]);
    assert.deepEqual(await rpcAll("bad", "answer"), [1, 1, 1]);
    const sent = savedWith("good");
    // bad first: alone it sends nothing; the good one's batch takes the still-dirty bad one along, and is the mixed batch.
    project.write("src/bad.ts", `export function answer(): number {\n  return 2 +;\n}\n`);
    project.write("src/good.ts", `export function answer(): number {\n  return 2;\n}\n`);
    const s = await sent;
    assert.deepEqual(
      s.report!.modules.map((m) => m.name),
      ["good"],
    );
    assert.deepEqual(s.held, [{ file: "src/bad.ts", why: "does not compile: src/bad.ts:2:13" }]);
    const reloadLine = logs.lines.findIndex((l) => /"save: reloaded good@/.test(l));
    assert.match(logs.lines[reloadLine]!, /"save: reloaded good@\w+ on 3 nodes in [\d.]+ ms; held back: src\/bad\.ts \(does not compile: src\/bad\.ts:2:13\)"/);
    // The compile error logged for that same batch says what went on without the broken file, not that nothing was sent.
    const errorLine = logs.lines.slice(0, reloadLine).findLast((l) => /compile_failed/.test(l))!;
    assert.match(errorLine, /src\/bad\.ts:2:13: error: /);
    assert.match(
      errorLine,
      /src\/bad\.ts is held back until it compiles; the nodes keep its last good version\. The rest of this save goes to the nodes without it: good \(src\/good\.ts\)\./,
    );
    assert.doesNotMatch(errorLine, /Nothing was sent/);
    // The observer's timeline says the same: the good module went on.
    const entry = server.observer!.observer.initial().timeline.findLast((e) => e.kind === "compile");
    assert.deepEqual(entry?.kind === "compile" && entry.sent, ["good"]);
    assert.deepEqual(await rpcAll("good", "answer"), [2, 2, 2]);
    assert.deepEqual(await rpcAll("bad", "answer"), [1, 1, 1]);
    assert.equal(server.pending.pending().get(path.join(project.dir, "src", "bad.ts")), "it does not compile");

    // `devcluster reload` of the same two moves them together: it sends neither and says so.
    const reload = await cli(["reload", "good", "bad"], project.dir);
    assert.equal(reload.code, 1);
    assert.match(reload.stderr, /src\/bad\.ts:2:13: error: /);
    assert.match(reload.stderr, /Nothing was sent; the cluster keeps running the last good version/);

    const fixed = savedWith("bad");
    project.write("src/bad.ts", `export function answer(): number {\n  return 3;\n}\n`);
    await fixed;
    assert.deepEqual(await rpcAll("bad", "answer"), [3, 3, 3]);
    await assertNodesRunDisk();
  });
});
