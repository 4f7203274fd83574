import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RestartNotice, jsonContent } from "../../cli/dev/restartNotice";

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
