/**
 * Issue 17's "real server" test: a small Raft key-value store (test/fixtures/raft-kv: express servers, a
 * `RaftNode` class whose constructor registers the routes, `setTimeout` chains for heartbeats and
 * elections, a store with a `#private` map) runs on 3 real nodes under `up`, and is edited the way its
 * developers edit it. After each save the test reads the save's report, then asks every node over the
 * store's own HTTP API whether it runs the saved code and kept its state: the keys written so far, and
 * the leader and term the cluster had before the save (a reload that costs the leader is a restart).
 * The store is ours, shaped as the project the issue was found on; its README says why that one is not here.
 *
 * An edit that needs a fix still under way on issue 17 keeps the assertion it should pass and is marked
 * `todo` with the item it waits for; drop the todo once that item is merged.
 */
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, statSync, symlinkSync } from "node:fs";
import * as path from "node:path";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../../cli/dev/devServer";
import { makeProject, startCluster, type LogCapture, type Project } from "../helpers/cluster";
import { projectEdits } from "../helpers/edits";
import { freePortRun } from "../helpers/ports";

const ROOT = path.join(__dirname, "..", "..", "..");
const FIXTURE = path.join(ROOT, "test", "fixtures", "raft-kv");
const NODES = ["n1", "n2", "n3"];

/** Every file of the fixture's src folder, as `src/...` -> text. */
function fixtureFiles(dir = path.join(FIXTURE, "src"), out: Record<string, string> = {}): Record<string, string> {
  for (const e of readdirSync(dir)) {
    const p = path.join(dir, e);
    if (statSync(p).isDirectory()) fixtureFiles(p, out);
    else out[path.relative(FIXTURE, p).split(path.sep).join("/")] = readFileSync(p, "utf8");
  }
  return out;
}

/** Ours, not the store's: what its own launcher does, as a devcluster entry with the ports the test chose. */
function entryModule(raftPorts: number[], kvPorts: number[]): string {
  return `import type { StartContext } from "devcluster";
import { RaftNode } from "./raft/node";

const RAFT_PORTS = ${JSON.stringify(raftPorts)};
const KV_PORTS = ${JSON.stringify(kvPorts)};

export let node: RaftNode | undefined;

export function start(ctx: StartContext): void {
  const id = ctx.nodes.indexOf(ctx.node);
  const peers = ctx.nodes.map((_, i) => ({ id: i, raftUrl: "http://127.0.0.1:" + RAFT_PORTS[i], kvUrl: "http://127.0.0.1:" + KV_PORTS[i] }));
  node = new RaftNode({ id, peers, raftPort: RAFT_PORTS[id]!, kvPort: KV_PORTS[id]! });
}
`;
}

interface Reply {
  status: number;
  body: any;
}

async function request(method: "GET" | "POST", url: string, body?: unknown): Promise<Reply> {
  const res = await fetch(url, {
    method,
    headers: body === undefined ? {} : { "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(2000),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // express's own error pages are HTML: keep the text, the assertion shows it
  }
  return { status: res.status, body: parsed };
}

describe("a Raft key-value store on 3 nodes, edited as its developers do, keeps its data and its leader (issue 17)", () => {
  let project: Project;
  let server: DevServer;
  let logs: LogCapture;
  let kvUrls: string[];
  /** every key the test wrote, with its value: each must stay readable on every node */
  const written = new Map<string, string>();

  /** Asks each node `ask` until `ok` holds for every answer; fails at the deadline with the last answers. */
  async function untilEvery(ask: (url: string) => Promise<Reply>, ok: (r: Reply, i: number) => boolean, what: string, timeoutMs = 15_000): Promise<Reply[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const last = await Promise.all(kvUrls.map((u) => ask(u).catch((err: Error): Reply => ({ status: 0, body: err.message }))));
      if (last.every(ok)) return last;
      if (Date.now() > deadline) assert.fail(`${what}: not every node answered so within ${timeoutMs} ms: ${JSON.stringify(last)}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  const status = (url: string): Promise<Reply> => request("GET", url + "/status");

  /** The leader every node agrees on (id and term), once they do. */
  async function agreedLeader(): Promise<{ leader: number; term: number }> {
    const replies = await untilEvery(status, (r) => r.status === 200 && typeof r.body.leader === "number", "a leader every node knows", 20_000);
    const first = replies[0]!.body;
    for (const r of replies)
      assert.deepEqual([r.body.leader, r.body.term], [first.leader, first.term], `nodes disagree: ${JSON.stringify(replies.map((x) => x.body))}`);
    return { leader: first.leader, term: first.term };
  }

  /** Writes through the leader (or `via`) and waits until every node has applied it. */
  async function write(key: string, value: string, via?: string): Promise<void> {
    const url = via ?? kvUrls[(await agreedLeader()).leader]!;
    const r = await request("POST", url + "/set", { key, value });
    assert.equal(r.status, 200, `set ${key} on ${url}: ${JSON.stringify(r)}`);
    await untilEvery(
      (u) => request("GET", `${u}/get?key=${key}`),
      (r) => r.status === 200 && r.body.value === value,
      `${key} on every node`,
    );
    // only now: a write that never reached every node is its own test's failure, not the next test's
    written.set(key, value);
  }

  /** The state survived: same leader and term on every node, and every key written so far on every node. */
  async function assertKept(before: { leader: number; term: number }): Promise<void> {
    for (const r of await Promise.all(kvUrls.map(status))) {
      assert.equal(r.status, 200, JSON.stringify(r));
      assert.deepEqual({ leader: r.body.leader, term: r.body.term }, before, `node ${r.body.id} lost the leader it had before the save`);
    }
    for (const [key, value] of written) {
      for (const [i, u] of kvUrls.entries()) {
        const r = await request("GET", `${u}/get?key=${key}`);
        assert.equal(r.status, 200, `get ${key} on n${i + 1}: ${JSON.stringify(r)}`);
        assert.equal(r.body.value, value, `n${i + 1} lost ${key}`);
      }
    }
  }

  const { loggedSince, edited, renamed, save, saveReloaded } = projectEdits({
    server: () => server,
    project: () => project,
    logs: () => logs,
    nodes: NODES,
  });

  before(async () => {
    const base = await freePortRun(6);
    const raftPorts = [base, base + 1, base + 2];
    const kvPorts = [base + 3, base + 4, base + 5];
    kvUrls = kvPorts.map((p) => `http://127.0.0.1:${p}`);
    project = makeProject({ ...fixtureFiles(), "src/app.ts": entryModule(raftPorts, kvPorts) }, { nodes: 3 });
    // the store's one dependency, express, from this repository's devDependencies
    mkdirSync(path.join(project.dir, "node_modules"));
    symlinkSync(path.join(ROOT, "node_modules", "express"), path.join(project.dir, "node_modules", "express"), "dir");
    ({ server, logs } = await startCluster(project));
    await write("alpha", "1");
    await write("beta", "2");
  });

  after(async () => {
    await server?.close();
    project?.cleanup();
  });

  test("a changed constant (the longest value a set takes) holds on every node", async () => {
    const before = await agreedLeader();
    const long = "x".repeat(20);
    const follower = kvUrls[(before.leader + 1) % 3]!;
    assert.equal((await request("POST", follower + "/set", { key: "long", value: long })).status, 421, "a 20-character value passes today's limit");
    await saveReloaded({ "src/raft/node.ts": edited("src/raft/node.ts", ["const MAX_VALUE_LENGTH = 64;", "const MAX_VALUE_LENGTH = 16;"]) });
    await untilEvery(
      (u) => request("POST", u + "/set", { key: "long", value: long }),
      (r) => r.status === 413 && r.body.error === "value longer than 16",
      "the new limit",
    );
    await assertKept(before);
  });

  test("a changed log line is what every node logs for the next write", async () => {
    const before = await agreedLeader();
    await saveReloaded({
      "src/raft/node.ts": edited("src/raft/node.ts", [`this.trace("applied", entry.key);`, `this.trace("applied entry", this.commitIndex, "key", entry.key);`]),
    });
    await write("gamma", "3");
    for (const n of NODES) await logs.waitFor(new RegExp(`"node":"${n}".*applied entry 3 key gamma`), 10_000);
    await assertKept(before);
  });

  test("a handler's response gains a field (status reports the log's length) on every node", async () => {
    const before = await agreedLeader();
    await saveReloaded({
      "src/raft/node.ts": edited("src/raft/node.ts", [
        "      commitIndex: this.commitIndex,\n",
        "      commitIndex: this.commitIndex,\n      logLength: this.log.length,\n",
      ]),
    });
    await untilEvery(status, (r) => r.body.logLength === written.size, "status with logLength");
    await assertKept(before);
  });

  test("a field added to the heartbeat message: followers learn the leader's address and name it when they refuse a set", async () => {
    const before = await agreedLeader();
    const messages = edited("src/raft/messages.ts", [
      "  leaderId: number;\n",
      "  leaderId: number;\n  /** where clients reach the leader */\n  leaderUrl: string;\n",
    ]);
    const node = edited(
      "src/raft/node.ts",
      [
        "  private heartbeatTimer: NodeJS.Timeout | undefined;\n",
        "  private heartbeatTimer: NodeJS.Timeout | undefined;\n  private leaderUrl: string | undefined;\n",
      ],
      [`body: { error: "not the leader", leader: this.leaderId }`, `body: { error: "not the leader", leader: this.leaderId, leaderUrl: this.leaderUrl }`],
      ["      leaderId: this.id,\n", "      leaderId: this.id,\n      leaderUrl: this.options.peers[this.id]!.kvUrl,\n"],
      ["    this.leaderId = message.leaderId;\n", "    this.leaderId = message.leaderId;\n    this.leaderUrl = message.leaderUrl;\n"],
    );
    await saveReloaded({ "src/raft/messages.ts": messages, "src/raft/node.ts": node }, ["src/raft/node.ts"]);
    const leaderUrl = kvUrls[before.leader]!;
    const answers = await untilEvery(
      (u) => (u === leaderUrl ? status(u) : request("POST", u + "/set", { key: "delta", value: "4" })),
      (r, i) => (i === before.leader ? r.status === 200 : r.status === 421 && r.body.leaderUrl === leaderUrl),
      "followers naming the leader",
    );
    // a client follows a follower's answer to the leader
    await write("delta", "4", answers[(before.leader + 1) % 3]!.body.leaderUrl);
    await assertKept(before);
  });

  test("a new helper module that the set handler calls (key validation) is used on every node", async () => {
    const before = await agreedLeader();
    const keys = `/** Keys are short words: letters, digits and ":._-". */\nexport function isValidKey(key: string): boolean {\n  return key.length <= 64 && /^[a-z0-9][a-z0-9:._-]*$/i.test(key);\n}\n`;
    const node = edited(
      "src/raft/node.ts",
      [`import { KvStore } from "../kv/store";\n`, `import { isValidKey } from "../kv/keys";\nimport { KvStore } from "../kv/store";\n`],
      [
        "    if (value.length > MAX_VALUE_LENGTH) {",
        "    if (!isValidKey(key)) {\n      return { status: 400, body: { error: `invalid key ${JSON.stringify(key)}` } };\n    }\n    if (value.length > MAX_VALUE_LENGTH) {",
      ],
    );
    await saveReloaded({ "src/kv/keys.ts": keys, "src/raft/node.ts": node });
    await untilEvery(
      (u) => request("POST", u + "/set", { key: "no spaces please", value: "5" }),
      (r) => r.status === 400 && r.body.error === 'invalid key "no spaces please"',
      "the key check",
    );
    await assertKept(before);
  });

  test("a typo is refused with its file and line while every node keeps running; its fix then runs everywhere", async () => {
    const before = await agreedLeader();
    const typo = edited("src/raft/node.ts", ["error: `value longer than ${MAX_VALUE_LENGTH}`", "error: `value is longer than ${MAX_VALUE_LENGTH characters`"]);
    const [refused] = await save({ "src/raft/node.ts": typo });
    assert.equal(refused!.report, undefined, "nothing may be sent");
    assert.match(refused!.error?.message ?? "", /src\/raft\/node\.ts:\d+:\d+: error: /);
    const long = "y".repeat(20);
    await untilEvery(
      (u) => request("POST", u + "/set", { key: "long", value: long }),
      (r) => r.status === 413 && r.body.error === "value longer than 16",
      "the last good version",
    );
    await saveReloaded({ "src/raft/node.ts": edited("src/raft/node.ts", ["${MAX_VALUE_LENGTH characters`", "${MAX_VALUE_LENGTH} characters`"]) });
    await untilEvery(
      (u) => request("POST", u + "/set", { key: "long", value: long }),
      (r) => r.status === 413 && r.body.error === "value is longer than 16 characters",
      "the fixed message",
    );
    await assertKept(before);
  });

  test(
    "a route handler registered in the constructor changes its body: /get names the node that answered",
    // After the key-validation test added an import to raft/node.ts: V8 alone would not patch the closures the first
    // version made (their module scope gained a variable); the loader keeps that scope's shape (moduleScope.ts).
    async () => {
      const before = await agreedLeader();
      await saveReloaded({
        "src/raft/node.ts": edited("src/raft/node.ts", [
          "res.json({ key, value: this.store.get(key) ?? null });",
          "res.json({ key, value: this.store.get(key) ?? null, node: this.id });",
        ]),
      });
      await untilEvery(
        (u) => request("GET", u + "/get?key=alpha"),
        (r, i) => r.status === 200 && r.body.value === "1" && r.body.node === i,
        "/get with the answering node",
      );
      await assertKept(before);
    },
  );

  test("a route added to the constructor's setup method cannot reach live instances, and the save's report says so", async () => {
    const before = await agreedLeader();
    const mark = logs.lines.length;
    await saveReloaded({
      "src/raft/node.ts": edited("src/raft/node.ts", [
        `    this.kvApp.get("/status", (_req, res) => {`,
        `    this.kvApp.get("/size", (_req, res) => {\n      res.json({ size: this.store.size });\n    });\n    this.kvApp.get("/status", (_req, res) => {`,
      ]),
    });
    // the route is not there on the running instances: a report that says only "reloaded" hides it
    await loggedSince(mark, /RaftNode\.setupKvRoutes.*restart/);
    await assertKept(before);
  });

  test("a route handler's new body reads a new module constant: every node runs it, or the report names the handler that still runs the old one", async () => {
    const before = await agreedLeader();
    const mark = logs.lines.length;
    await saveReloaded({
      "src/raft/node.ts": edited(
        "src/raft/node.ts",
        ["const MAX_VALUE_LENGTH = 16;\n", `const MAX_VALUE_LENGTH = 16;\nconst ABSENT = "(absent)";\n`],
        ["value: this.store.get(key) ?? null", "value: this.store.get(key) ?? ABSENT"],
      ),
    });
    const ask = (): Promise<Reply[]> => Promise.all(kvUrls.map((u) => request("GET", u + "/get?key=omega")));
    const answers = await ask();
    if (!answers.every((r) => r.body.value === "(absent)")) {
      // V8 cannot patch a closure whose scope changed: then the save must say which one runs the old body, and what to do
      await loggedSince(mark, /(setupKvRoutes|raft\/node\.ts:\d+).*restart/);
    }
    await assertKept(before);
  });

  test("a class field with an initializer, counted with ++, counts on the instances made before the save", async () => {
    const before = await agreedLeader();
    const node = edited(
      "src/raft/node.ts",
      ["  commitIndex = 0;\n", "  commitIndex = 0;\n  heartbeatsReceived = 0;\n"],
      [
        "    this.resetElectionTimer();\n    if (message.prevIndex",
        "    this.resetElectionTimer();\n    this.heartbeatsReceived++;\n    if (message.prevIndex",
      ],
      ["      keys: this.store.size,\n", "      heartbeats: this.heartbeatsReceived,\n      keys: this.store.size,\n"],
    );
    await saveReloaded({ "src/raft/node.ts": node });
    const first = await untilEvery(
      status,
      (r, i) => (i === before.leader ? r.body.heartbeats === 0 : Number.isInteger(r.body.heartbeats) && r.body.heartbeats > 0),
      "heartbeats counted",
    );
    await untilEvery(status, (r, i) => i === before.leader || r.body.heartbeats > first[i]!.body.heartbeats, "heartbeats still counting");
    await assertKept(before);
  });

  test("a method a timer chain calls is renamed (heartbeat -> sendHeartbeat): the chain goes on, the leader stays", async () => {
    const before = await agreedLeader();
    await saveReloaded({ "src/raft/node.ts": renamed("src/raft/node.ts", "heartbeat()", "sendHeartbeat()") });
    // followers apply a write only when a later heartbeat carries the leader's commit: it shows the chain runs
    await write("epsilon", "6");
    await assertKept(before);
  });

  test(
    "a private helper the route handlers call is renamed (trace -> debugLog): requests still answer",
    // Alone, LiveEdit patches the old route closures; in this sequence V8 keeps their old body (see the /get test), and they
    // call the helper under its old name, which the instances made before keep with its last body.
    async () => {
      const before = await agreedLeader();
      await saveReloaded({
        "src/raft/node.ts": renamed("src/raft/node.ts", "this.trace(", "this.debugLog(").replace("  private trace(", "  private debugLog("),
      });
      await write("zeta", "7");
      // the followers' set handler calls the helper too, on its way to refusing
      const leaderUrl = kvUrls[before.leader]!;
      await untilEvery(
        (u) => (u === leaderUrl ? status(u) : request("POST", u + "/set", { key: "eta", value: "8" })),
        (r, i) => (i === before.leader ? r.status === 200 : r.status === 421),
        "set answered on every node",
      );
      await assertKept(before);
    },
  );

  test("the store's class with a #private map gains a method: old instances keep their data and use it", async () => {
    const before = await agreedLeader();
    const store = edited("src/kv/store.ts", [
      "  get size(): number {",
      "  keys(): string[] {\n    return [...this.#data.keys()].sort();\n  }\n\n  get size(): number {",
    ]);
    const node = edited("src/raft/node.ts", ["      keys: this.store.size,\n", "      keys: this.store.keys(),\n"]);
    await saveReloaded({ "src/kv/store.ts": store, "src/raft/node.ts": node });
    await untilEvery(status, (r) => Array.isArray(r.body.keys) && [...written.keys()].every((k) => r.body.keys.includes(k)), "every key listed");
    await assertKept(before);
  });
});
