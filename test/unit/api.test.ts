/**
 * The API user modules import: one factory per runtime, so two nodes' APIs
 * live side by side, and the package entry that throws no_runtime outside a
 * node.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import * as entry from "../../runtime/index";
import { createApi, type Runtime } from "../../runtime/api";
import { Pid } from "../../wire/pid";
import { ClusterError, type WireError } from "../../wire/errors";
import { Calls } from "../../runtime/node/calls";

/** A runtime that records what the API forwards to it. */
function fakeRuntime(name: string, seen: unknown[][] = []): Runtime {
  const record =
    (op: string, value?: unknown) =>
    (...args: unknown[]): never =>
      (seen.push([op, ...args]), value) as never;
  return {
    name,
    nodes: ["n1", "n2"],
    self: () => new Pid(name, 1),
    spawn: record("spawn", Promise.resolve(new Pid(name, 2))),
    call: record("call", Promise.resolve("answer")),
    cast: record("cast"),
    send: record("send"),
    register: record("register", Promise.resolve()),
    whereis: (n: string) => (seen.push(["whereis", n]), Promise.resolve(n === "room:lobby" ? new Pid("n2", 9) : undefined)),
    lookup: (n: string) => (n === "room:lobby" ? new Pid("n2", 9) : undefined),
    unregister: record("unregister", Promise.resolve(true)),
    registered: record("registered", ["room:lobby"]),
    own: record("own"),
    disown: record("disown", true),
    exit: record("exit"),
    link: record("link"),
    unlink: record("unlink"),
    trapExit: record("trapExit", false),
    monitor: record("monitor", "#Ref<1>"),
    demonitor: record("demonitor", true),
    monitorNode: record("monitorNode"),
    sendAfter: record("sendAfter", "#Ref<2>"),
    cancelTimer: record("cancelTimer", false),
    startSupervisor: record("startSupervisor", Promise.resolve(new Pid(name, 3))),
    whichChildren: record("whichChildren", Promise.resolve([])),
    startChild: record("startChild", Promise.resolve(new Pid(name, 4))),
    restartChild: record("restartChild", Promise.resolve(new Pid(name, 5))),
    suspend: record("suspend", Promise.resolve()),
    resume: record("resume", Promise.resolve()),
    processInfo: record("processInfo", Promise.resolve({})),
    reply: record("reply"),
  };
}

const codeOf = (code: string) => (err: unknown) => err instanceof ClusterError && err.code === code;

describe("createApi", () => {
  test("two APIs bound to two runtimes in one process each act for their own node", async () => {
    const seen1: unknown[][] = [];
    const seen2: unknown[][] = [];
    const a = createApi(fakeRuntime("n1", seen1));
    const b = createApi(fakeRuntime("n2", seen2));
    assert.equal(a.nodeName(), "n1");
    assert.equal(b.nodeName(), "n2");
    assert.equal(a.self().toString(), "<n1.1>");
    a.send("<n2.7>", "hi");
    assert.equal(await b.call(new Pid("n1", 3), "get"), "answer");
    assert.deepEqual(
      seen1.map((s) => [s[0], String(s[1]), s[2]]),
      [["send", "<n2.7>", "hi"]],
    );
    assert.deepEqual(
      seen2.map((s) => [s[0], String(s[1]), s[2]]),
      [["call", "<n1.3>", "get"]],
    );
  });

  test("startSupervisor links to the caller only from inside a process", async () => {
    const seen: unknown[][] = [];
    const rt = { ...fakeRuntime("n1", seen), self: () => undefined };
    await createApi(rt).startSupervisor("n1", { children: [] });
    assert.deepEqual(seen[0]![3], { link: false });
  });

  test("bad arguments are badarg before anything is forwarded", () => {
    const seen: unknown[][] = [];
    const api = createApi(fakeRuntime("n1", seen));
    assert.throws(() => api.send(42 as unknown as string, "x"), codeOf("badarg"));
    assert.throws(() => api.register("<n1.4>", "<n1.4>"), codeOf("badarg"));
    assert.throws(() => api.own({} as never), codeOf("badarg"));
    assert.throws(() => api.sendAfter(-1, "<n1.4>", "x"), codeOf("badarg"));
    assert.throws(() => api.sendInterval(0, "<n1.4>", "x"), codeOf("badarg"));
    assert.throws(() => api.spawn(1 as unknown as string, "m"), codeOf("badarg"));
    assert.throws(() => api.register("", "<n1.4>"), codeOf("badarg"));
    assert.deepEqual(seen, []);
  });

  test("call, cast and send take a registered name as well as a pid; text that parses as a pid is a pid (rule 10)", async () => {
    const seen: unknown[][] = [];
    const api = createApi(fakeRuntime("n1", seen));
    api.send("room:lobby", "a");
    api.cast("room:lobby", "b");
    api.send("<n3.1>", "c");
    assert.equal(await api.call("room:lobby", "d"), "answer");
    assert.deepEqual(
      seen.map((s) => s.map(String)),
      [
        ["send", "<n2.9>", "a"],
        ["cast", "<n2.9>", "b"],
        ["send", "<n3.1>", "c"],
        ["whereis", "room:lobby"],
        ["call", "<n2.9>", "d", "undefined"],
      ],
    );
    assert.throws(
      () => api.send("nobody", "x"),
      (err: unknown) => codeOf("noproc")(err) && /no process is registered as nobody/.test(String(err)),
    );
    assert.throws(
      () => api.cast("n1.4", "x"),
      (err: unknown) => codeOf("noproc")(err) && /a pid is written <n1.4>/.test(String(err)),
    );
    await assert.rejects(api.call("nobody", "x"), codeOf("noproc"));
  });

  test("self() outside a process handler is not_a_process", () => {
    assert.throws(() => createApi({ ...fakeRuntime("n1"), self: () => undefined }).self(), codeOf("not_a_process"));
  });
});

describe("the package entry", () => {
  test("exports the API a node gives its modules, plus hot", () => {
    const inNode = Object.keys(createApi(fakeRuntime("n1"))).sort();
    assert.deepEqual(Object.keys(entry).sort(), [...inNode, "hot"].sort());
  });

  test("outside a node its functions and hot throw no_runtime", async () => {
    assert.throws(() => entry.self(), codeOf("no_runtime"));
    assert.throws(() => entry.nodeName(), codeOf("no_runtime"));
    assert.throws(() => entry.send("<n1.1>", "x"), codeOf("no_runtime"));
    assert.throws(() => entry.whichChildren("<n1.1>"), codeOf("no_runtime"));
    assert.throws(() => entry.hot.data, codeOf("no_runtime"));
    assert.equal(entry.parsePid("<n1.4>")?.toString(), "<n1.4>");
  });
});

describe("error codes", () => {
  test("a misspelled devcluster code does not compile", () => {
    // These lines are the test: the build fails if the union stops catching them.
    // @ts-expect-error "node_down" is not an ErrorCode (it is "nodedown")
    const thrown = new ClusterError("node_down", "x");
    // @ts-expect-error a string literal is not a ForeignCode either
    const sent: WireError = { code: "node_down", message: "x" };
    assert.ok(thrown && sent);
  });
});

describe("Calls", () => {
  test("a node going down fails its waiters with noconnection, not the others'", async () => {
    const calls = new Calls("n1");
    const toN2 = calls.expect(60_000, "call to <n2.1>", "n2");
    const local = calls.expect(20, "call to <n1.1>", "n1");
    calls.nodeDown("n2");
    calls.nodeDown("n1");
    await assert.rejects(toN2.promise, codeOf("noconnection"));
    await assert.rejects(local.promise, (err: unknown) => codeOf("timeout")(err) && /call to <n1.1> timed out after 20 ms/.test((err as Error).message));
  });

  test("a reply settles its waiter once, with the remote error's own code", async () => {
    const calls = new Calls("n1");
    const ok = calls.expect(1000, "a");
    const bad = calls.expect(1000, "b");
    calls.settle(ok.ref, { ok: true, value: 42 });
    calls.settle(ok.ref, { ok: true, value: 43 });
    calls.settle(bad.ref, { ok: false, error: { code: "not_a_child", message: "no" } });
    assert.equal(await ok.promise, 42);
    await assert.rejects(bad.promise, codeOf("not_a_child"));
  });

  test("close rejects every waiter with shutdown", async () => {
    const calls = new Calls("n1");
    const w = calls.expect(undefined, "whereis x");
    calls.close();
    await assert.rejects(w.promise, codeOf("shutdown"));
    assert.equal(calls.size, 0);
  });
});
