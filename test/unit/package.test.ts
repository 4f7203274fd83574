import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";

// Issue "every command tells the truth", rule 15: the npm package ships its LICENSE and every file the README links to.
const ROOT = path.join(__dirname, "..", "..", "..");

/** What `npm pack` would put in the tarball (scripts off: packing must not rebuild dist under the running tests). */
function packedFiles(): Set<string> {
  const out = execFileSync("npm", ["pack", "--dry-run", "--json", "--ignore-scripts"], { cwd: ROOT, encoding: "utf8", timeout: 60_000 });
  const [pack] = JSON.parse(out) as { files: { path: string }[] }[];
  return new Set(pack!.files.map((f) => f.path));
}

/** Relative links of a markdown file, as paths from the repository root, and the links of the markdown files they reach. */
function linkedFiles(rel: string, seen = new Set<string>()): Set<string> {
  if (seen.has(rel)) return seen;
  seen.add(rel);
  if (!rel.endsWith(".md")) return seen;
  const text = fs.readFileSync(path.join(ROOT, rel), "utf8");
  for (const m of text.matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)) {
    const target = m[1]!;
    if (/^[a-z]+:/i.test(target)) continue;
    linkedFiles(path.posix.normalize(path.posix.join(path.posix.dirname(rel), target)), seen);
  }
  return seen;
}

describe("the npm package", () => {
  const files = packedFiles();

  test("ships an MIT LICENSE, as package.json says", () => {
    assert.equal((JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")) as { license: string }).license, "MIT");
    assert.ok(files.has("LICENSE"), "LICENSE is not in the package");
    assert.match(fs.readFileSync(path.join(ROOT, "LICENSE"), "utf8"), /^MIT License/);
  });

  test("ships every file the README links to, and the files those link to", () => {
    const linked = [...linkedFiles("README.md")];
    assert.ok(linked.includes("docs/design.md") && linked.includes("examples/chat/README.md"), linked.join(", "));
    const missing = linked.filter((f) => !files.has(f) && ![...files].some((p) => p.startsWith(f.replace(/\/?$/, "/"))));
    assert.deepEqual(missing, [], `linked from the README but not packed: ${missing.join(", ")}`);
  });

  test("ships the CLI, the runtime entry with its types, the templates and the config schema", () => {
    for (const f of [
      "dist/cli/main.js",
      "dist/runtime/index.js",
      "dist/runtime/index.d.ts",
      "cli/project/templates/tsconfig.json",
      "cluster.config.schema.json",
    ]) {
      assert.ok(files.has(f), `${f} is not in the package`);
    }
  });
});
