import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { init, PACKAGE_DIR } from "../../cli/project/init";

/** `tsc --noEmit -p dir` with the project's own typescript: its output, "" when it passes. */
function tsc(dir: string): string {
  try {
    execFileSync(process.execPath, [path.join(dir, "node_modules", "typescript", "bin", "tsc"), "--noEmit", "-p", dir], {
      cwd: dir,
      encoding: "utf8",
      timeout: 120_000,
    });
    return "";
  } catch (err) {
    return `${(err as { stdout?: string }).stdout ?? ""}${(err as Error).message}`;
  }
}

// Issue "every save is what runs", item d: `import.meta.hot` type-checks in user code. The fixture is the starter
// project with node_modules/devcluster linked to this checkout (as npm links a folder dependency) and this repo's
// typescript and @types/node linked in, so the check runs offline against what the package ships.
describe("import.meta.hot in user code", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "devcluster-hot-types-"));
  after(() => fs.rmSync(root, { recursive: true, force: true }));

  test("type-checks in a project with the starter's tsconfig, and is TS2339 without devcluster/client", async () => {
    const dir = path.join(root, "project");
    await init(dir, { log: () => {} });
    const modules = path.join(dir, "node_modules");
    fs.mkdirSync(path.join(modules, "@types"), { recursive: true });
    fs.symlinkSync(PACKAGE_DIR, path.join(modules, "devcluster"), "dir");
    fs.symlinkSync(path.join(PACKAGE_DIR, "node_modules", "typescript"), path.join(modules, "typescript"), "dir");
    fs.symlinkSync(path.join(PACKAGE_DIR, "node_modules", "@types", "node"), path.join(modules, "@types", "node"), "dir");
    fs.writeFileSync(
      path.join(dir, "src", "clients.ts"),
      [
        "const data = import.meta.hot.data as { clients?: Set<string> };",
        "export const clients: Set<string> = (data.clients ??= new Set());",
        "import.meta.hot.setInterval(() => clients.clear(), 1000);",
        "import.meta.hot.dispose(() => undefined);",
        "export const version: string = import.meta.hot.version;",
        "",
      ].join("\n"),
    );
    assert.equal(tsc(dir), "", "tsc --noEmit on a module that uses import.meta.hot");

    // and the check is real: a misuse is an error, and without the types entry import.meta has no hot
    fs.appendFileSync(path.join(dir, "src", "clients.ts"), "export const wrong: number = import.meta.hot.module;\n");
    assert.match(tsc(dir), /clients\.ts\(6,14\): error TS2322/);
    const tsconfigFile = path.join(dir, "tsconfig.json");
    const tsconfig = JSON.parse(fs.readFileSync(tsconfigFile, "utf8")) as { compilerOptions: { types: string[] } };
    tsconfig.compilerOptions.types = ["node"];
    fs.writeFileSync(tsconfigFile, JSON.stringify(tsconfig));
    assert.match(tsc(dir), /error TS2339: Property 'hot' does not exist on type 'ImportMeta'/);
  });
});
