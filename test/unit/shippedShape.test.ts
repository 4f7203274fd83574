/**
 * Issue 17: esbuild's output is read once, at compile time, and the module's
 * shape travels with its bundle; a node uses it instead of parsing the bundle.
 */
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { readBundle } from "../../runtime/code/bundleShape";
import { shapeOf } from "../../runtime/code/shippedShape";
import { Compiler, type CompiledModule } from "../../cli/save/compiler";
import { CodeStore, toBundle } from "../../cli/dev/codeStore";
import { decodeControl, encode, type Bundle } from "../../wire/protocol";
import { SHAPE_FORMAT } from "../../wire/moduleShape";

const projectDir = fs.mkdtempSync(path.join(os.tmpdir(), "devcluster-shipped-"));
after(() => fs.rmSync(projectDir, { recursive: true, force: true }));
const compiler = new Compiler({ projectDir, srcDir: "src" });

/** Every shape a bundle can have: both compile paths, classes with fields and #private members, re-exports, import(), plain CommonJS. */
const SOURCES: Record<string, string> = {
  "src/lib.ts": `export const a = 1;\nexport function f() { return a; }\nexport let now = () => 1;\nexport function later() { now = () => 2; }\n`,
  "src/account.ts": [
    `import * as lib from "./lib";`,
    `export default class Account {`,
    `  #balance = 0;`,
    `  history = new Map([`,
    `    [1, \`a`,
    `b\`],`,
    `  ]);`,
    `  #audit() { return lib.a; }`,
    `  static #count = 0;`,
    `  deposit(n: number) { this.#balance += n; return this.#audit(); }`,
    `}`,
    `export class Savings extends Account { rate = 0.1; }`,
  ].join("\n"),
  "src/barrel.ts": `export * from "./lib";\nexport { default as Account } from "./account";\nexport { f as g } from "./lib";\n`,
  "src/plugins.ts": `export async function load() { const m = await import("./lib"); return m.f(); }\nconst r = require;\nexport const name = r.name + "see lib.x";\n`,
  "src/loop.ts": `import { f } from "./lib";\nlet n = 0;\nfor (const x of [1, 2]) n += x + f();\nexport { n };\n`,
  "src/server.ts": `import { hot } from "devcluster";\nexport const port = 1;\nhot.dispose(() => {});\nimport.meta.hot?.dispose(() => {});\n`,
  "src/legacy.cjs": `module.exports = { legacy: true };\n`,
  "src/script.js": `#!/usr/bin/env node\nconsole.log(process.argv.length);\n`,
  "src/fmt.ts": `import { shout } from "../shared/shout";\nimport data from "./data.json";\nexport const fmt = (s: string) => shout(s) + data.x;\n`,
  "src/data.json": `{ "x": 1 }\n`,
  "shared/shout.ts": `export const shout = (s: string) => s.toUpperCase();\n`,
};

async function compileAll(): Promise<CompiledModule[]> {
  for (const [file, text] of Object.entries(SOURCES)) {
    fs.mkdirSync(path.dirname(path.join(projectDir, file)), { recursive: true });
    fs.writeFileSync(path.join(projectDir, file), text);
  }
  return compiler.compileAll();
}

/** The bundles as a node receives them: encoded by the coordinator, decoded (and checked) by the node. */
function received(bundles: Bundle[]): Bundle[] {
  const r = decodeControl(encode({ type: "prepare", reload: 1, bundles, force: false }));
  assert.ok(r.ok, r.ok ? "" : r.reason);
  assert.equal(r.msg.type, "prepare");
  return (r.msg as Extract<typeof r.msg, { type: "prepare" }>).bundles;
}

describe("a bundle's shape shipped with it", () => {
  test("the shape the coordinator ships is, for every kind of bundle, the shape a node reads from the code itself", async () => {
    const modules = await compileAll();
    assert.deepEqual(modules.map((m) => m.name).sort(), ["account", "barrel", "fmt", "legacy", "lib", "loop", "plugins", "script", "server"]);
    for (const bundle of received(modules.map(toBundle))) {
      assert.ok(bundle.shape, `${bundle.name} travels with its shape`);
      assert.deepEqual(shapeOf(bundle), readBundle(bundle.code), `${bundle.name}: the shipped shape is the node's own read`);
    }
    // the set is varied: it exercises every part of a shape
    const shapes = new Map(modules.map((m) => [m.name, readBundle(m.code)]));
    assert.ok(shapes.get("account")!.sites.privates.length > 0 && shapes.get("account")!.sites.classes.length === 2);
    assert.ok(shapes.get("account")!.sites.classes.some((c) => c.fields.length > 0));
    assert.deepEqual(shapes.get("barrel")!.stars, ["lib"]);
    assert.equal(shapes.get("legacy")!.exports, undefined);
    assert.ok(shapes.get("loop")!.loops && shapes.get("plugins")!.dynamicRequire);
    assert.deepEqual([...shapes.get("lib")!.bindings], ["now"]);
  });

  test("a node uses the shape a bundle comes with instead of reading the code", () => {
    const code = "for (;;) {}";
    const shipped = { ...readBundle("exports.x = 1;"), format: SHAPE_FORMAT };
    const bundle: Bundle = {
      name: "m",
      version: "1",
      code,
      imports: [],
      shape: { ...shipped, uses: [], functions: [], classes: [], bindings: [], exports: undefined },
    };
    assert.equal(shapeOf(bundle).loops, false, "the shipped shape, not a parse of the code (which loops)");
    assert.equal(shapeOf({ ...bundle, shape: undefined }).loops, true, "without a shape the node reads the code");
    assert.equal(shapeOf({ ...bundle, shape: { ...bundle.shape!, format: SHAPE_FORMAT + 1 } }).loops, true, "a shape of another format is not used");
  });

  test("a prepare whose shape is malformed is dropped by the decoder, naming the field", async () => {
    const [lib] = (await compileAll()).filter((m) => m.name === "account").map(toBundle);
    const bad = (shape: unknown): string => {
      const r = decodeControl(encode({ type: "prepare", reload: 1, bundles: [{ ...lib!, shape } as Bundle], force: false }));
      assert.equal(r.ok, false);
      return r.ok ? "" : r.reason;
    };
    const shape = lib!.shape!;
    assert.match(bad({ ...shape, loops: "yes" }), /prepare\.bundles\[0\]\.shape loops is malformed/);
    assert.match(bad({ ...shape, sites: { ...shape.sites, privates: [{ key: "k", start: -1, end: 2 }] } }), /shape sites is malformed/);
    assert.match(bad({ ...shape, sites: { ...shape.sites, classes: [{ ...shape.sites.classes[0]!, fields: [{ kind: "eval", key: "x" }] }] } }), /sites/);
    assert.match(bad({ ...shape, uses: [["lib", "a"]] }), /shape uses is malformed/);
    assert.match(bad("shape"), /shape is not an object/);
    assert.ok(received([{ ...lib!, shape: undefined }]), "a bundle without a shape still decodes");
    assert.ok(received([{ ...lib!, shape: { format: SHAPE_FORMAT + 1 } as never }]), "nor is a shape of another format judged");
  });

  test("a rolled-back version, a catch-up and a joining node's welcome carry the shape as a save does", async () => {
    const modules = await compileAll();
    const v1 = modules.find((m) => m.name === "lib")!;
    fs.appendFileSync(path.join(projectDir, "src/lib.ts"), `export const b = 2;\n`);
    const [v2] = await compiler.compile([path.join(projectDir, "src/lib.ts")]);
    const store = new CodeStore();
    store.commit([v1]);
    store.commit([v2!]);
    assert.deepEqual(toBundle(store.previous("lib")!).shape, v1.shape);
    store.rollback([store.previous("lib")!]);
    const [welcome] = received(store.bundles());
    assert.equal(welcome!.version, v1.version);
    assert.deepEqual(shapeOf(welcome!).exports, readBundle(v1.code).exports);
    assert.deepEqual(welcome!.shape, v1.shape);
  });
});
