import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { evalOn, type NodeOpsHost } from "../../runtime/node/nodeOps";
import { ClusterError } from "../../wire/errors";

// Issue "every command tells the truth", rule 15: evalOn("n1", "const x=1; x+1") returns 2.
// evalOn runs here in-process with a node reduced to what a snippet sees: its name, its folder and an API.
const node = { name: "n1", srcDir: __dirname, api: { double: (x: number) => x * 2 } } as unknown as NodeOpsHost;
const run = (code: string): Promise<unknown> => evalOn(node, code);

describe("evalOn: a snippet's value", () => {
  test("a block's value is its last expression statement's: const x=1; x+1 is 2", async () => {
    assert.equal(await run("const x=1; x+1"), 2);
    assert.equal(await run("const x = 1\nconst y = 2\nx + y"), 3);
    assert.equal(await run("let s = 0; for (const i of [1, 2, 3]) { s += i }\ns"), 6);
    assert.equal(await run("function f() { return 4 }\nf()"), 4);
    assert.equal(await run("const o = { a: 1 }; o.a + 1;"), 2, "a trailing semicolon does not hide the value");
  });

  test("an expression, an awaited call and the runtime API in scope work as before", async () => {
    assert.equal(await run("1 + 1"), 2);
    assert.deepEqual(await run("{ a: 1 }"), { a: 1 });
    assert.equal(await run("const v = await Promise.resolve(3); double(v)"), 6);
    assert.equal(await run("node"), "n1");
  });

  test("strings, templates, regexes and comments holding ; } or line breaks do not split a statement", async () => {
    assert.equal(await run("const s = 'a;b}'; s.length"), 4);
    assert.equal(await run("const t = `x;${'}'}\n`; t"), "x;}\n");
    assert.equal(await run("const r = /[;}]/g; 'a;b}'.replace(r, '')"), "ab");
    assert.equal(await run("const x = 2 // ; 7\n/* } 9 */ x * 3"), 6);
    assert.equal(await run("const x = 1\n+ 2\nx"), 3, "an expression continued on the next line is one statement");
  });

  test("a block that returns, or ends in a statement without a value, keeps its meaning", async () => {
    assert.equal(await run("const x = 5; return x"), 5);
    assert.equal(await run("const x = 5; if (x > 1) { return 'big' }"), "big");
    assert.equal(await run("const x = 5;"), undefined);
    assert.equal(await run("if (true) { 7 }"), undefined, "a block statement is not an object literal");
  });

  test("a snippet that does not compile is a syntax_error naming the node", async () => {
    const err = await run("const = 1; 2").catch((e: unknown) => e);
    assert.ok(err instanceof ClusterError && err.code === "syntax_error", String(err));
    assert.match(err.message, /^evalOn n1: /);
  });

  // Issue 22: `evalOn("n3", "1 +")` said "Unexpected token '}'", a brace of the wrapper the snippet runs in.
  test("a syntax error names what is wrong in the user's code, where, and that line, not the wrapper around it", async () => {
    const cases: [string, string][] = [
      ["1 +", "SyntaxError: Unexpected end of input at 1:4 of the code: 1 +"],
      ["const x = 1\nx +* 2", "SyntaxError: Unexpected token at 2:4 of the code: x +* 2"],
      ["await f(", "SyntaxError: Unexpected end of input at 1:9 of the code: await f("],
    ];
    for (const [code, expected] of cases) {
      const err = await run(code).catch((e: unknown) => e);
      assert.ok(err instanceof ClusterError && err.code === "syntax_error", String(err));
      assert.equal(err.message, `evalOn n1: ${expected}`);
    }
  });
});
