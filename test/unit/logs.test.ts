import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { LogStore, toRecord } from "../../cli/dev/logs";
import { LogFormatter } from "../../cli/views/logLines";

describe("up's log records and the store behind devcluster logs", () => {
  test("a node's pino line stays as it is; anything else is wrapped with the node's name", () => {
    const pino = JSON.stringify({ level: 30, time: 5, node: "n1", msg: "node started" });
    assert.deepEqual(toRecord("n1", pino), JSON.parse(pino));
    const user = toRecord("n1", JSON.stringify({ level: 30, time: 5, msg: "mine" }));
    assert.equal(user.stream, "stdout");
    assert.equal(user.node, "n1");
    assert.equal(toRecord("n2", "oops", "stderr").level, 40);
  });

  test("an error reads code: message on one line when the message says where it happened", () => {
    const f = new LogFormatter(["up", "n1"]);
    const rec = {
      ...toRecord("n1", JSON.stringify({ level: 40, time: 5, node: "n1", msg: "prepare failed" })),
      err: { code: "eval_failed", message: "bad failed (Error at bad.ts:2:7)", stack: "E\n    at x (/p/src/bad.ts:2:7)", source: "src/bad.ts:2:7\n 2 | x" },
    };
    const text = f.format(rec);
    assert.doesNotMatch(text, /\n/);
    assert.match(text, /^n1 {4}\| .*prepare failed: eval_failed: bad failed/);
  });

  // Issue 22: `n2 joined {"member":"n2","osPid":...}` and each reload's line followed by its report as JSON.
  test("up's readable lines are their message alone; warnings and a node's lines keep their fields", () => {
    const f = new LogFormatter(["up", "n1"]);
    const line = (rec: object): string => f.format({ level: 30, time: 5, node: "up", msg: "", ...rec });
    assert.match(line({ msg: "n2 joined", member: "n2", osPid: 4242, endpoint: "tcp://127.0.0.1:1" }), /^up {4}\| \[[\d:.]+\] INFO: n2 joined$/);
    assert.match(
      line({ msg: "save: reloaded chat/format@16ff0e87 on 3 nodes in 14.4 ms", source: "save", modules: [{ name: "chat/format" }], ms: 14.36 }),
      /INFO: save: reloaded chat\/format@16ff0e87 on 3 nodes in 14\.4 ms$/,
    );
    assert.match(
      line({ level: 50, msg: "save: reload of bad@65010ade aborted: no node switched; n1: eval_failed: boom", source: "save", ok: false, failedIn: "prepare" }),
      /ERROR: save: reload of bad@65010ade aborted: no node switched; n1: eval_failed: boom$/,
    );
    const compile = line({
      level: 50,
      msg: "src/a.ts:2:1: error: Unexpected end of file\nNothing was sent; the cluster keeps running the last good version.",
      code: "compile_failed",
      held: [{ file: "src/a.ts", why: "does not compile: src/a.ts:2:1" }],
    });
    assert.match(compile, /\| Nothing was sent; the cluster keeps running the last good version\.$/);
    assert.doesNotMatch(compile, /compile_failed|\{"/);
    assert.match(line({ level: 40, msg: "send failed", to: "n3" }), /WARN: send failed \{"to":"n3"\}$/);
    assert.match(f.format({ level: 30, time: 5, node: "n1", msg: "link to a peer is back", peer: "n2" }), /INFO: link to a peer is back \{"peer":"n2"\}$/);
  });

  test("keeps a bounded number of lines per node, filters by level, and wakes a follower on a new line", async () => {
    const store = new LogStore(["up", "n1"], 10);
    for (let i = 0; i < 300; i++) store.add(toRecord("n1", `line ${i}`, i % 2 ? "stderr" : "stdout"));
    const last = await store.query({ node: "n1", lines: 1000 });
    assert.ok(last.lines.length <= 110, String(last.lines.length));
    assert.equal(last.lines.at(-1)!.msg, "line 299");
    assert.ok((await store.query({ level: "warn", lines: 5 })).lines.every((r) => r.level >= 40));
    await assert.rejects(store.query({ node: "n9" }), /no log for n9/);
    const next = store.query({ node: "n1", after: last.next, waitMs: 10_000 });
    store.add(toRecord("n1", "later"));
    assert.deepEqual(
      (await next).lines.map((r) => r.msg),
      ["later"],
    );
    await store.close();
  });
});
