import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { inspect } from "node:util";
import { decodeValue, encodeValue } from "../../wire/codec";
import { Pid, parsePid } from "../../wire/pid";
import { FakeNode } from "../helpers/fakeNode";

// Issue "every command tells the truth", rule 15: pids after a node restart stay readable and unique.

describe("pids across a node's restarts", () => {
  test("a first-life pid prints as <n1.42>; the 7th process of n2's second start prints as <n2.7.1>, not <n2.4294967303>", () => {
    assert.equal(String(Pid.of("n1", 42)), "<n1.42>");
    assert.equal(String(Pid.of("n2", 7, 1)), "<n2.7.1>");
    assert.equal(inspect(Pid.of("n2", 7, 1)), "<n2.7.1>");
    assert.equal(JSON.stringify({ p: Pid.of("n2", 7, 12) }), '{"p":"<n2.7.12>"}');
  });

  // Issue 22: a newcomer who sees <n2.5.1> after a node restart finds its third part explained in the README.
  test("the README explains the third part of a pid as the code reads it: <n2.5.1> is process 5 of n2's start after its first restart", () => {
    const readme = readFileSync(path.join(__dirname, "..", "..", "..", "README.md"), "utf8").replace(/\s+/g, " ");
    assert.match(readme, /`<n2\.5\.1>` is the 5th process of n2 after its first restart/);
    const p = parsePid("<n2.5.1>")!;
    assert.deepEqual([p.node, p.serial, p.incarnation], ["n2", 5, 1]);
  });

  test("the same process number in two lives is two different pids, and each parses back to itself", () => {
    const old = Pid.of("n2", 7, 0);
    const now = Pid.of("n2", 7, 1);
    assert.ok(!old.equals(now));
    for (const pid of [old, now, Pid.of("n2", 1, 2_000_000)]) {
      const back = parsePid(pid.toString());
      assert.ok(back?.equals(pid), `${pid} parses back`);
      assert.equal(back?.toString(), pid.toString());
    }
    assert.equal(parsePid("<n2.7.0>")?.toString(), "<n2.7>");
    assert.equal(parsePid("<n2.7.1.1>"), undefined);
    assert.equal(parsePid("<n2.99999999999>"), undefined, "a serial past one life's block would print differently");
  });

  test("the codec carries a restarted node's pid unchanged, as JSON text and inside V8-serialized values", () => {
    const pid = Pid.of("n3", 5, 4);
    const back = decodeValue(encodeValue({ to: pid, at: new Date(0) })) as { to: Pid };
    assert.ok(back.to instanceof Pid && back.to.equals(pid));
    assert.equal(String(back.to), "<n3.5.4>");
  });

  test("a node in its second life hands out <n1.1.1>, <n1.2.1>, …", async () => {
    const n = new FakeNode();
    try {
      n.modules.load("idle", "v1", { init: () => ({}) });
      n.procs.startIdsAt(Pid.of("n1", 1, 1).id);
      const a = await n.procs.spawn("idle", {});
      const b = await n.procs.spawn("idle", {});
      assert.deepEqual([String(a), String(b)], ["<n1.1.1>", "<n1.2.1>"]);
    } finally {
      n.close();
    }
  });
});
