import assert from "node:assert/strict";
import { afterEach, describe, test } from "node:test";
import type { From } from "../../wire/protocol";
import type { Pid } from "../../wire/pid";
import { CallError, FakeNode, within } from "../helpers/fakeNode";

type Log = { log: string[] };

/** A behaviour that logs every message it handles, in order, and answers `get` with the log. */
const logger = {
  init: (args: { log?: string[] } = {}) => ({ log: args.log ?? [] }),
  handleCall: (msg: { op: string; to?: unknown }, _from: From, state: Log) => {
    if (msg.op === "get") return { reply: [...state.log], state };
    if (msg.op === "boom") throw Object.assign(new Error("boom on purpose"), { code: "my_code" });
    if (msg.op === "garbage") return 42;
    state.log.push(`call ${msg.op}`);
    return { reply: "ok", state };
  },
  handleCast: async (msg: string, state: Log) => {
    // an await inside a handler must not let the next message start
    await new Promise((r) => setImmediate(r));
    return { log: [...state.log, `cast ${msg}`] };
  },
  handleInfo: (msg: string, state: Log) => {
    if (msg === "crash") throw new Error("info crash");
    return { log: [...state.log, `info ${msg}`] };
  },
};

let nodes: FakeNode[] = [];
function newNode(): FakeNode {
  const n = new FakeNode();
  n.modules.load("logger", "v1", logger);
  nodes.push(n);
  return n;
}
afterEach(() => {
  for (const n of nodes) n.close();
  nodes = [];
});

async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<CallError> {
  let caught: unknown;
  await p.catch((err: unknown) => (caught = err));
  assert.ok(caught instanceof CallError, `expected a CallError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code);
  if (message) assert.match(caught.message, message);
  return caught;
}

describe("processes: spawn", () => {
  test("spawn runs init before handing out the pid; the pid names the node and ids do not repeat", async () => {
    const n = newNode();
    const a = await n.procs.spawn("logger", { log: ["from init"] });
    const b = await n.procs.spawn("logger", {});
    assert.equal(a.node, "n1");
    assert.notEqual(a.id, b.id);
    assert.deepEqual(await n.call(a, { op: "get" }), ["from init"]);
    assert.equal(n.procs.count, 2);
  });

  test("a module without init starts with its args as state", async () => {
    const n = newNode();
    n.modules.load("bare", "b1", { handleCall: (_m: unknown, _f: From, s: unknown) => ({ reply: s, state: s }) });
    const p = await n.procs.spawn("bare", { given: 1 });
    assert.deepEqual(await n.call(p, "state?"), { given: 1 });
  });

  test("spawning an unknown module fails with unknown_module naming the known ones", async () => {
    const n = newNode();
    await assert.rejects(n.procs.spawn("nope", {}), (err: Error & { code?: string }) => {
      assert.equal(err.code, "unknown_module");
      assert.match(err.message, /no module nope on node n1 \(known: logger, probe\)/);
      return true;
    });
    assert.equal(n.procs.count, 0);
  });

  test("spawning a module that is not a behaviour is refused at once with bad_behaviour, naming what it exports (rule 12)", async () => {
    const n = newNode();
    n.modules.load("util", "u1", { add: (a: number, b: number) => a + b, start: () => undefined, codeChange: (_v: string, s: unknown) => s });
    await assert.rejects(n.procs.spawn("util", {}), (err: Error & { code?: string }) => {
      assert.equal(err.code, "bad_behaviour");
      assert.match(err.message, /util is not a behaviour: it exports none of init, handleCall, handleCast, handleInfo \(it exports: add, codeChange, start\)/);
      return true;
    });
    assert.equal(n.procs.count, 0);
    assert.deepEqual(n.exits, []);
  });

  test("an init that throws fails spawn with init_failed, and the process is gone and reported exited", async () => {
    const n = newNode();
    n.modules.load("badinit", "x1", {
      init: async () => {
        throw new Error("no config");
      },
    });
    await assert.rejects(n.procs.spawn("badinit", {}), (err: Error & { code?: string }) => err.code === "init_failed" && /no config/.test(err.message));
    assert.equal(n.procs.count, 0);
    assert.equal(n.exits.length, 1);
  });

  test("messages sent during init wait in the mailbox and are handled after it, in order", async () => {
    const n = newNode();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    n.modules.load("slowinit", "s1", {
      ...logger,
      init: async () => {
        await gate;
        return { log: ["init done"] };
      },
    });
    const spawned = n.procs.spawnProc("slowinit", {});
    const proc = [...n.procs.all()][0]!;
    assert.ok(n.send(proc.pid, "early"), "a process in init accepts messages");
    release();
    const pid = (await spawned).pid;
    assert.deepEqual(await n.call(pid, { op: "get" }), ["init done", "info early"]);
  });
});

describe("processes: messages", () => {
  test("casts, infos and calls are handled one at a time in arrival order, even across awaits in a handler", async () => {
    const n = newNode();
    const p = await n.procs.spawn("logger", {});
    n.cast(p, "a");
    n.send(p, "b");
    n.cast(p, "c");
    const first = n.call(p, { op: "x" });
    n.send(p, "d");
    assert.equal(await first, "ok");
    assert.deepEqual(await n.call(p, { op: "get" }), ["cast a", "info b", "cast c", "call x", "info d"]);
  });

  test("a process with a long mailbox of quick messages lets another process handle messages before it is through", async () => {
    const n = newNode();
    const order: string[] = [];
    n.modules.load("quick", "q1", {
      init: (name: string) => name,
      handleCast: (msg: number, name: string) => (order.push(`${name}${msg}`), name),
      handleCall: (_m: unknown, _f: From, name: string) => ({ reply: name, state: name }),
    });
    const a = await n.procs.spawn("quick", "a");
    const b = await n.procs.spawn("quick", "b");
    n.procs.suspend(a.id);
    n.procs.suspend(b.id);
    for (let i = 0; i < 500; i++) n.cast(a, i);
    for (let i = 0; i < 500; i++) n.cast(b, i);
    n.procs.resume(a.id);
    n.procs.resume(b.id);
    await n.call(a, "sync");
    await n.call(b, "sync");
    assert.equal(order.length, 1000);
    assert.deepEqual(
      order.filter((x) => x.startsWith("a")),
      Array.from({ length: 500 }, (_, i) => `a${i}`),
      "each process's messages in order",
    );
    assert.ok(order.indexOf("b0") < order.indexOf("a499"), "b started before a was through its 500 messages");
  });

  test("delivery to a pid that is not alive answers false, and a call to it noproc", async () => {
    const n = newNode();
    const p = await n.procs.spawn("logger", {});
    const gone = n.exitOf(p);
    n.procs.kill(p.id, "shutdown");
    await gone;
    assert.equal(n.cast(p, "late"), false);
    await rejectsWith(n.call(p, { op: "get" }), "noproc");
  });

  test("an info message the module has no handleInfo for is dropped and the process goes on", async () => {
    const n = newNode();
    n.modules.load("noinfo", "n1", { handleCall: (_m: unknown, _f: From, s: unknown) => ({ reply: "alive", state: s }) });
    const p = await n.procs.spawn("noinfo", {});
    n.send(p, "stray");
    assert.equal(await n.call(p, "ping"), "alive");
  });

  test("a handleCall answering noreply leaves the caller waiting until the process replies later", async () => {
    const n = newNode();
    let held: From | undefined;
    n.modules.load("deferred", "d1", {
      handleCall: (msg: string, from: From, s: unknown) => {
        if (msg === "wait") {
          held = from;
          return { noreply: true, state: s };
        }
        return { reply: "other", state: s };
      },
    });
    const p = await n.procs.spawn("deferred", {});
    let settled = false;
    const waiting = n.call(p, "wait").finally(() => (settled = true));
    assert.equal(await n.call(p, "other"), "other", "the process handles later messages meanwhile");
    assert.equal(settled, false);
    // what the runtime's reply(from, value) does for a handler
    n.host.reply(held!, { ok: true, value: "later" });
    assert.equal(await waiting, "later");
  });

  test("a handleCall that answers noreply after its process ended (it was killed during an await) leaves no caller waiting", async () => {
    const n = newNode();
    let go: () => void = () => undefined;
    let started: () => void = () => undefined;
    const underWay = new Promise<void>((r) => (started = r));
    n.modules.load("slow", "s1", {
      handleCall: async (_m: unknown, _f: From, s: unknown) => {
        const later = new Promise<void>((r) => (go = r));
        started();
        await later;
        return { noreply: true, state: s };
      },
    });
    const p = await n.procs.spawn("slow", {});
    const waiting = n.call(p, "wait", 30_000);
    await within(underWay, "the call to be under way");
    n.procs.kill(p.id, "shutdown");
    go();
    await within(rejectsWith(waiting, "noproc"), "the caller's answer", 2000);
  });

  test("a caller left waiting by noreply hears the exit reason when the process ends", async () => {
    const n = newNode();
    n.modules.load("deferred", "d1", { handleCall: (_m: unknown, _f: From, s: unknown) => ({ noreply: true, state: s }) });
    const p = await n.procs.spawn("deferred", {});
    const waiting = n.call(p, "wait");
    await n.barrier(p); // the call has been handled (answered noreply)
    n.procs.kill(p.id, "shutdown");
    await rejectsWith(waiting, "process_exited", /exited before replying: shutdown/);
  });
});

describe("processes: crashes", () => {
  test("a handleCall that throws answers its caller process_crashed and ends only that process, with the error as reason", async () => {
    const n = newNode();
    const victim = await n.procs.spawn("logger", {});
    const bystander = await n.procs.spawn("logger", {});
    const exited = n.exitOf(victim);
    await rejectsWith(n.call(victim, { op: "boom" }), "process_crashed", /crashed: boom on purpose/);
    const reason = (await exited) as { code: string; message: string };
    assert.equal(reason.code, "my_code");
    assert.equal(reason.message, "boom on purpose");
    assert.equal(n.procs.get(victim.id), undefined);
    assert.equal(await n.call(bystander, { op: "y" }), "ok", "the other process goes on");
  });

  test("calls still queued behind the crashing message are answered noproc, not left to time out", async () => {
    const n = newNode();
    const p = await n.procs.spawn("logger", {});
    n.cast(p, "slow"); // its await keeps the next messages queued
    const crash = n.call(p, { op: "boom" });
    const queued = n.call(p, { op: "get" });
    await rejectsWith(crash, "process_crashed");
    await rejectsWith(queued, "noproc");
  });

  test("a handleInfo that throws ends the process with that error as reason", async () => {
    const n = newNode();
    const p = await n.procs.spawn("logger", {});
    const exited = n.exitOf(p);
    n.send(p, "crash");
    assert.equal(((await exited) as { message: string }).message, "info crash");
  });

  test("a handleCall returning something else than { reply, state } crashes with bad_return", async () => {
    const n = newNode();
    const p = await n.procs.spawn("logger", {});
    const exited = n.exitOf(p);
    await rejectsWith(n.call(p, { op: "garbage" }), "process_crashed", /must return \{ reply, state \}.*got 42/);
    assert.equal(((await exited) as { code: string }).code, "bad_return");
  });

  test("a cast to a module without handleCast crashes it with bad_behaviour", async () => {
    const n = newNode();
    n.modules.load("nocast", "c1", { handleCall: (_m: unknown, _f: From, s: unknown) => ({ reply: s, state: s }) });
    const p = await n.procs.spawn("nocast", {});
    const exited = n.exitOf(p);
    n.cast(p, "hi");
    assert.equal(((await exited) as { code: string }).code, "bad_behaviour");
  });
});

describe("processes: exit and terminate", () => {
  test("what a process owns is closed when it ends, by kill too, after terminate and before its exit is reported (rule 11)", async () => {
    const n = newNode();
    const closed: string[] = [];
    n.modules.load("owner", "o1", {
      init: () => ({}),
      terminate: () => void closed.push("terminate"),
    });
    const owned = async (): Promise<Pid> => {
      const p = await n.procs.spawn("owner", {});
      const owns = (n.proc(p).resources ??= new Set());
      owns.add({ destroy: () => closed.push("socket.destroy"), close: () => closed.push("socket.close (not this)") });
      owns.add({ close: () => closed.push("server.close") });
      owns.add({
        end: () => {
          throw new Error("end fails");
        },
      });
      owns.add({ end: () => closed.push("stream.end") });
      n.events.once("exit", () => closed.push("exit reported"));
      return p;
    };
    const killed = await owned();
    const exited = n.exitOf(killed);
    n.signals.exit(undefined, killed, "kill");
    assert.equal(await exited, "killed");
    assert.deepEqual(closed, ["socket.destroy", "server.close", "stream.end", "exit reported"]);
    closed.length = 0;
    const stopped = await owned();
    await n.procs.exit(n.proc(stopped), "shutdown");
    assert.deepEqual(closed, ["terminate", "socket.destroy", "server.close", "stream.end", "exit reported"]);
  });

  test("terminate runs with the reason and the last state before the exit is reported", async () => {
    const n = newNode();
    const seen: unknown[] = [];
    n.modules.load("term", "t1", {
      init: () => ({ n: 7 }),
      terminate: async (reason: unknown, state: unknown) => {
        await new Promise((r) => setImmediate(r));
        seen.push([reason, state]);
      },
    });
    const p = await n.procs.spawn("term", {});
    const exited = n.exitOf(p);
    n.procs.kill(p.id, "shutdown");
    assert.equal(await exited, "shutdown");
    assert.deepEqual(seen, [["shutdown", { n: 7 }]]);
  });

  test("a process killed with reason killed does not run terminate", async () => {
    const n = newNode();
    let ran = false;
    n.modules.load("term", "t1", { init: () => ({}), terminate: () => (ran = true) });
    const p = await n.procs.spawn("term", {});
    const exited = n.exitOf(p);
    n.procs.kill(p.id, "killed");
    assert.equal(await exited, "killed");
    assert.equal(ran, false);
  });

  test("awaitExit resolves with the reason, and at once with noproc for a pid that is gone", async () => {
    const n = newNode();
    const p = await n.procs.spawn("logger", {});
    const waiting = n.procs.awaitExit(p.id);
    n.procs.kill(p.id, "done");
    assert.equal(await within(waiting, "awaitExit"), "done");
    assert.equal(await within(n.procs.awaitExit(p.id), "awaitExit of a dead pid"), "noproc");
  });
});

describe("processes: suspend and resume", () => {
  test("a suspended process keeps ordinary messages in its mailbox and handles them, in order, on resume", async () => {
    const n = newNode();
    const p = await n.procs.spawn("logger", {});
    assert.ok(n.procs.suspend(p.id));
    assert.equal(n.procs.info(n.proc(p)).status, "suspended");
    n.cast(p, "a");
    n.send(p, "b");
    let answered = false;
    const call = n.call(p, { op: "get" }).finally(() => (answered = true));
    // a system message still runs while suspended: once it has, the ordinary ones are known to have been skipped
    await n.barrier(p);
    assert.equal(answered, false);
    assert.equal(n.procs.info(n.proc(p)).mailbox, 3);
    assert.ok(n.procs.resume(p.id));
    assert.deepEqual(await call, ["cast a", "info b"]);
    assert.notEqual(n.procs.info(n.proc(p)).status, "suspended");
  });

  test("suspend and resume of a pid that is not alive answer false", async () => {
    const n = newNode();
    assert.equal(n.procs.suspend(999), false);
    assert.equal(n.procs.resume(999), false);
  });
});

describe("processes: code change on reload", () => {
  test("without codeChange, the next message after a reload runs the new version on the same state", async () => {
    const n = newNode();
    n.modules.load("counter", "c1", { init: () => 1, handleCall: (_m: unknown, _f: From, s: number) => ({ reply: `v1:${s}`, state: s + 1 }) });
    const p = await n.procs.spawn("counter", {});
    assert.equal(await n.call(p, "go"), "v1:1");
    const change = n.modules.load("counter", "c2", { init: () => 1, handleCall: (_m: unknown, _f: From, s: number) => ({ reply: `v2:${s}`, state: s + 1 }) });
    assert.deepEqual(await n.procs.codeChange([change]), []);
    assert.equal(await n.call(p, "go"), "v2:2");
    assert.equal(n.procs.info(n.proc(p)).version, "c2");
  });

  test("codeChange runs before queued messages, gets the old version and state, and its result is the new state", async () => {
    const n = newNode();
    n.modules.load("shape", "s1", { init: () => ({ count: 5 }), handleCall: (_m: unknown, _f: From, s: unknown) => ({ reply: s, state: s }) });
    const p = await n.procs.spawn("shape", {});
    n.procs.suspend(p.id); // so a call is queued when the reload lands
    const queued = n.call(p, "state?");
    const seen: unknown[] = [];
    const change = n.modules.load("shape", "s2", {
      init: () => ({ total: 0 }),
      handleCall: (_m: unknown, _f: From, s: unknown) => ({ reply: s, state: s }),
      codeChange: (from: string, s: { count: number }) => {
        seen.push(from);
        return { total: s.count };
      },
    });
    const failures = n.procs.codeChange([change]);
    n.procs.resume(p.id);
    assert.deepEqual(await within(failures, "codeChange"), []);
    assert.deepEqual(seen, ["s1"]);
    assert.deepEqual(await queued, { total: 5 }, "the queued call sees the converted state");
    assert.deepEqual(n.procs.oldVersionUsers("shape"), []);
  });

  test("a codeChange that throws leaves the process on the old version with its old state, listed as an old-version user", async () => {
    const n = newNode();
    n.modules.load("shape", "s1", { init: () => ({ count: 5 }), handleCall: (_m: unknown, _f: From, s: unknown) => ({ reply: ["v1", s], state: s }) });
    const p = await n.procs.spawn("shape", {});
    const change = n.modules.load("shape", "s2", {
      init: () => ({}),
      handleCall: (_m: unknown, _f: From, s: unknown) => ({ reply: ["v2", s], state: s }),
      codeChange: () => {
        throw Object.assign(new Error("cannot convert"), { code: "bad_state" });
      },
    });
    const failures = await within(n.procs.codeChange([change]), "codeChange");
    assert.equal(failures.length, 1);
    assert.ok(failures[0]!.pid.equals(p));
    assert.equal(failures[0]!.error.code, "bad_state");
    assert.deepEqual(await n.call(p, "who"), ["v1", { count: 5 }]);
    assert.deepEqual(n.procs.oldVersionUsers("shape"), [p.toString()]);
    assert.equal(n.procs.info(n.proc(p)).version, "s1");
    assert.equal(n.procs.get(p.id)?.alive, true, "a failed codeChange does not end the process");
  });

  test("purge ends the processes still on the old version with reason purged", async () => {
    const n = newNode();
    n.modules.load("shape", "s1", { init: () => ({}) });
    const p = await n.procs.spawn("shape", {});
    const change = n.modules.load("shape", "s2", {
      init: () => ({}),
      codeChange: () => {
        throw new Error("no");
      },
    });
    await within(n.procs.codeChange([change]), "codeChange");
    const exited = n.exitOf(p);
    n.procs.purge("shape");
    assert.equal(await exited, "purged");
    assert.deepEqual(n.procs.oldVersionUsers("shape"), []);
  });

  test("a process that ends before its codeChange ran settles the reload with noproc instead of hanging it", async () => {
    const n = newNode();
    n.modules.load("shape", "s1", { init: () => ({}) });
    const p = await n.procs.spawn("shape", {});
    let release!: () => void;
    // a system message that holds the process, so codeChange waits behind it
    n.procs.deliver(p.id, { kind: "system", run: () => new Promise<void>((r) => (release = r)) });
    const change = n.modules.load("shape", "s2", { init: () => ({}), codeChange: (_f: string, s: unknown) => s });
    const failures = n.procs.codeChange([change]);
    await n.procs.exit(n.proc(p), "shutdown");
    release();
    const got = await within(failures, "codeChange of a dead process");
    assert.equal(got.length, 1);
    assert.equal(got[0]!.error.code, "noproc");
  });
});
