import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { readBundle } from "../../runtime/code/bundleShape";
import { instrument } from "../../runtime/code/instrument";
import { Compiler } from "../../cli/save/compiler";

const projectDir = fs.mkdtempSync(path.join(os.tmpdir(), "devcluster-shape-"));
after(() => fs.rmSync(projectDir, { recursive: true, force: true }));
const compiler = new Compiler({ projectDir, srcDir: "src" });

async function bundleOf(name: string, source: string): Promise<string> {
  const file = compiler.fileOf(name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, source);
  const [m] = await compiler.compile([file]);
  return m!.code;
}

describe("bundle shape: one parse of esbuild's output", () => {
  test("reads exports, re-exports, uses of imported modules (not in strings), classes, functions and reassigned bindings", async () => {
    fs.mkdirSync(path.join(projectDir, "src"), { recursive: true });
    for (const m of ["lib", "widget", "star"]) fs.writeFileSync(path.join(projectDir, "src", `${m}.ts`), `export const x = 1;\n`);
    const code = await bundleOf(
      "shape",
      [
        `import * as lib from "./lib";`,
        `export { Widget } from "./widget";`,
        `export * from "./star";`,
        `export class Account { #b = 0; n = 1; get b() { return this.#b; } }`,
        `export function health() { return lib.a + "see lib.notAUse"; }`,
        `export let now = () => 1;`,
        `export let fixed = () => 2;`,
        `export function freeze() { now = () => 3; }`,
      ].join("\n"),
    );
    const shape = readBundle(code);
    assert.deepEqual([...shape.exports!.keys()].sort(), ["Account", "Widget", "fixed", "freeze", "health", "now"]);
    assert.deepEqual(shape.stars, ["star"]);
    assert.deepEqual([...shape.uses.get("lib")!], ["a"]);
    assert.deepEqual([...shape.uses.get("widget")!], ["Widget"]);
    assert.deepEqual([...shape.classes.keys()], ["Account"]);
    assert.deepEqual([...shape.functions.keys()].sort(), ["freeze", "health"]);
    assert.deepEqual([...shape.bindings], ["now"], "a let no one reassigns stays a plain export");
    assert.equal(shape.sites.classes[0]!.fields.length, 2, "the lowered #b and n");
    assert.deepEqual(
      shape.sites.helpers.map((h) => h.name),
      ["__reExport", "__toESM", "__privateGet", "__privateAdd"],
    );
    // esbuild's helpers are read apart from the parse when only helpers come before the exports object; a bundle
    // with anything else there is parsed whole, and both ways read the same shape.
    const whole = readBundle(`"use strict";\n` + code);
    const strip = (s: typeof shape): unknown => ({
      ...s,
      sites: {
        ...s.sites,
        afterExports: undefined,
        helpers: s.sites.helpers.map((h) => h.name),
        classes: s.sites.classes.map((c) => c.fields),
        privates: s.sites.privates.map((p) => p.key),
      },
    });
    assert.deepEqual(strip(whole), strip(shape));
  });

  test("instrumenting keeps every line where it was, even with a field initializer over several lines and a template with a line break", async () => {
    const source = [
      "export class Node {",
      "  peers = new Map([",
      "    [1, `a",
      "b`],",
      "  ]);",
      "  #term = 0;",
      "  term() { return this.#term; }",
      "}",
      "export function tick() {}",
    ].join("\n");
    const code = await bundleOf("lines", source);
    const out = instrument(code, readBundle(code));
    assert.notEqual(out, code);
    const before = code.split("\n");
    const lines = out.split("\n");
    assert.equal(lines.length, before.length);
    // inserts only add text: each line of the bundle is, in order, within the same line of the output
    const within = (small: string, big: string): boolean => {
      let at = 0;
      for (const ch of small) {
        at = big.indexOf(ch, at) + 1;
        if (at === 0) return false;
      }
      return true;
    };
    for (let i = 0; i < lines.length; i++) assert.ok(within(before[i]!, lines[i]!), `line ${i + 1} moved: ${before[i]} -> ${lines[i]}`);
    // the copied initializer means the same on one line: the template keeps its line break as \n
    assert.match(out, /__devcluster_live\.field\(this, "peers", \(\) => \(new Map\(\[ +\[1, `a\\nb`\] +\]\)\)\)/);
  });
});

describe("bundle shape: fields that cannot be copied out of their class", () => {
  test("a field whose initializer uses super is named as skipped, and the instrumented bundle still compiles", async () => {
    const code = await bundleOf("skip", `class Base { get y() { return 1; } }\nexport class Derived extends Base {\n  x = super.y + 1;\n  z = 2;\n}\n`);
    const shape = readBundle(code);
    const site = shape.sites.classes.find((c) => c.exportName === "Derived")!;
    assert.deepEqual(site.skipped, ["x"]);
    assert.equal(site.fields.length, 1);
    assert.doesNotThrow(() => new Function("__devcluster_live", "module", "exports", "require", instrument(code, shape)));
  });
});

describe("bundle shape: private members", () => {
  test("esbuild's stores of a lowered #private member are shared across versions; a module's own WeakMap is not", async () => {
    const code = await bundleOf(
      "own",
      `export class A { #x = 1; get x() { return this.#x; } }\nlet _seen: WeakMap<object, number>;\n_seen = new WeakMap();\nexport const seen = () => _seen;\n`,
    );
    assert.deepEqual(
      readBundle(code).sites.privates.map((p) => p.key),
      ["A:_x:0"],
    );
  });
});

describe("bundle shape: whether a module may register hot.dispose", () => {
  test("only a read of dispose on the module's hot object counts, through any alias; a hot object handed elsewhere counts too", () => {
    const cases: [string, boolean][] = [
      [`sub.dispose();`, false],
      [`var help = "import.meta.hot.dispose(cb)";`, false],
      [`__devcluster_hot?.dispose(() => {});`, true],
      [`__devcluster_hot["dispose"](() => {});`, true],
      [`if (__devcluster_hot) __devcluster_hot.data.n = 1;`, false],
      [`var import_devcluster = __toESM(require("devcluster")); (0, import_devcluster.spawn)(1); import_devcluster.hot.on("x", f);`, false],
      [`var import_devcluster = require("devcluster"); import_devcluster.hot.dispose(f);`, true],
      [`var { hot: h, spawn } = require("devcluster"); spawn(1); h.dispose(f);`, true],
      [`var rt = require("devcluster"); var h = rt.hot; h["dispose"](f);`, true],
      [`require("devcluster").hot.dispose(f);`, true],
      [`keep(__devcluster_hot);`, true],
      [`var rt = require("devcluster"); keep(rt);`, true],
    ];
    for (const [code, disposes] of cases) assert.equal(readBundle(code).disposes, disposes, code);
  });
});
