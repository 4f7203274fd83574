import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import { pathToFileURL } from "node:url";
import pino from "pino";
import { ModuleTable } from "../../runtime/code/loader";
import { Compiler } from "../../cli/save/compiler";

describe("import.meta: the module's own file, on the node that runs it", () => {
  const projectDir = fs.mkdtempSync(path.join(os.tmpdir(), "devcluster-import-meta-"));
  after(() => fs.rmSync(projectDir, { recursive: true, force: true }));
  const compiler = new Compiler({ projectDir, srcDir: "src" });

  test("a node whose source folder is elsewhere (another machine) gets its own path, with the source's extension", async () => {
    const source = `export const meta = () => ({ url: import.meta.url, filename: import.meta.filename, dirname: import.meta.dirname, same: import.meta === import.meta });\n`;
    fs.mkdirSync(path.join(projectDir, "src", "lib"), { recursive: true });
    fs.writeFileSync(path.join(projectDir, "src", "lib", "where.ts"), source);
    fs.writeFileSync(path.join(projectDir, "src", "plain.mjs"), source.replace(/ as .*?;/, ";"));
    const elsewhere = path.join(os.tmpdir(), "another-machine", "app", "src");
    const table = new ModuleTable({ srcDir: elsewhere, log: pino({ level: "silent" }), runtimeFor: () => ({}) });
    const bundles = await compiler.compileAll();
    table.commit(table.prepare(bundles.map((m) => ({ name: m.name, version: m.version, code: m.code, imports: m.imports }))));
    try {
      for (const [name, file] of [
        ["lib/where", path.join(elsewhere, "lib", "where.ts")],
        ["plain", path.join(elsewhere, "plain.mjs")],
      ] as const) {
        const meta = (table.current(name)!.exports.meta as () => unknown)();
        assert.deepEqual(meta, { url: pathToFileURL(file).href, filename: file, dirname: path.dirname(file), same: true });
      }
    } finally {
      table.close();
    }
  });
});
