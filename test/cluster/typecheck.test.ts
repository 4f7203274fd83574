import assert from "node:assert/strict";
import { mkdirSync, readFileSync, symlinkSync } from "node:fs";
import * as path from "node:path";
import { afterEach, describe, test } from "node:test";
import { DevServer } from "../../cli/dev/devServer";
import { PACKAGE_DIR } from "../../cli/project/init";
import type { Pid } from "../../wire/pid";
import { LogCapture, makeProject, nextEvent, type Project } from "../helpers/cluster";
import { counterProject, describeModule } from "../helpers/fixtures";
import type { SaveReport } from "../../cli/dev/devServer";

const TSCONFIG = JSON.stringify({
  compilerOptions: { target: "ES2022", module: "ESNext", moduleResolution: "bundler", types: ["node"], strict: true, noEmit: true, skipLibCheck: true },
  include: ["src"],
});

/**
 * The counter project with a tsconfig, type-checked by this repository's own TypeScript: node_modules/typescript
 * and node_modules/@types/node are links to this repo's copies, node_modules/devcluster a link to this checkout
 * (as npm links a folder dependency), so `from "devcluster"` resolves to the built runtime's types.
 */
function typedProject(): Project {
  const project = makeProject({ ...counterProject(), "tsconfig.json": TSCONFIG }, { nodes: 2 });
  const modules = path.join(project.dir, "node_modules");
  mkdirSync(path.join(modules, "@types"), { recursive: true });
  symlinkSync(path.join(PACKAGE_DIR, "node_modules", "typescript"), path.join(modules, "typescript"), "dir");
  symlinkSync(path.join(PACKAGE_DIR, "node_modules", "@types", "node"), path.join(modules, "@types", "node"), "dir");
  symlinkSync(PACKAGE_DIR, path.join(modules, "devcluster"), "dir");
  return project;
}

const BROKEN = `export function describe(n: number): string { return n; }\n`;

// Issue "every save is what runs", item c: up --typecheck and --typecheck=strict, on 2 real nodes.
describe("up --typecheck", () => {
  // One coordinator per process at a time (its ZAP handler is process-wide): each test stops its cluster before the next starts.
  let cleanups: (() => Promise<void> | void)[] = [];
  const stop = async (): Promise<void> => {
    for (const c of cleanups.reverse()) await c();
    cleanups = [];
  };
  afterEach(stop);

  async function start(
    typecheck: true | "strict",
  ): Promise<{ project: Project; server: DevServer; logs: LogCapture; describeOn(node: string): Promise<unknown> }> {
    const project = typedProject();
    cleanups.push(() => project.cleanup());
    const logs = new LogCapture();
    const server = await DevServer.start({ configPath: project.configPath, logFormat: "json", out: logs, typecheck });
    cleanups.push(() => server.close());
    await server.ready(30_000);
    await logs.waitFor(/type check: no errors/, 60_000);
    const describeOn = async (node: string): Promise<unknown> => {
      const ps = (await server.coordinator.nodeRequest(node, { op: "ps" })) as { pid: Pid; module: string }[];
      return server.coordinator.nodeRequest(node, { op: "call", pid: ps.find((p) => p.module === "counter")!.pid, msg: { type: "describe" } });
    };
    return { project, server, logs, describeOn };
  }

  test("prints a type error as file:line:col with its message, and the save reloads all the same", async () => {
    const { project, server, logs, describeOn } = await start(true);
    // issue 22: the line names the TypeScript version, not the path of its package.json
    assert.match(await logs.waitFor(/type checking with/), /"msg":"type checking with TypeScript \d+\.\d+\.\d+ \([^)]*node_modules\/typescript\)"/);
    const saved = nextEvent<SaveReport>(server, "saved", (s) => s.report?.ok === true, 30_000);
    project.write("src/describe.ts", BROKEN);
    await saved;
    assert.match(
      await logs.waitFor(/src\/describe\.ts:1:\d+ error TS2322/, 60_000),
      /src\/describe\.ts:1:47 error TS2322: Type 'number' is not assignable to type 'string'\./,
    );
    assert.equal(await describeOn("n1"), 0, "the nodes run the saved file, type error and all");
  });

  test("=strict holds a save back while the project has type errors, says so, and reloads it once they are fixed", async () => {
    const { project, server, logs, describeOn } = await start("strict");
    const before = server.coordinator.store.get("describe")!.version;
    project.write("src/describe.ts", BROKEN);
    await logs.waitFor(/src\/describe\.ts:1:47 error TS2322/, 60_000);
    assert.match(
      await logs.waitFor(/held back: src\/describe\.ts not reloaded/, 60_000),
      /while the project has 1 type error \(in src\/describe\.ts; --typecheck=strict\); it reloads once they are fixed/,
    );
    assert.equal(server.coordinator.store.get("describe")!.version, before, "nothing was sent");
    assert.equal(await describeOn("n2"), "count 0");

    const reloaded = nextEvent<SaveReport>(server, "saved", (s) => s.report?.ok === true, 60_000);
    project.write("src/describe.ts", describeModule("fixed"));
    await logs.waitFor(/type errors fixed: reloading what was held back \(src\/describe\.ts\)/, 60_000);
    assert.deepEqual(
      (await reloaded).report!.modules.map((m) => m.name),
      ["describe"],
    );
    assert.equal(await describeOn("n1"), "fixed 0");
    assert.equal(await describeOn("n2"), "fixed 0");
  });

  test("=strict: a file held back for its type errors, saved back to the running version, is said to be back (issue 22 item 4)", async () => {
    const { project, server, logs } = await start("strict");
    const running = server.coordinator.store.get("describe")!.version;
    const original = readFileSync(path.join(project.dir, "src/describe.ts"), "utf8");
    project.write("src/describe.ts", BROKEN);
    await logs.waitFor(/held back: src\/describe\.ts not reloaded/, 60_000);
    project.write("src/describe.ts", original);
    const line = await logs.waitFor(/src\/describe\.ts is back to the running version/, 60_000);
    assert.match(line, new RegExp(`describe@${running.slice(0, 8)}; nothing to send`));
  });
});
