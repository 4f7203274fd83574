import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";
import { Pid } from "../../wire/pid";
import { FakeNode } from "../helpers/fakeNode";

let nodes: FakeNode[] = [];
function newNode(): FakeNode {
  const n = new FakeNode("n1");
  nodes.push(n);
  return n;
}
afterEach(() => {
  for (const n of nodes) n.close();
  nodes = [];
});

const isDown = (m: unknown): m is { down: string; pid: Pid; reason: unknown } => m !== null && typeof m === "object" && "down" in m;
const isExit = (m: unknown): m is { exit: Pid | null; reason: unknown } => m !== null && typeof m === "object" && "exit" in m;

describe("signals: links", () => {
  test("a link works both ways: whichever side crashes, the other ends with the same reason", async () => {
    for (const dies of ["first", "second"] as const) {
      const n = newNode();
      const a = await n.procs.spawn("probe", {});
      const b = await n.procs.spawn("probe", {});
      n.signals.link(n.proc(a), b);
      assert.ok(n.proc(b).links?.has(a.toString()), "both sides hold the link");
      const [victim, other] = dies === "first" ? [a, b] : [b, a];
      const followed = n.exitOf(other);
      n.procs.kill(victim.id, { code: "boom", message: "on purpose" });
      assert.deepEqual(await followed, { code: "boom", message: "on purpose" }, `${dies} died`);
    }
  });

  test("a process that traps exits gets { exit: pid, reason } instead of ending", async () => {
    const n = newNode();
    const a = await n.procs.spawn("probe", {});
    const b = await n.procs.spawn("probe", {});
    n.proc(a).trapExit = true;
    n.signals.link(n.proc(a), b);
    n.procs.kill(b.id, "crashed");
    const inbox = await n.inboxAfterMarker(a);
    assert.equal(inbox.length, 1);
    const msg = inbox[0];
    assert.ok(isExit(msg) && msg.exit!.equals(b) && msg.reason === "crashed");
    assert.equal(n.procs.get(a.id)?.alive, true);
    assert.equal(n.proc(a).links?.size ?? 0, 0, "the link is gone with the process that ended");
  });

  test("an exit with reason normal does not end a linked process; a trapping one is told", async () => {
    const n = newNode();
    const a = await n.procs.spawn("probe", {});
    const t = await n.procs.spawn("probe", {});
    const b = await n.procs.spawn("probe", {});
    n.proc(t).trapExit = true;
    n.signals.link(n.proc(a), b);
    n.signals.link(n.proc(t), b);
    const gone = n.exitOf(b);
    n.procs.kill(b.id, "normal");
    await gone;
    assert.deepEqual(await n.inboxAfterMarker(a), []);
    assert.equal(n.procs.get(a.id)?.alive, true);
    const told = await n.inboxAfterMarker(t);
    assert.ok(told.length === 1 && isExit(told[0]) && told[0].reason === "normal");
  });

  test("after unlink, the other side's exit no longer reaches the process", async () => {
    const n = newNode();
    const a = await n.procs.spawn("probe", {});
    const b = await n.procs.spawn("probe", {});
    n.signals.link(n.proc(a), b);
    n.signals.unlink(n.proc(a), b);
    assert.equal(n.proc(b).links?.size ?? 0, 0, "unlink removes both sides");
    const gone = n.exitOf(b);
    n.procs.kill(b.id, "crashed");
    await gone;
    assert.equal(n.procs.get(a.id)?.alive, true);
  });

  test("linking to a local pid that is not alive throws noproc", async () => {
    const n = newNode();
    const a = await n.procs.spawn("probe", {});
    assert.throws(() => n.signals.link(n.proc(a), new Pid("n1", 999)), { code: "noproc" });
  });

  test("exit(pid, kill) ends even a process that traps exits, as killed", async () => {
    const n = newNode();
    const a = await n.procs.spawn("probe", {});
    n.proc(a).trapExit = true;
    const gone = n.exitOf(a);
    n.signals.exit(undefined, a, "kill");
    assert.equal(await gone, "killed");
  });

  test("exit(pid, reason) from another process is trapped as a message; exit(self, normal) ends the caller", async () => {
    const n = newNode();
    const a = await n.procs.spawn("probe", {});
    const b = await n.procs.spawn("probe", {});
    n.proc(a).trapExit = true;
    n.signals.exit(b, a, "please stop");
    const inbox = await n.inboxAfterMarker(a);
    assert.ok(inbox.length === 1 && isExit(inbox[0]) && inbox[0].exit!.equals(b) && inbox[0].reason === "please stop");
    n.signals.exit(b, a, "normal");
    assert.equal(n.procs.get(a.id)?.alive, true);
    const gone = n.exitOf(b);
    n.signals.exit(b, b, "normal");
    assert.equal(await gone, "normal");
  });
});

describe("signals: monitors", () => {
  test("a monitor delivers exactly one down with its ref, the pid and the reason", async () => {
    const n = newNode();
    const watcher = await n.procs.spawn("probe", {});
    const target = await n.procs.spawn("probe", {});
    const ref = n.signals.monitor(n.proc(watcher), target);
    n.procs.kill(target.id, "crashed");
    const downs = (await n.inboxAfterMarker(watcher)).filter(isDown);
    assert.equal(downs.length, 1);
    assert.equal(downs[0]!.down, ref);
    assert.ok(downs[0]!.pid.equals(target));
    assert.equal(downs[0]!.reason, "crashed");
    assert.equal(n.proc(watcher).monitors?.size ?? 0, 0, "a fired monitor is gone");
  });

  test("a monitor is one-way: the watcher's own exit does not touch the target, and a normal exit still delivers down", async () => {
    const n = newNode();
    const watcher = await n.procs.spawn("probe", {});
    const target = await n.procs.spawn("probe", {});
    n.signals.monitor(n.proc(watcher), target);
    const other = await n.procs.spawn("probe", {});
    n.signals.monitor(n.proc(other), target);
    const gone = n.exitOf(watcher);
    n.procs.kill(watcher.id, "crashed");
    await gone;
    assert.equal(n.procs.get(target.id)?.alive, true);
    assert.equal(n.proc(target).watchers?.size, 1, "the dead watcher's monitor is dropped at its target");
    n.procs.kill(target.id, "normal");
    const downs = (await n.inboxAfterMarker(other)).filter(isDown);
    assert.ok(downs.length === 1 && downs[0]!.reason === "normal");
  });

  test("monitoring a pid that is not alive gives one down with noproc", async () => {
    const n = newNode();
    const watcher = await n.procs.spawn("probe", {});
    const ref = n.signals.monitor(n.proc(watcher), new Pid("n1", 999));
    const inbox = await n.waitInbox(watcher, (i) => i.some(isDown));
    const downs = inbox.filter(isDown);
    assert.ok(downs.length === 1 && downs[0]!.down === ref && downs[0]!.reason === "noproc");
  });

  test("after demonitor no down arrives, and demonitor answers whether the monitor was active", async () => {
    const n = newNode();
    const watcher = await n.procs.spawn("probe", {});
    const target = await n.procs.spawn("probe", {});
    const ref = n.signals.monitor(n.proc(watcher), target);
    assert.equal(n.signals.demonitor(n.proc(watcher), ref), true);
    assert.equal(n.signals.demonitor(n.proc(watcher), ref), false);
    const gone = n.exitOf(target);
    n.procs.kill(target.id, "crashed");
    await gone;
    assert.deepEqual(await n.inboxAfterMarker(watcher), []);
  });
});

describe("signals: other nodes", () => {
  test("a peer going down ends local processes linked to its pids with noconnection; trapping ones are told", async () => {
    const n = newNode();
    n.connected.add("n2");
    const remote = new Pid("n2", 5);
    const a = await n.procs.spawn("probe", {});
    const t = await n.procs.spawn("probe", {});
    n.proc(t).trapExit = true;
    n.signals.link(n.proc(a), remote);
    n.signals.link(n.proc(t), remote);
    assert.deepEqual(
      n.peerMessages.map((m) => m.msg.type),
      ["link", "link"],
      "the peer is asked to hold the other side",
    );
    const gone = n.exitOf(a);
    n.connected.delete("n2");
    n.signals.nodeDown("n2");
    assert.equal(await gone, "noconnection");
    const told = await n.inboxAfterMarker(t);
    assert.ok(told.length === 1 && isExit(told[0]) && told[0].exit!.equals(remote) && told[0].reason === "noconnection");
  });

  test("a peer going down gives each monitor of its pids one down noconnection, and node monitors a nodedown", async () => {
    const n = newNode();
    n.connected.add("n2");
    const w = await n.procs.spawn("probe", {});
    const ref = n.signals.monitor(n.proc(w), new Pid("n2", 5));
    n.signals.monitorNode(n.proc(w), "n2", true);
    n.connected.delete("n2");
    n.signals.nodeDown("n2");
    const inbox = await n.inboxAfterMarker(w);
    assert.deepEqual(
      inbox.map((m) => (isDown(m) ? ["down", m.down, m.reason] : m)),
      [["down", ref, "noconnection"], { nodedown: "n2" }],
    );
  });

  test("linking to a pid on a node that is not connected gives an immediate noconnection exit signal", async () => {
    const n = newNode();
    const a = await n.procs.spawn("probe", {});
    const gone = n.exitOf(a);
    n.signals.link(n.proc(a), new Pid("n9", 1));
    assert.equal(await gone, "noconnection");
  });

  test("an exit signal from a peer through a link ends the local process; a local exit is sent to linked remote pids and remote watchers", async () => {
    const n = newNode();
    n.connected.add("n2");
    const remote = new Pid("n2", 5);
    const a = await n.procs.spawn("probe", {});
    n.signals.onPeer({ type: "link", from: remote, to: a });
    n.signals.onPeer({ type: "monitor", from: remote, to: a, ref: "#Ref<n2.1>" });
    const b = await n.procs.spawn("probe", {});
    n.signals.onPeer({ type: "link", from: remote, to: b });
    const gone = n.exitOf(a);
    n.signals.onPeer({ type: "exit", from: remote, to: a, reason: "remote crash", link: true });
    assert.equal(await gone, "remote crash");
    const sent = n.peerMessages.filter((m) => m.node === "n2").map((m) => m.msg);
    assert.equal(
      sent.some((m) => m.type === "exit"),
      false,
      "the link was consumed by the incoming signal, so nothing is echoed back",
    );
    assert.deepEqual(
      sent.filter((m) => m.type === "down").map((m) => m.type === "down" && [m.ref, m.reason]),
      [["#Ref<n2.1>", "remote crash"]],
    );
    const bGone = n.exitOf(b);
    n.procs.kill(b.id, "local crash");
    await bGone;
    const exits = n.peerMessages.map((m) => m.msg).filter((m) => m.type === "exit");
    assert.equal(exits.length, 1);
    assert.ok(exits[0]!.type === "exit" && exits[0]!.to.equals(remote) && exits[0]!.reason === "local crash" && exits[0]!.link);
  });

  test("a peer asking to link to a local pid that is gone gets an exit signal noproc back", async () => {
    const n = newNode();
    n.connected.add("n2");
    const remote = new Pid("n2", 5);
    n.signals.onPeer({ type: "link", from: remote, to: new Pid("n1", 999) });
    const back = n.peerMessages.map((m) => m.msg);
    assert.equal(back.length, 1);
    assert.ok(back[0]!.type === "exit" && back[0]!.to.equals(remote) && back[0]!.reason === "noproc" && back[0]!.link);
  });
});
