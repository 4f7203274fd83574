/**
 * The layout of a module's top-level scope (runtime/code/moduleScope.ts): the names the
 * bundle's shape carries, which every version's tail reads and every patch declares
 * first, are exactly those the instrumented code declares, in V8's order. Were they not,
 * each patch would move a slot and V8 would keep every closure's old body.
 */
import assert from "node:assert/strict";
import * as acorn from "acorn";
import * as path from "node:path";
import { describe, test } from "node:test";
import { Compiler } from "../../cli/save/compiler";
import { readBundle } from "../../runtime/code/bundleShape";
import { declaredNames } from "../../runtime/code/declaredNames";
import { instrument } from "../../runtime/code/instrument";
import { layoutNames } from "../../runtime/code/moduleScope";

const ROOT = path.join(__dirname, "..", "..", "..");

const projects: [string, string[]][] = [
  [path.join(ROOT, "test", "fixtures", "raft-kv"), ["raft/node", "raft/messages", "kv/store"]],
  [path.join(ROOT, "examples", "chat"), ["chat/room", "chat/rooms", "chat/session", "chat/format", "chat/tree", "chat/accept", "chat/listener", "app"]],
];

describe("the layout of a module's top-level scope", () => {
  test("the names shipped with the shape are those the instrumented bundle declares, in order", async () => {
    let checked = 0;
    for (const [dir, modules] of projects) {
      const compiler = new Compiler({ projectDir: dir, srcDir: "src" });
      for (const m of await compiler.compile(modules.map((n) => compiler.fileOf(n)))) {
        const shape = readBundle(m.code);
        const code = instrument(m.code, shape);
        const program = acorn.parse(code, { ecmaVersion: "latest", sourceType: "script", allowReturnOutsideFunction: true }) as unknown as { body: never[] };
        assert.deepEqual(layoutNames(shape), declaredNames(program.body), m.name);
        assert.ok(shape.top.length > 0, m.name);
        checked++;
      }
    }
    assert.equal(checked, 11);
  });

  test("a var in a block, a destructured const and a class all take their place", async () => {
    const shape = readBundle(`var __defProp = Object.defineProperty;
var a = 1;
if (a) { var b = 2; let hidden = 3; }
const { c, d: [e] } = { c: 1, d: [2] };
class K {}
function f() { var inner = 1; }
`);
    assert.deepEqual(shape.top, ["__defProp", "a", "b", "c", "e", "K", "f"]);
  });
});
