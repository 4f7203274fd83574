import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { CodeStore } from "../../cli/dev/codeStore";
import { DriftCheck, diskDrift } from "../../cli/dev/diskDrift";
import { Compiler } from "../../cli/save/compiler";

// issue 17, item 11: `status` blamed the importer when a file bundled into it changed.
describe("status's drift check names the file that differs from what the nodes run", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "devcluster-drift-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (rel: string, text: string): void => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  };

  test("a saved ../shared/fmt.ts is named, with the module it is bundled into; then the module's own file first, and the file a typo is in", async () => {
    write("shared/fmt.ts", `export const fmt = (n: number): string => "n=" + n;\n`);
    write("src/chat/room.ts", `import { fmt } from "../../shared/fmt";\nexport const show = (): string => fmt(1);\n`);
    write("src/plain.ts", `export const plain = 1;\n`);
    const compiler = new Compiler({ projectDir: dir, srcDir: "src" });
    const store = new CodeStore();
    store.commit(await compiler.compileAll());
    assert.deepEqual(await diskDrift(compiler, store), []);

    write("shared/fmt.ts", `export const fmt = (n: number): string => "#" + n;\n`);
    const [one, ...none] = await diskDrift(compiler, store);
    assert.deepEqual(none, []);
    assert.equal(one!.module, "chat/room");
    assert.equal(one!.file, "shared/fmt.ts");
    assert.equal(one!.why, "shared/fmt.ts changed on disk and is not loaded yet (bundled into src/chat/room.ts)");

    write("src/chat/room.ts", `import { fmt } from "../../shared/fmt";\nexport const show = (): string => fmt(2);\n`);
    const [both] = await diskDrift(compiler, store);
    assert.equal(both!.file, "src/chat/room.ts");
    assert.equal(both!.why, "src/chat/room.ts, shared/fmt.ts changed on disk and are not loaded yet");

    write("shared/fmt.ts", `export const fmt = (n: number): string => "#" + n +;\n`);
    const [broken] = await diskDrift(compiler, store);
    assert.equal(broken!.file, "shared/fmt.ts");
    assert.match(broken!.why, /^shared\/fmt\.ts does not compile \(bundled into src\/chat\/room\.ts\) \(shared\/fmt\.ts:1:\d+: error: /);
  });
});

// issue 20, item 3: status (and ps(), nodes(), Tab in the shell) compiled every module again on each look: 2 s at 500 modules.
describe("status's drift check compiles again only the modules whose files changed since its last look", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "devcluster-drift-"));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const write = (rel: string, text: string): void => {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  };

  test("a second look compiles nothing and says the same; a saved module, a saved bundled file, a new module file and a tsconfig edit are each looked at again", async () => {
    write("shared/fmt.ts", `export const fmt = (n: number): string => "n=" + n;\n`);
    write("src/room.ts", `import { fmt } from "../shared/fmt";\nexport const show = (): string => fmt(1);\n`);
    write("src/a.ts", `export const a = 1;\n`);
    write("src/b.ts", `export const b = 1;\n`);
    const compiler = new Compiler({ projectDir: dir, srcDir: "src" });
    const store = new CodeStore();
    store.commit(await compiler.compileAll());
    // Stamps trusted at once; every write below changes the file's size, so its stamp differs within one clock tick too.
    const check = new DriftCheck(compiler, store, -Infinity);

    assert.deepEqual(await check.find(), []);
    assert.equal(check.lastCompiled, 3);
    assert.deepEqual(await check.find(), []);
    assert.equal(check.lastCompiled, 0);

    write("src/a.ts", `export const a = 22;\n`);
    const [a] = await check.find();
    assert.equal(check.lastCompiled, 1);
    assert.equal(a!.why, "src/a.ts changed on disk and is not loaded yet");
    const [again] = await check.find();
    assert.equal(check.lastCompiled, 0);
    assert.equal(again!.why, "src/a.ts changed on disk and is not loaded yet");

    write("shared/fmt.ts", `export const fmt = (n: number): string => "#" + n;\n`);
    const both = await check.find();
    assert.equal(check.lastCompiled, 1);
    assert.deepEqual(
      both.map((d) => d.why),
      ["src/a.ts changed on disk and is not loaded yet", "shared/fmt.ts changed on disk and is not loaded yet (bundled into src/room.ts)"],
    );

    write("src/a.ts", `export const a = 1;\n`);
    write("shared/fmt.ts", `export const fmt = (n: number): string => "n=" + n;\n`);
    assert.deepEqual(await check.find(), []);

    // A module file added can change what an import resolves to; a tsconfig edit what every file compiles to.
    write("src/c.ts", `export const c = 1;\n`);
    assert.deepEqual(await check.find(), []);
    assert.equal(check.lastCompiled, 3);
    write("tsconfig.json", `{ "compilerOptions": { "target": "es2022" } }\n`);
    await check.find();
    assert.equal(check.lastCompiled, 3);

    // A file that does not compile is looked at on every look, so its fix shows at once.
    write("src/b.ts", `export const b = ;\n`);
    const [broken] = await check.find();
    assert.match(broken!.why, /^src\/b\.ts does not compile/);
    await check.find();
    assert.equal(check.lastCompiled, 1);
    write("src/b.ts", `export const b = 1;\n`);
    assert.deepEqual(await check.find(), []);
  });

  test("the first look after up compiles nothing when no file changed since up compiled them, and sees one that did", async () => {
    write("boot/src/one.ts", `export const one = 1;\n`);
    write("boot/src/two.ts", `export const two = 2;\n`);
    const compiler = new Compiler({ projectDir: path.join(dir, "boot"), srcDir: "src" });
    const from = { files: compiler.listModules(), startedAt: Date.now(), tsconfig: compiler.tsconfig() };
    const modules = await compiler.compile(from.files);
    const store = new CodeStore();
    store.commit(modules);
    const check = new DriftCheck(compiler, store, -Infinity);
    check.seed(modules, from);
    assert.deepEqual(await check.find(), []);
    assert.equal(check.lastCompiled, 0);
    write("boot/src/two.ts", `export const two = 22;\n`);
    const [two] = await check.find();
    assert.equal(check.lastCompiled, 1);
    assert.equal(two!.why, "src/two.ts changed on disk and is not loaded yet");
  });

  test("a file saved within a clock tick of the look is compiled again on the next one, so a second write in that tick is not missed", async () => {
    write("src/quick.ts", `export const q = 1;\n`);
    const compiler = new Compiler({ projectDir: dir, srcDir: "src" });
    const store = new CodeStore();
    store.commit(await compiler.compile([compiler.fileOf("quick")]));
    const check = new DriftCheck(compiler, store);
    assert.deepEqual(await check.find(), []);
    // Saved a moment ago: its stamp may not yet tell a next write apart, so the next look compiles it again rather than trust it.
    assert.deepEqual(await check.find(), []);
    assert.equal(check.lastCompiled, 1);
    // The same size: only the stamp's clock could tell the two texts apart, and it may not have ticked.
    write("src/quick.ts", `export const q = 2;\n`);
    const [quick] = await check.find();
    assert.equal(quick?.why, "src/quick.ts changed on disk and is not loaded yet");
  });
});
