import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { CodeStore } from "../../cli/dev/codeStore";
import { diskDrift } from "../../cli/dev/diskDrift";
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
