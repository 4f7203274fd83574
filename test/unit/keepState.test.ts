import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterEach, describe, test } from "node:test";
import { Pid } from "../../wire/pid";
import { readSnapshot, snapshotPath, writeSnapshot } from "../../wire/snapshotFile";
import { capture, freeze, restore, type ProcRecord, type RestoreReport } from "../../runtime/process/snapshot";
import { asBehaviour } from "../../runtime/process/proc";
import { FakeNode } from "../helpers/fakeNode";

// issue 19: what a process becomes across a restart of its node (runtime/process/snapshot.ts, wire/snapshotFile.ts).

let nodes: FakeNode[] = [];
let dirs: string[] = [];
afterEach(() => {
  for (const n of nodes) n.close();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  nodes = [];
  dirs = [];
});

function node(): FakeNode {
  const n = new FakeNode("n1");
  n.connected.add("n2");
  nodes.push(n);
  return n;
}

function folder(): string {
  const d = mkdtempSync(path.join(tmpdir(), "devcluster-keep-"));
  dirs.push(d);
  return d;
}

/** Freeze, capture, write, read, and restore into `after`: a node restart in one process. */
async function restart(before: FakeNode, after: FakeNode, file = path.join(folder(), "n1.snapshot")): Promise<RestoreReport> {
  const busy = await freeze(before.procs.all());
  const records = capture(
    {
      node: "n1",
      all: () => before.procs.all(),
      versionOf: (p) => before.procs.versionOf(p),
      namesOf: () => [],
      pendingTimers: (p) => before.timers.pendingOf(p),
    },
    busy,
  );
  before.timers.close();
  writeSnapshot(file, { cluster: "test", node: "n1", takenAt: new Date().toISOString(), processes: records.length }, records);
  const { records: read } = readSnapshot(file, { cluster: "test", node: "n1" });
  const { report, procs } = await restore(
    {
      node: "n1",
      exportsOf: (m) => asBehaviour(after.modules.current(m)?.exports),
      currentVersion: (m) => after.modules.current(m)?.version,
      adopt: (p) => after.procs.adopt(p),
      discard: (p) => after.procs.discard(p),
      startTimer: (p, t) => void after.timers.start(p, t.left, () => after.send(t.to, t.msg), t.periodic, t, t.left),
      register: async () => undefined,
      gone: (pid, links, watchers) => {
        for (const to of links) after.signals.onPeer({ type: "exit", from: pid, to, reason: "noproc", link: true });
        for (const [ref, to] of watchers) after.signals.onPeer({ type: "down", to, ref, pid, reason: "noproc" });
      },
    },
    read as ProcRecord[],
  );
  for (const p of procs) after.procs.resume(p.pid.id);
  return report;
}

describe("a process across its node's restart", () => {
  test("comes back with its pid, state, unhandled mailbox, trap-exit flag, links and monitors; its timer fires after the time it had left", async () => {
    const before = node();
    const pid = await before.procs.spawn("probe", { first: true });
    before.send(pid, "handled before");
    await before.waitInbox(pid, (i) => i.length === 1);
    const p = before.proc(pid);
    p.trapExit = true;
    const remote = new Pid("n2", 7);
    before.signals.link(p, remote);
    const ref = before.signals.monitor(p, remote);
    before.timers.start(p, 300, () => before.send(pid, "tick"), false, { to: pid, msg: "tick", ms: 300 });
    before.procs.suspend(pid.id);
    before.send(pid, "waiting in the mailbox");

    const after = node();
    const report = await restart(before, after);
    assert.deepEqual(report, { restored: 1, restarted: [], lost: [] });
    const back = after.proc(pid);
    assert.equal(back.pid.toString(), pid.toString());
    assert.equal(back.trapExit, true);
    assert.deepEqual([...back.links!.keys()], ["<n2.7>"]);
    assert.equal(back.monitors!.get(ref)?.toString(), "<n2.7>");
    assert.deepEqual(await after.waitInbox(pid, (i) => i.length === 3), ["handled before", "waiting in the mailbox", "tick"]);
    // a spawn after the restore does not take a restored pid
    assert.ok((await after.procs.spawn("probe", {})).id > pid.id);
  });

  test("a message in its mailbox that cannot be copied (a local send of a function) is dropped and named; the rest comes back", async () => {
    const before = node();
    const pid = await before.procs.spawn("probe", {});
    before.procs.suspend(pid.id);
    before.send(pid, "first");
    before.send(pid, { reply: () => 1 });
    before.send(pid, "last");
    const after = node();
    const report = await restart(before, after);
    assert.equal(report.restored, 1);
    assert.deepEqual(report.partly, [
      { pid: pid.toString(), module: "probe", why: "1 message of its mailbox could not be copied (msg.reply is a function): dropped" },
    ]);
    assert.deepEqual(await after.waitInbox(pid, (i) => i.length === 2), ["first", "last"]);
  });

  test("runs codeChange when its module's version changed while it was away", async () => {
    const before = node();
    before.modules.load("shape", "v1", { init: () => ({ n: 1 }), handleCall: (_m: unknown, _f: unknown, s: unknown) => ({ reply: s, state: s }) });
    const pid = await before.procs.spawn("shape", {});
    const after = node();
    after.modules.load("shape", "v2", {
      init: () => ({ n: 0, shape: 2 }),
      codeChange: (from: string, s: { n: number }) => ({ ...s, shape: 2, from }),
      handleCall: (_m: unknown, _f: unknown, s: unknown) => ({ reply: s, state: s }),
    });
    assert.equal((await restart(before, after)).restored, 1);
    assert.deepEqual(await after.call(pid, "get"), { n: 1, shape: 2, from: "v1" });
  });

  test("a state that cannot be copied (a function) starts again from init with its first args, same pid, and the report says why", async () => {
    const before = node();
    before.modules.load("holder", "v1", {
      init: (args: unknown) => ({ args, count: 0, handler: () => 1 }),
      handleCall: (_m: unknown, _f: unknown, s: { count: number }) => ({ reply: { ...s, count: ++s.count, handler: undefined }, state: s }),
    });
    const pid = await before.procs.spawn("holder", { first: true });
    await before.call(pid, "count");
    const after = node();
    after.modules.load("holder", "v1", before.modules.current("holder")!.exports);
    const report = await restart(before, after);
    assert.equal(report.restored, 0);
    assert.equal(report.restarted.length, 1);
    assert.equal(report.restarted[0]!.pid, pid.toString());
    assert.match(report.restarted[0]!.why, /its state cannot be copied: .*handler.*function/);
    assert.deepEqual(await after.call(pid, "count"), { args: { first: true }, count: 1, handler: undefined });
  });

  test("a process whose module is gone is named as lost, and what monitored or linked to it hears that it is gone", async () => {
    const before = node();
    before.modules.load("gone", "v1", { init: () => ({}), handleInfo: (_m: unknown, s: unknown) => s });
    const pid = await before.procs.spawn("gone", {});
    const watcher = await before.procs.spawn("probe", {});
    const linked = await before.procs.spawn("probe", {});
    const ref = before.signals.monitor(before.proc(watcher), pid);
    before.proc(linked).trapExit = true;
    before.signals.link(before.proc(linked), pid);
    const after = node();
    const report = await restart(before, after);
    assert.deepEqual(report.lost, [{ pid: pid.toString(), module: "gone", why: "module gone is no longer in the code" }]);
    assert.equal(after.procs.get(pid.id), undefined);
    const [down] = (await after.waitInbox(watcher, (i) => i.length === 1)) as { down: string; pid: Pid; reason: unknown }[];
    assert.deepEqual([down!.down, down!.pid.toString(), down!.reason], [ref, pid.toString(), "noproc"]);
    const [exit] = (await after.waitInbox(linked, (i) => i.length === 1)) as { exit: Pid; reason: unknown }[];
    assert.deepEqual([exit!.exit.toString(), exit!.reason], [pid.toString(), "noproc"]);
    assert.equal(after.proc(linked).links?.size ?? 0, 0);
  });
});

describe("the snapshot file refuses what it must not restore (bad_snapshot)", () => {
  const write = (file: string): void => void writeSnapshot(file, { cluster: "test", node: "n1", takenAt: "now", processes: 1 }, [{ id: 1 }]);
  const refused = (fn: () => unknown, re: RegExp): void =>
    assert.throws(fn, (err: Error & { code?: string }) => {
      assert.match(err.message, re);
      return true;
    });

  test("another cluster's, another node's, another devcluster version's, or a damaged one", () => {
    const file = snapshotPath(folder(), "n1");
    mkdirSync(path.dirname(file));
    write(file);
    assert.deepEqual(readSnapshot(file, { cluster: "test", node: "n1" }).records, [{ id: 1 }]);
    refused(() => readSnapshot(file, { cluster: "other", node: "n1" }), /refused: it was written by cluster "test", this is "other"/);
    refused(() => readSnapshot(file, { cluster: "test", node: "n2" }), /refused: it holds node n1's processes, not n2's/);
    const text = readFileSync(file);
    writeFileSync(file, Buffer.from(text.toString("latin1").replace(/"devcluster":"[^"]*"/, '"devcluster":"0.0.1-old"'), "latin1"));
    refused(() => readSnapshot(file, { cluster: "test", node: "n1" }), /refused: it was written by devcluster 0\.0\.1-old, this is /);
    write(file);
    const damaged = readFileSync(file);
    damaged[damaged.length - 1] ^= 0xff;
    writeFileSync(file, damaged);
    refused(() => readSnapshot(file, { cluster: "test", node: "n1" }), /refused: its contents do not match their checksum/);
    writeFileSync(file, "not a snapshot");
    refused(() => readSnapshot(file, { cluster: "test", node: "n1" }), /refused: it is not a devcluster snapshot/);
  });

  test("is written 0600, and a symbolic link in its place is not followed", () => {
    const dir = folder();
    const file = path.join(dir, "n1.snapshot");
    write(file);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const link = path.join(dir, "link.snapshot");
    symlinkSync(file, link);
    refused(() => readSnapshot(link, { cluster: "test", node: "n1" }), /is a symbolic link/);
  });
});

describe("a peer that restarts with its processes kept (away)", () => {
  test("its down is held, so monitors of its pids hear nothing; if it is not back in time they hear noconnection", async () => {
    const n = node();
    const watcher = await n.procs.spawn("probe", {});
    const remote = new Pid("n2", 3);
    const ref = n.signals.monitor(n.proc(watcher), remote);
    n.signals.peerAway("n2", 200);
    n.connected.delete("n2");
    n.signals.nodeDown("n2");
    assert.deepEqual(await n.inboxAfterMarker(watcher), [], "no down while it is away");
    const [down] = (await n.waitInbox(watcher, (i) => i.length === 1, 3000)) as { down: string; reason: unknown }[];
    assert.deepEqual([down!.down, down!.reason], [ref, "noconnection"]);
  });

  test("back in time, its monitors still hold and hear nothing", async () => {
    const n = node();
    const watcher = await n.procs.spawn("probe", {});
    n.signals.monitor(n.proc(watcher), new Pid("n2", 3));
    n.signals.peerAway("n2", 1);
    n.signals.nodeDown("n2");
    n.signals.nodeUp("n2");
    // Timers of one duration fire in the order they were set: the hold's deadline has passed when this one fires.
    await new Promise((r) => setTimeout(r, 1));
    assert.deepEqual(await n.inboxAfterMarker(watcher), []);
    assert.equal(n.proc(watcher).monitors?.size, 1);
  });
});
