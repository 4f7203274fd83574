import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { bindingsOf } from "../../cli/save/bindings";
import { Compiler } from "../../cli/save/compiler";

describe("bindings: the names a bundle exports and reads, from esbuild's output as a syntax tree", () => {
  let dir: string;
  let compiler: Compiler;

  before(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "devcluster-bindings-"));
    fs.mkdirSync(path.join(dir, "src"));
    compiler = new Compiler({ projectDir: dir, srcDir: "src" });
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  async function bindingsOfSource(name: string, source: string): Promise<ReturnType<typeof bindingsOf>> {
    const file = path.join(dir, "src", name + ".ts");
    fs.writeFileSync(file, source);
    const [m] = await compiler.compile([file]);
    return bindingsOf(m.code);
  }

  test("exports are the names esbuild lists, quoted ones included", async () => {
    const b = await bindingsOfSource("lib", `export const a = 1;\nexport function b() {}\nconst c = 3;\nexport { c as "odd name", c as default };\n`);
    assert.deepEqual([...b.exports!].sort(), ["a", "b", "default", "odd name"]);
  });

  test("a module that re-exports another whole (export *) has no static export list", async () => {
    fs.writeFileSync(path.join(dir, "src", "lib.ts"), `export const a = 1;\n`);
    const b = await bindingsOfSource("barrel", `export * from "./lib";\nexport const own = 2;\n`);
    assert.equal(b.exports, undefined);
  });

  test("uses are the names read off an import: named imports, ns.x and ns['y'], but not text in strings or comments", async () => {
    fs.writeFileSync(path.join(dir, "src", "lib.ts"), `export const a = 1, b = 2, y = 3;\n`);
    const b = await bindingsOfSource(
      "user",
      `import { a } from "./lib";\nimport * as ns from "./lib";\n// ns.fromComment\nexport const f = () => a + ns.b + ns["y"] + "ns.fromString".length;\n`,
    );
    assert.deepEqual([...b.uses.get("lib")!].sort(), ["a", "b", "y"]);
  });

  test("a namespace handed away (f(ns), ns[k]) may be read whole: its uses are unknown", async () => {
    fs.writeFileSync(path.join(dir, "src", "lib.ts"), `export const a = 1;\n`);
    const passed = await bindingsOfSource("passes", `import * as ns from "./lib";\nexport const keys = Object.keys(ns);\n`);
    assert.ok(passed.uses.has("lib"));
    assert.equal(passed.uses.get("lib"), undefined);
    const indexed = await bindingsOfSource("indexes", `import * as ns from "./lib";\nexport const get = (k: string) => (ns as Record<string, unknown>)[k];\n`);
    assert.equal(indexed.uses.get("lib"), undefined);
  });
});
