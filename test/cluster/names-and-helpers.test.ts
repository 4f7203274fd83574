/**
 * The issue "the shell never dies on a typo, and every command tells the
 * truth", rules 10, 12 and the helpers of 14, against real nodes: names as
 * destinations in the API and the shell, registered/unregister, From.pid,
 * spawn of a module that is not a behaviour, and tree/processInfo/links/i/replaceState.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { cli } from "../helpers/cluster";
import { probeCluster, waitUntil } from "../helpers/probe";
import type { Pid } from "../../wire/pid";

const EXTRA = {
  // Not a behaviour: a library of functions.
  "src/util.ts": `export function add(a: number, b: number) { return a + b; }\n`,
  // Answers who called: handleCall's from.pid.
  "src/whoami.ts": `
import type { From } from "devcluster";
export function init() { return { n: 1 }; }
export function handleCall(_msg: unknown, from: From, state: { n: number }) { return { reply: from.pid ?? null, state }; }
`,
};

describe("names, behaviours and the shell's process helpers (issue rules 10, 12, 14)", () => {
  const c = probeCluster(2, EXTRA);

  const evalJson = async (expr: string): Promise<any> => {
    const r = await cli(["shell", "--json", "--eval", expr], c.project.dir);
    assert.equal(r.code, 0, `${expr} failed: ${r.stderr}`);
    return JSON.parse(r.stdout);
  };
  const evalText = async (expr: string): Promise<string> => {
    const r = await cli(["shell", "--eval", expr], c.project.dir);
    assert.equal(r.code, 0, `${expr} failed: ${r.stderr}`);
    return r.stdout;
  };
  const evalFails = async (expr: string): Promise<string> => {
    const r = await cli(["shell", "--eval", expr], c.project.dir);
    assert.equal(r.code, 1, `${expr} should fail; it printed ${r.stdout}`);
    return r.stderr;
  };
  const nodeEval = (node: string, code: string): Promise<any> => c.server.coordinator.nodeRequest(node, { op: "evalOn", code }) as Promise<any>;

  test("rule 10: call, cast and send reach a cluster-wide name on another node; From carries the calling process's pid", async () => {
    const asker = await c.d.spawn("n1");
    const target = await c.d.spawn("n2");
    const who = (await c.server.coordinator.nodeRequest("n2", { op: "spawn", module: "whoami", args: {} })) as Pid;
    await nodeEval("n1", `register("target:x", parsePid("${target}")).then(() => register("whoami:x", parsePid("${who}")))`);

    // A name is any string that does not parse as a pid's text.
    assert.equal(await c.d.do(asker, { op: "call", pid: "target:x", msg: { op: "echo", value: "by name" } }), "by name");
    await c.d.do(asker, { op: "cast", pid: "target:x", msg: "cast by name" });
    await c.d.do(asker, { op: "send", pid: "target:x", msg: "sent by name" });
    await c.d.waitInbox(target, (i) => i.length === 2);
    assert.deepEqual(await c.d.do(target, { op: "inbox" }), [{ cast: "cast by name" }, "sent by name"]);

    assert.equal(String(await c.d.do(asker, { op: "call", pid: "whoami:x", msg: "who?" })), asker.toString());
    // From the shell (no calling process) there is no pid to give.
    assert.equal(await evalJson(`call("whoami:x", "who?")`), null);

    const missing = (await c.d.do(asker, { op: "send", pid: "nobody:x", msg: 1 })) as { error: string; message: string };
    assert.equal(missing.error, "noproc");
    assert.match(missing.message, /no process is registered as nobody:x/);
    assert.equal(((await c.d.do(asker, { op: "call", pid: "nobody:x", msg: 1 })) as { error: string }).error, "noproc");
    await assert.rejects(nodeEval("n1", `register("<n1.99>", self)`), (err: any) => err.code === "badarg" || /reads as a pid/.test(err.message));
  });

  test("rule 10: registered() and unregister(name) in the API and in the shell", async () => {
    const p = await c.d.spawn("n2");
    await nodeEval("n2", `register("reg:a", parsePid("${p}")).then(() => register("reg:b", parsePid("${p}")))`);
    const apiNames = await waitUntil(async () => {
      const names = (await nodeEval("n1", "registered()")) as string[];
      return names.includes("reg:a") && names.includes("reg:b") ? names : undefined;
    });
    assert.deepEqual(apiNames, [...apiNames].sort());
    assert.ok(apiNames.includes("probe:n1") && apiNames.includes("probe:n2"));
    assert.deepEqual(
      ((await evalJson("registered()")) as string[]).filter((n) => n.startsWith("reg:")),
      ["reg:a", "reg:b"],
    );

    // In the API: the name is gone for the node that dropped it at once, the process lives on.
    assert.equal(await nodeEval("n1", `unregister("reg:a").then(async (was) => [was, await whereis("reg:a")])`).then(JSON.stringify), "[true,null]");
    assert.equal(await nodeEval("n1", `unregister("reg:a")`), false);
    // In the shell.
    assert.equal(await evalJson(`unregister("reg:b")`), true);
    assert.equal(await evalJson(`whereis("reg:b")`), null);
    assert.equal(await evalJson(`unregister("reg:b")`), false);
    assert.ok(!((await evalJson("registered()")) as string[]).some((n) => n.startsWith("reg:")));
    assert.ok(await c.d.alive(p), "unregister ends no process");
  });

  test("rule 12: spawn of a module that is not a behaviour is refused with bad_behaviour, locally, on a remote node and from the shell", async () => {
    const asker = await c.d.spawn("n1");
    for (const node of ["n1", "n2"]) {
      const r = (await c.d.do(asker, { op: "spawn", node, module: "util" })) as { error: string; message: string };
      assert.equal(r.error, "bad_behaviour", `spawn on ${node}: ${JSON.stringify(r)}`);
      assert.match(r.message, /util is not a behaviour: it exports none of init, handleCall, handleCast, handleInfo \(it exports: add\)/);
    }
    const stderr = await evalFails(`spawn("n2", "util", {})`);
    assert.match(stderr, /bad_behaviour: util is not a behaviour/);
    const ps = (await c.server.coordinator.nodeRequest("n2", { op: "ps" })) as { module: string }[];
    assert.ok(!ps.some((p) => p.module === "util"));
  });

  test("rule 14: tree(node) draws each supervisor with its children's ids, pids, modules and restart types, nested", async () => {
    const asker = await c.d.spawn("n2");
    const sup = (await c.d.do(asker, {
      op: "startSupervisor",
      spec: {
        strategy: "one_for_one",
        children: [
          { id: "worker", module: "probe", restart: "transient" },
          { id: "inner", module: "devcluster/supervisor", args: { children: [{ id: "leaf", module: "probe", restart: "temporary" }] } },
        ],
      },
    })) as Pid;
    const text = await evalText(`tree("n2")`);
    const lines = text.split("\n");
    const at = lines.findIndex((l) => l.includes(sup.toString()));
    assert.ok(at >= 0, `the supervisor ${sup} is drawn:\n${text}`);
    assert.match(lines[at]!, /^[├└]─ \(root\)\s+<n2\.\d+>\s+devcluster\/supervisor/);
    assert.match(lines[at + 1]!, /^[│ ] {2}├─ worker\s+<n2\.\d+>\s+probe\s+transient/);
    assert.match(lines[at + 2]!, /^[│ ] {2}└─ inner\s+<n2\.\d+>\s+devcluster\/supervisor\s+permanent/);
    assert.match(lines[at + 3]!, /^[│ ] {5}└─ leaf\s+<n2\.\d+>\s+probe\s+temporary/);
    const json = (await evalJson(`tree("n2")`)) as Record<string, any[]>;
    const root = json.n2!.find((t) => t.pid === sup.toString());
    assert.deepEqual(
      root.children.map((ch: any) => [ch.id, ch.module, ch.restart, ch.children?.map((l: any) => l.id)]),
      [
        ["worker", "probe", "transient", undefined],
        ["inner", "devcluster/supervisor", "permanent", ["leaf"]],
      ],
    );
  });

  test("rule 14: processInfo(pid), links(pid) and i() show a process's facts, by pid or by name, across nodes", async () => {
    const a = await c.d.spawn("n1");
    const b = await c.d.spawn("n2");
    await c.d.do(a, { op: "link", pid: b });
    const info = await evalJson(`processInfo("probe:n2")`);
    assert.equal(info.pid, (await c.d.probe("n2")).toString());
    assert.deepEqual(info.names, ["probe:n2"]);
    assert.equal(info.module, "probe");
    assert.deepEqual(await evalJson(`links("${b}")`), [a.toString()]);
    const table = await evalText("i()");
    const row = table.split("\n").find((l) => l.startsWith(a.toString()));
    assert.ok(row, `i() lists ${a}:\n${table}`);
    assert.match(row!, new RegExp(`probe\\s+waiting\\s+\\d+\\s+\\d+\\s+${b.toString().replace(/[.<>]/g, "\\$&")}`));
    assert.ok(
      table.split("\n").some((l) => l.startsWith(b.toString())),
      "and processes of the other node",
    );
    assert.match(table, /\d+ processes on 2 nodes \(n1, n2\)/);
  });

  test("rule 14: replaceState(pid, fn) runs fn on the process's node between its messages and keeps its result as the state", async () => {
    const asker = await c.d.spawn("n1");
    const p = await c.d.spawn("n2");
    // Suspended, with a message waiting: replaceState is a system message, so it runs anyway, and the message after it.
    await c.d.do(asker, { op: "suspend", pid: p });
    await c.d.do(asker, { op: "send", pid: p, msg: "queued" });
    const out = await evalJson(`replaceState("${p}", (s) => ({ ...s, inbox: [...s.inbox, "planted on " + node] }))`);
    assert.deepEqual(out.inbox, ["planted on n2"]);
    await c.d.do(asker, { op: "resume", pid: p });
    await c.d.waitInbox(p, (i) => i.length === 2);
    assert.deepEqual(await c.d.do(p, { op: "inbox" }), ["planted on n2", "queued"]);
    // A function that throws leaves the state as it was, and says so.
    const stderr = await evalFails(`replaceState("${p}", (s) => { throw new Error("no thanks"); })`);
    assert.match(stderr, /callback_failed: .*no thanks/);
    assert.deepEqual(await c.d.do(p, { op: "inbox" }), ["planted on n2", "queued"]);
  });
});
