/**
 * Issue 17 item 13, the node's half in-process: a real module table and the
 * bundles the project's compiler makes, driven through Reloads as the
 * coordinator's messages would. A node evaluates what its entry reaches and
 * what is first used; a reload of anything else is checked and kept.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import pino from "pino";
import { Compiler } from "../../cli/save/compiler";
import { ModuleTable, type Bundle } from "../../runtime/code/loader";
import { Reloads } from "../../runtime/code/reloads";
import type { ControlMessage } from "../../wire/protocol";

const projectDir = fs.mkdtempSync(path.join(os.tmpdir(), "devcluster-firstuse-"));
after(() => fs.rmSync(projectDir, { recursive: true, force: true }));
const compiler = new Compiler({ projectDir, srcDir: "src" });
const log = pino({ level: "silent" });
const g = globalThis as { __ran?: string[] };

/** Each fixture says it ran, so a test sees exactly which top levels were evaluated. */
async function bundle(name: string, body: string): Promise<Bundle> {
  const file = compiler.fileOf(name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${body}\n(globalThis as any).__ran = [...((globalThis as any).__ran ?? []), ${JSON.stringify(name)}];\n`);
  const [m] = await compiler.compile([file]);
  return { name: m!.name, version: m!.version, code: m!.code, imports: m!.imports, shape: m!.shape };
}

function node() {
  const table = new ModuleTable({ srcDir: compiler.srcDir, log, runtimeFor: (_m, hot) => ({ hot }) });
  const sent: ControlMessage[] = [];
  const reloads = new Reloads({
    node: "n1",
    srcDir: compiler.srcDir,
    log,
    table,
    procs: { purge: () => undefined, codeChange: async () => [] },
    toCoordinator: (msg) => void sent.push(msg),
  });
  return { table, reloads, sent };
}

const answers = async (sent: ControlMessage[]): Promise<string[]> => {
  await new Promise((r) => setImmediate(r));
  return sent.filter((m) => m.type !== "loaded").map((m) => m.type);
};

describe("a node evaluates what its entry reaches, and the rest on first use", () => {
  test("join evaluates the entry and its imports, importees first; a launcher script is kept, never run", async () => {
    g.__ran = [];
    const n = node();
    const lib = await bundle("lib", "export const x = 1;");
    const app = await bundle("app", 'import { x } from "./lib";\nexport async function start() { return x; }');
    const launcher = await bundle("scripts/launch", 'if (!process.argv.includes("--port")) process.exit(2);');
    const worker = await bundle("worker", 'import { x } from "./lib";\nexport function init() { return x; }');
    n.reloads.join([launcher, worker, lib, app], "app");
    assert.deepEqual(g.__ran, ["lib", "app"]);
    assert.deepEqual(Object.keys(n.table.versions()).sort(), ["app", "lib"]);
    assert.deepEqual(Object.keys(n.reloads.path.versions()).sort(), ["app", "lib", "scripts/launch", "worker"]);
    assert.deepEqual(n.sent, [{ type: "loaded", node: "n1", modules: ["lib", "app"] }]);
    // its first use loads it with what it imports that is not loaded yet (lib is)
    await n.reloads.loadOnFirstUse("worker");
    assert.deepEqual(g.__ran, ["lib", "app", "worker"]);
    assert.deepEqual(n.sent.at(-1), { type: "loaded", node: "n1", modules: ["worker"] });
    await assert.rejects(
      n.reloads.loadOnFirstUse("scripts/lanch"),
      /^ClusterError: no module scripts\/lanch on node n1 \(known: app, lib, scripts\/launch, worker\)$/,
    );
  });

  test("a reload of a module the node has not loaded checks it and evaluates nothing; a broken one is refused", async () => {
    g.__ran = [];
    const n = node();
    const app = await bundle("app", "export async function start() {}");
    n.reloads.join([app, await bundle("tool", "export const v = 1;")], "app");
    g.__ran = [];
    n.reloads.prepare({ type: "prepare", reload: 1, bundles: [await bundle("tool", "export const v = 2;")], force: false, commit: true });
    assert.deepEqual(await answers(n.sent), ["committed"]);
    assert.deepEqual(g.__ran, [], "nothing ran");
    assert.equal(n.table.has("tool"), false);

    // what the loader would refuse in a module it evaluates, it refuses in one it keeps
    const broken = { ...(await bundle("tool", "export const v = 3;")), code: "module.exports = (;" };
    n.reloads.prepare({ type: "prepare", reload: 2, bundles: [broken], force: false });
    const failed = n.sent.at(-1) as Extract<ControlMessage, { type: "failed" }>;
    assert.equal(failed.type, "failed");
    assert.equal(failed.error.code, "eval_failed");
    assert.equal(failed.error.module, "tool");
    n.reloads.prepare({ type: "prepare", reload: 3, bundles: [{ ...(await bundle("tool", "export const v = 4;")), imports: ["gone"] }], force: false });
    assert.equal((n.sent.at(-1) as Extract<ControlMessage, { type: "failed" }>).error.code, "missing_import");

    // its first use loads the last committed version
    await n.reloads.loadOnFirstUse("tool");
    assert.equal(n.table.current("tool")?.exports.v, 2);
  });

  test("a loaded module's new import is loaded in the same reload, and a first use waits for a prepared reload to commit", async () => {
    g.__ran = [];
    const n = node();
    n.reloads.join([await bundle("app", "export async function start() {}"), await bundle("extra", "export const e = 1;")], "app");
    g.__ran = [];
    const app2 = await bundle("app", 'import { e } from "./extra";\nexport async function start() {}\nexport const got = () => e;');
    const extra2 = await bundle("extra", "export const e = 2;");
    n.reloads.prepare({ type: "prepare", reload: 1, bundles: [extra2, app2], force: false, commit: true });
    assert.deepEqual(g.__ran, ["extra", "app"], "extra is evaluated before app, at its new version");
    assert.equal((n.table.current("app")?.exports.got as () => number)(), 2);

    const w1 = await bundle("w", "export const v = 1;");
    n.reloads.prepare({ type: "prepare", reload: 2, bundles: [w1], force: false, commit: true });
    const w2 = await bundle("w", "export const v = 2;");
    n.reloads.prepare({ type: "prepare", reload: 3, bundles: [w2], force: false });
    const first = n.reloads.loadOnFirstUse("w");
    await new Promise((r) => setImmediate(r));
    assert.equal(n.table.has("w"), false, "it waits while reload 3 is prepared");
    n.reloads.commit({ type: "commit", reload: 3 });
    await first;
    assert.equal(n.table.current("w")?.exports.v, 2, "it loads what the cluster committed");
  });

  test("a reload that removes an export only a module kept unevaluated imports is refused, naming it; changed together, both go through", async () => {
    g.__ran = [];
    const n = node();
    const app = await bundle("app", 'import { b } from "./lib";\nexport async function start() { return b; }');
    const user = await bundle("user", 'import { a } from "./lib";\nexport function init() { return a; }');
    const toolLib = await bundle("toolLib", "export const x = 1;");
    const tool = await bundle("tool", 'import { x } from "./toolLib";\nexport const run = () => x;');
    n.reloads.join([await bundle("lib", "export const a = 1;\nexport const b = 2;"), app, user, toolLib, tool], "app");
    assert.deepEqual(g.__ran, ["lib", "app"]);

    // lib runs here (app reads b), user only imports it: without the check, user would fail at its first use
    n.reloads.prepare({ type: "prepare", reload: 1, bundles: [await bundle("lib", "export const b = 3;")], force: false, commit: true });
    let failed = n.sent.at(-1) as Extract<ControlMessage, { type: "failed" }>;
    assert.equal(failed.type, "failed");
    assert.equal(failed.error.code, "missing_import");
    assert.match(failed.error.message, /^lib would no longer export names that user \(a; not run on this node yet\) still imports\. Nothing was loaded\./);
    assert.equal(n.table.current("lib")?.exports.b, 2, "lib stays on its version");
    // neither toolLib nor tool runs here
    n.reloads.prepare({ type: "prepare", reload: 2, bundles: [await bundle("toolLib", "export const y = 1;")], force: false, commit: true });
    failed = n.sent.at(-1) as Extract<ControlMessage, { type: "failed" }>;
    assert.equal(failed.error.code, "missing_import");
    assert.match(failed.error.message, /^toolLib would no longer export names that tool \(x; not run on this node yet\) still imports/);

    const lib3 = await bundle("lib", "export const b = 3;");
    const user3 = await bundle("user", 'import { b } from "./lib";\nexport function init() { return b; }');
    n.sent.length = 0;
    n.reloads.prepare({ type: "prepare", reload: 3, bundles: [lib3, user3], force: false, commit: true });
    assert.deepEqual(await answers(n.sent), ["committed"]);
    await n.reloads.loadOnFirstUse("user");
    assert.equal((n.table.current("user")?.exports.init as () => number)(), 3);
    await n.reloads.loadOnFirstUse("tool");
    assert.equal((n.table.current("tool")?.exports.run as () => number)(), 1, "the refused reload left toolLib as it was");
  });
});
