import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readBundle } from "../../runtime/code/bundleShape";
import { needsTimeLimit as limitOf } from "../../runtime/code/watchdog";

/** The watchdog's answer for bundle text, its imports' text given by `codeOf`. */
function needsTimeLimit(code: string, codeOf: (module: string) => string | undefined): boolean {
  return limitOf(readBundle(code), (n) => {
    const imported = codeOf(n);
    return imported === undefined ? undefined : readBundle(imported);
  });
}

const P = "devcluster:project/";

describe("the evaluation time limit", () => {
  const none = (): string | undefined => undefined;

  test("a top level that can loop keeps the limit", () => {
    assert.equal(needsTimeLimit("while (true) {}", none), true);
    assert.equal(needsTimeLimit("for (;;) {}", none), true);
    assert.equal(needsTimeLimit("do {} while (x)", none), true);
  });

  test("a module without a loop that loads only built-ins and devcluster runs without it", () => {
    assert.equal(needsTimeLimit(`var fs = require("node:fs"); var d = require("devcluster"); exports.f = () => 1;`, none), false);
  });

  test("an npm package, a computed require, or a project import with a loop keeps the limit", () => {
    assert.equal(needsTimeLimit(`var l = require("lodash");`, none), true);
    assert.equal(needsTimeLimit(`var l = require(name);`, none), true);
    const code = new Map([
      ["b", "for (;;) {}"],
      ["c", "exports.c = 1;"],
    ]);
    assert.equal(
      needsTimeLimit(`var b = require("${P}b");`, (n) => code.get(n)),
      true,
    );
    assert.equal(
      needsTimeLimit(`var c = require("${P}c");`, (n) => code.get(n)),
      false,
    );
    assert.equal(needsTimeLimit(`var u = require("${P}unknown");`, none), true);
  });

  test("the inline source map is not read as code (base64 can spell a loop)", () => {
    assert.equal(needsTimeLimit("exports.a = 1;\n//# sourceMappingURL=data:application/json;base64,+for/while+", none), false);
  });
});

describe("the evaluation time limit reads the syntax tree", () => {
  const none = (): string | undefined => undefined;

  test("a loop word in a string, a template or a comment is not a loop, and a require in a string is not a require", () => {
    const code = `var s = "for (;;) {}"; var t = \`while (x) \${1}\`; // do { } while (true)\n/* for */ exports.a = 'require("lodash")';`;
    assert.equal(needsTimeLimit(code, none), false);
  });

  test("a loop inside a function body still counts: the function may run at top level", () => {
    assert.equal(needsTimeLimit(`function f() { for (const x of [1]) {} } f();`, none), true);
  });

  test("a require passed around rather than called with a string keeps the limit", () => {
    assert.equal(needsTimeLimit(`var r = require; r("lodash");`, none), true);
  });
});
