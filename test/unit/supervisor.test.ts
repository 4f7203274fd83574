/**
 * The built-in supervisor driven in-process: real Processes, Signals and
 * Supervision on one fake node (no sockets, no child processes), so its
 * operations are checked as a user sees them: whichChildren, startChild and
 * restartChild answered by the supervisor, with their error codes.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import pino from "pino";
import { Pid } from "../../wire/pid";
import { ClusterError, isClusterError } from "../../wire/errors";
import { Processes, noproc, type ModuleSource } from "../../runtime/process/process";
import { Signals } from "../../runtime/process/signals";
import { SUPERVISOR, type ChildSpec, type SupervisorSpec } from "../../runtime/process/supervisor";
import type { Behaviour } from "../../runtime/process/behaviour";
import { Supervision } from "../../runtime/node/supervision";
import { Calls } from "../../runtime/node/calls";

const log = pino({ level: "silent" });

/** A behaviour that counts calls and crashes on request. */
const worker: Behaviour<{ n: number }, { n?: number } | undefined> = {
  init: (args) => ({ n: args?.n ?? 0 }),
  handleCall: (msg, _from, s) => {
    if (msg === "crash") throw new Error("asked to crash");
    return { reply: s.n, state: { n: s.n + 1 } };
  },
};

const modules: Record<string, Record<string, unknown>> = { worker: worker as Record<string, unknown> };
const table: ModuleSource = {
  has: (name) => name in modules,
  current: (name) => (modules[name] ? { version: "v1", exports: modules[name]! } : undefined),
  old: () => undefined,
  versions: () => Object.fromEntries(Object.keys(modules).map((m) => [m, "v1"])),
};

/** One node's processes with the supervisor built in, as ClusterNode wires them. */
function localNode() {
  const calls = new Calls("n1");
  let ref = 0;
  const node = {
    name: "n1",
    log,
    calls,
    procs: undefined as unknown as Processes,
    signals: undefined as unknown as Signals,
    supervision: undefined as unknown as Supervision,
    async processInfo(pid: Pid) {
      const p = node.procs.get(pid.id);
      if (!p) throw new ClusterError("noproc", noproc(pid).message);
      return node.procs.info(p);
    },
    request(pid: Pid, msg: unknown, timeoutMs: number): Promise<unknown> {
      const { ref, promise } = calls.expect(timeoutMs, `call to ${pid}`);
      if (!node.procs.deliver(pid.id, { kind: "call", msg, from: { node: "n1", ref } })) calls.settle(ref, { ok: false, error: noproc(pid) });
      return promise;
    },
  };
  node.supervision = new Supervision(node);
  node.procs = new Processes(
    table,
    {
      node: "n1",
      log,
      reply: (from, reply) => {
        node.procs.replied(from);
        calls.settle(from.ref, reply);
      },
      exited: (proc, reason) => node.signals.exited(proc, reason),
    },
    { [SUPERVISOR]: node.supervision.behaviour },
  );
  node.signals = new Signals({ node: "n1", procs: node.procs, log, toPeer: () => false, connected: () => false, makeRef: () => `#Ref<n1.${++ref}>` });
  return node;
}

const spec = (children: ChildSpec[]): SupervisorSpec => ({ strategy: "one_for_one", children });

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.equal((err as { code?: unknown }).code, code, String(err));
    return true;
  });
}

describe("supervisor operations are calls to the supervisor", () => {
  test("whichChildren lists the children in start order with their pids, modules and restart", async () => {
    const n = localNode();
    const sup = await n.procs.spawn(
      SUPERVISOR,
      spec([
        { id: "a", module: "worker" },
        { id: "b", module: "worker", restart: "temporary" },
      ]),
    );
    const children = await n.supervision.whichChildren(sup);
    assert.deepEqual(
      children.map((c) => [c.id, c.module, c.restart]),
      [
        ["a", "worker", "permanent"],
        ["b", "worker", "temporary"],
      ],
    );
    for (const c of children) assert.ok(c.pid instanceof Pid && n.procs.get(c.pid.id), `${c.id} is alive`);
    assert.equal(n.procs.info(n.procs.get(children[0]!.pid!.id)!).supervisor?.toString(), sup.toString());
  });

  test("startChild adds a running child; a bad or duplicate spec is refused with bad_child_spec and the supervisor goes on", async () => {
    const n = localNode();
    const sup = await n.procs.spawn(SUPERVISOR, spec([{ id: "a", module: "worker" }]));
    const pid = await n.supervision.startChild(sup, { id: "s1", module: "worker", args: { n: 41 } });
    assert.equal(await n.request(pid, "get", 1000), 41);
    assert.deepEqual(
      (await n.supervision.whichChildren(sup)).map((c) => c.id),
      ["a", "s1"],
    );
    await rejectsWith(n.supervision.startChild(sup, { id: "a", module: "worker" }), "bad_child_spec");
    await rejectsWith(n.supervision.startChild(sup, { id: "", module: "worker" }), "bad_child_spec");
    await rejectsWith(n.supervision.startChild(sup, { id: "x", module: "nowhere" }), "unknown_module");
    assert.deepEqual(
      (await n.supervision.whichChildren(sup)).map((c) => c.id),
      ["a", "s1"],
    );
  });

  test("restartChild gives the child a new pid and fresh state; the old one is gone", async () => {
    const n = localNode();
    const sup = await n.procs.spawn(SUPERVISOR, spec([{ id: "a", module: "worker", args: { n: 7 } }]));
    const [a] = await n.supervision.whichChildren(sup);
    await n.request(a!.pid!, "bump", 1000);
    const fresh = await n.supervision.restartChild(a!.pid!);
    assert.ok(!fresh.equals(a!.pid!));
    assert.equal(n.procs.get(a!.pid!.id), undefined);
    assert.equal(await n.request(fresh, "get", 1000), 7);
    assert.equal((await n.supervision.whichChildren(sup))[0]!.pid?.toString(), fresh.toString());
  });

  test("the error codes: no_supervisor, not_a_child, not_a_supervisor, noproc", async () => {
    const n = localNode();
    const sup = await n.procs.spawn(SUPERVISOR, spec([]));
    const loner = await n.procs.spawn("worker", undefined);
    await rejectsWith(n.supervision.restartChild(loner), "no_supervisor");
    // Started as if by the supervisor but not among its children.
    const stray = await n.procs.spawn("worker", undefined, { supervisor: sup });
    await rejectsWith(n.supervision.restartChild(stray), "not_a_child");
    await rejectsWith(n.supervision.whichChildren(loner), "not_a_supervisor");
    await rejectsWith(n.supervision.startChild(loner, { id: "x", module: "worker" }), "not_a_supervisor");
    await rejectsWith(n.supervision.whichChildren(new Pid("n1", 9999)), "noproc");
    assert.equal(await n.request(loner, "get", 1000), 0, "a user process never saw the supervisor's requests");
  });

  test("a call the supervisor does not know is answered, and the supervisor keeps running", async () => {
    const n = localNode();
    const sup = await n.procs.spawn(SUPERVISOR, spec([]));
    assert.deepEqual(await n.request(sup, { what: 1 }, 1000), { error: "unknown_call", msg: { what: 1 } });
    assert.ok(n.procs.get(sup.id));
  });

  test("a crashed permanent child is restarted with a new pid", async () => {
    const n = localNode();
    const sup = await n.procs.spawn(SUPERVISOR, spec([{ id: "a", module: "worker" }]));
    const [before] = await n.supervision.whichChildren(sup);
    await assert.rejects(n.request(before!.pid!, "crash", 1000), (err: unknown) => isClusterError(err, "process_crashed"));
    let after = before!.pid;
    for (let i = 0; i < 50 && after?.equals(before!.pid!); i++) {
      await new Promise((r) => setTimeout(r, 10));
      after = (await n.supervision.whichChildren(sup))[0]!.pid;
    }
    assert.ok(after && !after.equals(before!.pid!), "restarted");
  });
});
