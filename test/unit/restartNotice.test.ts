import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { RestartNotice, changedParts, dependencyState, jsonContent } from "../../cli/dev/restartNotice";

// Issue "every command tells the truth", rule 15: config and dependency warnings are printed once.

describe("the restart warning for cluster.config.json and dependencies", () => {
  const start = jsonContent('{ "name": "demo", "nodes": 2 }')!;

  test("one save seen as several fs events (truncate, half-written, written, written again) warns once", () => {
    let warnings = 0;
    const notice = new RestartNotice(start, () => warnings++);
    for (const text of ["", '{ "name": "demo", "nod', '{ "name": "demo", "nodes": 3 }', '{ "name": "demo", "nodes": 3 }\n']) notice.seen(jsonContent(text));
    assert.equal(warnings, 1);
  });

  test("further edits leave the one warning standing; going back to the started content withdraws it, and a new change warns again", () => {
    let warnings = 0;
    const notice = new RestartNotice(start, () => warnings++);
    notice.seen(jsonContent('{ "name": "demo", "nodes": 3 }'));
    notice.seen(jsonContent('{ "name": "demo", "nodes": 4 }'));
    assert.equal(warnings, 1);
    notice.seen(jsonContent('{\n  "name": "demo",\n  "nodes": 2\n}'));
    notice.seen(jsonContent('{ "name": "demo", "nodes": 5 }'));
    assert.equal(warnings, 2);
  });

  test("a reformatted file that says the same, or a touch, does not warn", () => {
    let warnings = 0;
    const notice = new RestartNotice(start, () => warnings++);
    notice.seen(jsonContent('{"name":"demo","nodes":2}'));
    notice.seen(jsonContent('{ "name": "demo", "nodes": 2 }'));
    assert.equal(warnings, 0);
  });
});

describe("the dependency state a restart depends on", () => {
  test("package.json's dependencies, the lock file and node_modules' top level each count, and changedParts names them", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "devcluster-deps-"));
    try {
      fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "a", dependencies: { ms: "^2" } }));
      const start = dependencyState(dir)!;
      fs.writeFileSync(path.join(dir, "package.json"), JSON.stringify({ name: "a", scripts: { x: "y" }, dependencies: { ms: "^2" } }, null, 2));
      assert.deepEqual(changedParts(start, dependencyState(dir)!), [], "scripts and formatting are no dependency change");
      fs.writeFileSync(path.join(dir, "yarn.lock"), "ms@^2:\n  version 2.1.3\n");
      fs.mkdirSync(path.join(dir, "node_modules", "@types", "node"), { recursive: true });
      fs.writeFileSync(path.join(dir, "node_modules", ".package-lock.json"), "{}");
      assert.deepEqual(changedParts(start, dependencyState(dir)!), ["yarn.lock", "node_modules"]);
      assert.equal(dependencyState(dir)!.node_modules, "@types/node", "scoped packages by name, npm's dotfiles aside");
      fs.writeFileSync(path.join(dir, "package.json"), "");
      assert.equal(dependencyState(dir), undefined, "an emptied package.json (mid-save) says nothing yet");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
