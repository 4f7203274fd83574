/**
 * The node's side of a reload and its names cache, driven with fake hosts:
 * what the coordinator is told, and what a user of the node sees.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import pino from "pino";
import { Pid } from "../../wire/pid";
import { ClusterError } from "../../wire/errors";
import type { ControlMessage } from "../../wire/protocol";
import { Reloads } from "../../runtime/code/reloads";
import type { Bundle } from "../../runtime/code/loader";
import { Names } from "../../runtime/node/names";
import { Calls } from "../../runtime/node/calls";

const log = pino({ level: "silent" });
const bundle = (name: string): Bundle => ({ name, version: "v2", code: "", imports: [] });

function reloadHost(prepare: (bundles: Bundle[]) => unknown) {
  const sent: ControlMessage[] = [];
  const purged: string[] = [];
  const committed: unknown[] = [];
  const aborted: unknown[] = [];
  const host = {
    node: "n1",
    srcDir: "/nonexistent/src",
    log,
    table: {
      has: () => true,
      prepare: ((bundles: Bundle[]) => prepare(bundles)) as never,
      commit: ((load: unknown) => (committed.push(load), [{ name: "m", from: "v1", to: "v2" }])) as never,
      abort: ((load: unknown) => void aborted.push(load)) as never,
    },
    procs: { purge: (m: string) => void purged.push(m), codeChange: async () => [] },
    toCoordinator: (msg: ControlMessage) => void sent.push(msg),
  };
  return { reloads: new Reloads(host), sent, purged, committed, aborted };
}

describe("Reloads", () => {
  test("prepare answers ready, commit swaps and reports committed, purging only a forced load's old processes", async () => {
    const h = reloadHost(() => "load-1");
    h.reloads.prepare({ type: "prepare", reload: 1, bundles: [bundle("m")], force: true });
    assert.deepEqual(h.purged, [], "nothing is killed before every node is ready");
    assert.equal(h.sent[0]?.type, "ready");
    h.reloads.commit({ type: "commit", reload: 1 });
    assert.deepEqual(h.purged, ["m"]);
    assert.deepEqual(h.committed, ["load-1"]);
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      h.sent.map((m) => m.type),
      ["ready", "committed"],
    );
    h.reloads.commit({ type: "commit", reload: 1 });
    assert.equal(h.committed.length, 1, "a commit is applied once");
  });

  test("a prepare that throws answers failed with the loader's code; abort drops a prepared load", () => {
    const h = reloadHost(() => {
      throw new ClusterError("bad_shape", "m lost init", { module: "m" });
    });
    h.reloads.prepare({ type: "prepare", reload: 2, bundles: [bundle("m")], force: false });
    const failed = h.sent[0] as Extract<ControlMessage, { type: "failed" }>;
    assert.equal(failed.type, "failed");
    assert.equal(failed.error.code, "bad_shape");
    assert.equal(failed.error.module, "m");

    const ok = reloadHost(() => "load-3");
    ok.reloads.prepare({ type: "prepare", reload: 3, bundles: [bundle("m")], force: false });
    ok.reloads.abort({ type: "abort", reload: 3 });
    ok.reloads.commit({ type: "commit", reload: 3 });
    assert.deepEqual(ok.aborted, ["load-3"]);
    assert.deepEqual(ok.committed, []);
  });
});

describe("Names", () => {
  function names(alive: (id: number) => boolean = () => true) {
    const calls = new Calls("n1");
    const sent: ControlMessage[] = [];
    const n = new Names({ node: "n1", calls, alive, toCoordinator: (m) => void sent.push(m) });
    return { n, calls, sent };
  }

  test("register asks the coordinator and caches the name; a process's names go when it exits", async () => {
    const { n, calls, sent } = names();
    const pid = new Pid("n1", 4);
    const done = n.register("room", pid);
    const req = sent[0] as Extract<ControlMessage, { type: "register" }>;
    assert.equal(req.type, "register");
    calls.settle(req.ref, { ok: true, value: pid });
    await done;
    assert.equal((await n.whereis("room"))?.toString(), "<n1.4>");
    assert.deepEqual(n.namesOf(pid), ["room"]);
    n.exited(pid);
    assert.deepEqual(n.namesOf(pid), []);
    assert.deepEqual(sent.at(-1), { type: "unregister", name: "room", pid });
  });

  test("register of a taken name rejects with the coordinator's name_taken", async () => {
    const { n, calls, sent } = names();
    const done = n.register("room", new Pid("n1", 4));
    calls.settle((sent[0] as { ref: number }).ref, { ok: false, error: { code: "name_taken", message: "room is <n2.1>" } });
    await assert.rejects(done, (err: unknown) => err instanceof ClusterError && err.code === "name_taken");
  });

  test("a pushed name of a process of ours that is already gone is given back", () => {
    const { n, sent } = names((id) => id !== 9);
    n.update({ type: "names", set: { dead: new Pid("n1", 9), live: new Pid("n2", 1) }, unset: [] });
    assert.deepEqual(n.namesOf(new Pid("n1", 9)), []);
    assert.deepEqual(n.namesOf(new Pid("n2", 1)), ["live"]);
    assert.deepEqual(
      sent.map((m) => m.type),
      ["unregister"],
    );
  });
});
