import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { init, TEMPLATES_DIR } from "../../cli/project/init";
import { loadConfig } from "../../cli/project/config";
import { Compiler } from "../../cli/dev/compiler";

describe("devcluster init", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "devcluster-init-"));
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  test("the templates folder resolves from the compiled file", () => {
    assert.ok(fs.existsSync(path.join(TEMPLATES_DIR, "src", "app.ts")), TEMPLATES_DIR);
    assert.equal(TEMPLATES_DIR, path.resolve(__dirname, "../../../cli/project/templates"));
  });

  test("init in an empty folder writes the starter project and logs each file", async () => {
    const dir = path.join(root, "my-cluster");
    const lines: string[] = [];
    const written = await init(dir, { log: (l) => lines.push(l) });
    const expected = ["cluster.config.json", "tsconfig.json", "src/app.ts", "src/counter.ts", ".gitignore"];
    assert.deepEqual(
      written,
      expected.map((f) => path.join(dir, f)),
    );
    for (const f of expected) assert.ok(lines.includes(`created ${f}`), lines.join("\n"));

    const config = JSON.parse(fs.readFileSync(path.join(dir, "cluster.config.json"), "utf8"));
    assert.deepEqual(config, {
      $schema: "./node_modules/devcluster/cluster.config.schema.json",
      name: "my-cluster",
      src: "src",
      entry: "app",
      nodes: [{ name: "n1" }, { name: "n2" }],
    });
    const tsconfig = JSON.parse(fs.readFileSync(path.join(dir, "tsconfig.json"), "utf8"));
    assert.equal(tsconfig.compilerOptions.strict, true);
    assert.equal(tsconfig.compilerOptions.noEmit, true);
    assert.deepEqual(tsconfig.compilerOptions.types, ["node"]);
    assert.match(tsconfig.compilerOptions.moduleResolution, /^(bundler|node16)$/i);
    assert.deepEqual(fs.readFileSync(path.join(dir, ".gitignore"), "utf8").trim().split("\n"), ["node_modules/", ".devcluster/"]);

    const app = fs.readFileSync(path.join(dir, "src", "app.ts"), "utf8");
    assert.match(app, /from "devcluster"/);
    assert.match(app, /export async function start\(ctx: StartContext\)/);
    assert.match(app, /spawn\(ctx\.node, "counter"/);
    assert.match(app, /register\(`counter:\$\{ctx\.node\}`/);
    const counter = fs.readFileSync(path.join(dir, "src", "counter.ts"), "utf8");
    for (const fn of ["init", "handleCall", "handleCast"]) assert.match(counter, new RegExp(`export function ${fn}\\(`));
  });

  test("the config init writes passes loadConfig", async () => {
    const dir = path.join(root, "loads");
    await init(dir, { log: () => {} });
    const c = loadConfig(path.join(dir, "cluster.config.json"));
    assert.equal(c.name, "loads");
    assert.equal(c.srcDir, path.join(dir, "src"));
    assert.equal(c.entry, "app");
    assert.deepEqual(c.nodes, [
      { name: "n1", env: {} },
      { name: "n2", env: {} },
    ]);
  });

  test("the starter modules compile, with devcluster left external", async () => {
    const dir = path.join(root, "compiles");
    await init(dir, { log: () => {} });
    const mods = await new Compiler({ projectDir: dir, srcDir: path.join(dir, "src") }).compileAll();
    assert.deepEqual(mods.map((m) => m.name).sort(), ["app", "counter"]);
    for (const m of mods) assert.match(m.code, /require\("devcluster"\)/);
  });

  test("init never overwrites an existing file: it skips it and says so", async () => {
    const dir = path.join(root, "existing");
    fs.mkdirSync(path.join(dir, "src"), { recursive: true });
    fs.writeFileSync(path.join(dir, "src", "app.ts"), "// mine\n");
    fs.writeFileSync(path.join(dir, ".gitignore"), "dist/\n");
    const lines: string[] = [];
    const written = await init(dir, { log: (l) => lines.push(l) });
    assert.deepEqual(
      written,
      ["cluster.config.json", "tsconfig.json", "src/counter.ts"].map((f) => path.join(dir, f)),
    );
    assert.equal(fs.readFileSync(path.join(dir, "src", "app.ts"), "utf8"), "// mine\n");
    assert.equal(fs.readFileSync(path.join(dir, ".gitignore"), "utf8"), "dist/\n");
    assert.ok(lines.includes("skipped src/app.ts: it already exists"), lines.join("\n"));
    assert.ok(lines.includes("skipped .gitignore: it already exists"), lines.join("\n"));

    // A second run writes nothing at all.
    assert.deepEqual(await init(dir, { log: () => {} }), []);
  });
});
