import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { execFileSync } from "node:child_process";
import { init, installArgs, PACKAGE_DIR, TEMPLATES_DIR } from "../../cli/project/init";
import { loadConfig } from "../../cli/project/config";
import { Compiler } from "../../cli/save/compiler";

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
    assert.deepEqual(tsconfig.compilerOptions.types, ["node", "devcluster/client"]);
    assert.match(tsconfig.compilerOptions.moduleResolution, /^(bundler|node16)$/i);
    const ignored = fs
      .readFileSync(path.join(dir, ".gitignore"), "utf8")
      .split("\n")
      .filter((l) => l && !l.startsWith("#"));
    assert.deepEqual(ignored, ["node_modules/", ".devcluster/", "*.keys"]);

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

  test("git ignores the key files `keys export` writes in a project init made (issue 18 item 6)", async () => {
    const dir = path.join(root, "gitignored");
    await init(dir, { log: () => {} });
    execFileSync("git", ["init", "-q"], { cwd: dir });
    for (const file of ["cluster.keys", "deploy/machine2.keys"]) {
      // check-ignore exits 0 for an ignored path, 1 for one git would add
      assert.doesNotThrow(() => execFileSync("git", ["check-ignore", "-q", file], { cwd: dir }), `${file} is not ignored`);
    }
    assert.throws(() => execFileSync("git", ["check-ignore", "-q", "src/app.ts"], { cwd: dir }), "the sources are not ignored");
  });

  test("init run again in an initialized folder does not bring back a sample file the user deleted", async () => {
    const dir = path.join(root, "again");
    await init(dir, { log: () => {} });
    fs.rmSync(path.join(dir, "src", "counter.ts"));
    fs.rmSync(path.join(dir, ".gitignore"));
    const lines: string[] = [];
    assert.deepEqual(await init(dir, { log: (l) => lines.push(l) }), []);
    assert.ok(!fs.existsSync(path.join(dir, "src", "counter.ts")), "src/counter.ts came back");
    assert.ok(!fs.existsSync(path.join(dir, ".gitignore")), ".gitignore came back");
    assert.match(lines.join("\n"), /cluster\.config\.json exists: .* was initialized before, so init writes nothing/);
  });

  test("the hint installs devcluster from this checkout's folder (it is not on the registry) and TypeScript 5 with Node 20's types", async () => {
    const dir = path.join(root, "hint");
    const lines: string[] = [];
    await init(dir, { log: (l) => lines.push(l) });
    const next = lines.find((l) => l.startsWith("Next: "))!;
    assert.ok(next.includes(`npm install --save-dev ${installArgs(dir).join(" ")}, then npx devcluster up`), next);
    const [folder, ...deps] = installArgs(dir);
    assert.equal(path.resolve(dir, folder!), PACKAGE_DIR, "devcluster comes from the folder init runs from");
    assert.deepEqual(deps, ["typescript@5", "@types/node@20"]);
    // A project that already depends on devcluster (or has it installed) is only told about the type-checking packages.
    fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ devDependencies: { devcluster: "file:" + PACKAGE_DIR } }));
    assert.deepEqual(installArgs(dir), ["typescript@5", "@types/node@20"]);
  });

  // Issue "every command tells the truth", rule 9. `npm install` from the registry is too slow and depends on the
  // network here, so the test installs what the hint names the way npm installs it, offline: node_modules/devcluster
  // is a link to this checkout (npm links a folder dependency), typescript and @types/node are links to this repo's
  // own copies (TypeScript 5.9, @types/node 20, the majors the hint pins). Then the project's own tsc must pass.
  test("the project init writes type-checks with `tsc --noEmit` once the hint's packages are installed", async () => {
    const dir = path.join(root, "typechecks");
    await init(dir, { log: () => {} });
    const modules = path.join(dir, "node_modules");
    fs.mkdirSync(path.join(modules, "@types"), { recursive: true });
    const repoModules = path.join(PACKAGE_DIR, "node_modules");
    fs.symlinkSync(PACKAGE_DIR, path.join(modules, "devcluster"), "dir");
    fs.symlinkSync(path.join(repoModules, "typescript"), path.join(modules, "typescript"), "dir");
    fs.symlinkSync(path.join(repoModules, "@types", "node"), path.join(modules, "@types", "node"), "dir");
    const tsc = path.join(modules, "typescript", "bin", "tsc");
    let out = "";
    try {
      execFileSync(process.execPath, [tsc, "--noEmit", "-p", dir], { cwd: dir, encoding: "utf8", timeout: 120_000 });
    } catch (err) {
      out = `${(err as { stdout?: string }).stdout ?? ""}${(err as Error).message}`;
    }
    assert.equal(out, "", `tsc --noEmit failed in the starter project:\n${out}`);
    // and it checks for real: a type error in a starter file is reported
    fs.appendFileSync(path.join(dir, "src", "app.ts"), "\nexport const wrong: number = spawn;\n");
    assert.throws(
      () => execFileSync(process.execPath, [tsc, "--noEmit", "-p", dir], { cwd: dir, encoding: "utf8", timeout: 120_000 }),
      (err: { stdout?: string }) => /TS2322/.test(err.stdout ?? ""),
    );
  });
});
