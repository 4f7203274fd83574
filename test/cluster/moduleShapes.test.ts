import assert from "node:assert/strict";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import type { DevServer } from "../../cli/dev/devServer";
import { makeProject, nextSave, startCluster, type LogCapture, type Project } from "../helpers/cluster";

/** Module shapes of issue 17 (items 9, 10, 12, 14) on three real nodes. */
const files = (): Record<string, string> => ({
  // tsc's default: no esModuleInterop (module is not node16/nodenext), as under ts-node.
  "tsconfig.json": JSON.stringify({ compilerOptions: { module: "commonjs", strict: true } }),
  "src/app.ts": `import "./meta";\nimport "./shared/a";\nimport "./shared/b";\nimport "./plugins/host";\nimport "./usesCjs";\nexport async function start() {}\n`,
  // A CommonJS package that exports a function, as express does.
  "node_modules/cjsfn/package.json": JSON.stringify({ name: "cjsfn", version: "1.0.0", main: "index.js" }),
  "node_modules/cjsfn/index.js": `module.exports = function greet(who) { return "cjs says hi to " + who; };\nmodule.exports.flavour = "plain";\n`,
  "src/usesCjs.ts": `import * as greet from "cjsfn";\nexport const hello = (who: string): string => greet(who) + " (" + greet.flavour + ")";\n`,
  "src/plugins/host.ts": `export async function run(name: string): Promise<string> {\n  const plugin = await import("./impl");\n  return plugin.describe(name) + " " + plugin.default;\n}\n`,
  "src/plugins/impl.ts": impl("v1"),
  "src/greeting.txt": "hello from the source folder\n",
  "src/meta.ts":
    `import { readFileSync } from "node:fs";\n` +
    `export const greeting = () => readFileSync(new URL("./greeting.txt", import.meta.url), "utf8").trim();\n` +
    `export const where = () => ({ url: import.meta.url, filename: import.meta.filename, dirname: import.meta.dirname });\n`,
  "src/shared/count.js": countJs("v1"),
  "src/shared/legacy.cjs": `const { next } = require("./count.js");\nexports.viaCjs = () => next();\n`,
  "src/shared/a.ts": `import { next } from "./count.js";\nexport const fromA = () => next();\n`,
  "src/shared/b.ts": `import { next } from "./count";\nimport { viaCjs } from "./legacy.cjs";\nexport const fromB = () => next();\nexport const fromCjs = () => viaCjs();\n`,
});

const NODES = ["n1", "n2", "n3"];

function impl(tag: string): string {
  return `export const describe = (name: string): string => "impl ${tag} " + name;\nexport default "(default ${tag})";\n`;
}

function countJs(tag: string): string {
  return `let n = 0;\nexport function next() {\n  n += 1;\n  return "${tag}:" + n;\n}\n`;
}

describe("module shapes: import.meta, dynamic import, .js modules, esbuild's warnings and CommonJS packages", () => {
  let project: Project;
  let server: DevServer;
  let logs: LogCapture;
  const rpc = (node: string, module: string, fn: string, ...args: unknown[]): Promise<unknown> =>
    server.coordinator.nodeRequest(node, { op: "rpc", module, fn, args });

  before(async () => {
    project = makeProject(files(), { nodes: 3 });
    ({ server, logs } = await startCluster(project));
  });

  after(async () => {
    await server?.close();
    project?.cleanup();
  });

  test("import.meta.url is the module's file: URL on each node, so new URL('./greeting.txt', import.meta.url) reads the file beside it", async () => {
    const file = path.join(project.dir, "src", "meta.ts");
    for (const node of NODES) {
      assert.equal(await rpc(node, "meta", "greeting"), "hello from the source folder");
      assert.deepEqual(await rpc(node, "meta", "where"), { url: pathToFileURL(file).href, filename: file, dirname: path.dirname(file) });
    }
  });

  test("await import('./impl') loads the project module's current version, before and after a save of it", async () => {
    for (const node of NODES) assert.equal(await rpc(node, "plugins/host", "run", node), `impl v1 ${node} (default v1)`);
    const saved = nextSave(server);
    project.write("src/plugins/impl.ts", impl("v2"));
    const s = await saved;
    assert.equal(s.report?.ok, true, JSON.stringify(s.report ?? s.error?.message));
    for (const node of NODES) assert.equal(await rpc(node, "plugins/host", "run", node), `impl v2 ${node} (default v2)`);
  });

  test("a stateful .js imported by two modules and a .cjs is one instance per node, and saving it reloads it live", async () => {
    for (const node of NODES) {
      assert.equal(await rpc(node, "shared/a", "fromA"), "v1:1");
      assert.equal(await rpc(node, "shared/b", "fromB"), "v1:2");
      assert.equal(await rpc(node, "shared/b", "fromCjs"), "v1:3");
    }
    const saved = nextSave(server);
    project.write("src/shared/count.js", countJs("v2"));
    const s = await saved;
    assert.equal(s.report?.ok, true, JSON.stringify(s.report ?? s.error?.message));
    assert.deepEqual(
      s.report.modules.map((m) => m.name),
      ["shared/count"],
    );
    for (const node of NODES) {
      assert.equal(await rpc(node, "shared/a", "fromA"), "v2:1");
      assert.equal(await rpc(node, "shared/b", "fromCjs"), "v2:2");
    }
  });

  test("without esModuleInterop, import * as greet from a CommonJS package is the package itself, as tsc emits it: greet() runs", async () => {
    for (const node of NODES) assert.equal(await rpc(node, "usesCjs", "hello", node), `cjs says hi to ${node} (plain)`);
    // esbuild's call-import-namespace warning would be untrue here: it is not shown.
    assert.equal(logs.lines.filter((l) => l.includes("call-import-namespace")).length, 0);
  });

  test("an esbuild warning is logged by up with file:line:col and the line, and the save still reloads", async () => {
    const saved = nextSave(server);
    project.write("src/dupkey.ts", `export const limits = () => ({\n  max: 1,\n  max: 2,\n});\n`);
    const s = await saved;
    assert.equal(s.report?.ok, true, JSON.stringify(s.report ?? s.error?.message));
    const line = JSON.parse(await logs.waitFor(/Duplicate key/)) as { level: number; msg: string };
    assert.match(line.msg, /^src\/dupkey\.ts:3:3: warning: Duplicate key "max" in object literal \[duplicate-object-key\]\n +3 \| {3}max: 2,$/m);
    assert.deepEqual(await rpc("n2", "dupkey", "limits"), { max: 2 });

    // Saved again with the same warning (an edit elsewhere in the file): it is not said again.
    const again = nextSave(server);
    project.write("src/dupkey.ts", `export const limits = () => ({\n  max: 5,\n  max: 2,\n  min: 0,\n});\n`);
    assert.equal((await again).report?.ok, true);
    assert.deepEqual(await rpc("n2", "dupkey", "limits"), { max: 2, min: 0 });
    assert.equal(logs.lines.filter((l) => l.includes("Duplicate key")).length, 1, "each warning once");
  });
});
