/**
 * Issue 17, items 1 and 2, on 3 real nodes: closures made by an earlier version
 * of a module (a route a constructor registered, a timer chain) run the new body
 * after a save with their state kept, and what cannot (a closure whose scope
 * changed, a method that ran only in the constructor) is named by the reload's
 * report. Each node runs a RaftNode whose HTTP server answers from a route table
 * its constructor filled, as the Raft store of the issue does with express.
 */
import assert from "node:assert/strict";
import * as http from "node:http";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../../cli/dev/devServer";
import type { ReloadReport } from "../../cli/dev/reloadTransaction";
import { cli, makeProject, nextSave, startCluster, type LogCapture, type Project } from "../helpers/cluster";
import { freePortRun } from "../helpers/ports";

const NODES = ["n1", "n2", "n3"];

interface Raft {
  /** what the /set route's body says */
  set?: string;
  /** requests the /set closure has counted (its captured state) */
  hits?: number;
  beat?: string;
  beats?: number;
  log?: string;
}

/**
 * The module under edit. `top` goes at top level, `route` is the body of the /set
 * handler (it sees `hits`), `beat` the name of the heartbeat method, `log` the name
 * of the private helper the route calls, `extraRoute` more code in setupRoutes.
 */
const RAFT = (o: { tag: string; route?: string; beat?: string; log?: string; top?: string; extraRoute?: string }, ports: Record<string, number>): string => {
  const beat = o.beat ?? "heartbeat";
  const log = o.log ?? "logToConsole";
  return `
import * as http from "node:http";
import { hot } from "devcluster";
${o.top ?? ""}
export class RaftNode {
  routes = new Map<string, (res: http.ServerResponse) => void>();
  beats = 0;
  lastBeat = "";
  timer?: NodeJS.Timeout;
  constructor(port: number) {
    this.setupRoutes();
    http.createServer((req, res) => {
      const route = this.routes.get(req.url ?? "");
      if (route) route(res);
      else res.writeHead(404).end();
    }).listen(port, "127.0.0.1");
    this.${beat}();
  }
  setupRoutes() {
    let hits = 0;
    this.routes.set("/set", (res) => {
      hits++;
      res.end(JSON.stringify({ set: ${o.route ?? `"${o.tag}"`}, hits, log: this.${log}("set") }));
    });
    this.routes.set("/beat", (res) => res.end(JSON.stringify({ beat: this.lastBeat, beats: this.beats })));${o.extraRoute ?? ""}
  }
  private ${log}(what: string): string {
    return "${o.tag}:" + what;
  }
  ${beat}() {
    this.beats++;
    this.lastBeat = "${o.tag}";
    this.timer = setTimeout(() => this.${beat}(), 5);
  }
}
const port = (${JSON.stringify(ports)} as Record<string, number>)[process.env.DEVCLUSTER_NODE!]!;
hot.data.node ??= new RaftNode(port);
`;
};

function get(port: number, route: string): Promise<Raft> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: "127.0.0.1", port, path: route, agent: false }, (res) => {
        let text = "";
        res.on("data", (d: Buffer) => (text += d.toString()));
        res.on("end", () => (res.statusCode === 200 ? resolve(JSON.parse(text) as Raft) : reject(new Error(`${route}: HTTP ${res.statusCode}`))));
      })
      .on("error", reject)
      // A route that threw never answers.
      .setTimeout(3000, function (this: http.ClientRequest) {
        this.destroy(new Error(`${route}: no answer within 3000 ms`));
      });
  });
}

/** Asks every node until `ok` holds for each answer, or fails at the deadline with the last answers. */
async function untilEvery(ports: Record<string, number>, route: string, ok: (a: Raft) => boolean, timeoutMs = 15_000): Promise<Raft[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const last = await Promise.all(NODES.map((n) => get(ports[n]!, route).catch((err: Error) => err.message)));
    if (last.every((a) => typeof a === "object" && ok(a))) return last as Raft[];
    if (Date.now() > deadline) assert.fail(`not every node answered ${route} as expected within ${timeoutMs} ms: ${JSON.stringify(last)}`);
    await new Promise((r) => setImmediate(r));
  }
}

describe("closures made by earlier versions run the saved code, or the report names them (issue 17 items 1-2, 3 nodes)", () => {
  let project: Project;
  let server: DevServer;
  let logs: LogCapture;
  let ports: Record<string, number>;

  const save = async (text: string): Promise<ReloadReport> => {
    const saved = nextSave(server);
    project.write("src/raft.ts", text);
    const s = await saved;
    assert.ok(s.report, `no reload report: ${s.error?.message}`);
    assert.equal(s.report.ok, true, JSON.stringify(s.report));
    return s.report;
  };

  before(async () => {
    const base = await freePortRun(3);
    ports = Object.fromEntries(NODES.map((n, i) => [n, base + i]));
    project = makeProject({ "src/app.ts": `import "./raft";\nexport async function start() {}\n`, "src/raft.ts": RAFT({ tag: "v1" }, ports) }, { nodes: 3 });
    ({ server, logs } = await startCluster(project));
    await untilEvery(ports, "/set", (a) => a.set === "v1");
  });

  after(async () => {
    await server?.close();
    project?.cleanup();
  });

  test("item 1: a route the constructor registered answers with the saved body and keeps its counter", async () => {
    const before = await untilEvery(ports, "/set", (a) => a.set === "v1");
    const report = await save(RAFT({ tag: "v2" }, ports));
    assert.equal(report.stale, undefined, JSON.stringify(report.stale));
    const now = await untilEvery(ports, "/set", (a) => a.set === "v2");
    // The closure's own `hits` went on from where the v1 body left it: the same closure, with the new body.
    for (const [i, a] of now.entries()) assert.ok(a.hits! > before[i]!.hits!, `hits went back to ${a.hits} on ${NODES[i]}`);
    assert.equal(now[0]!.log, "v2:set");
    assert.match(logs.lines.find((l) => l.includes('"source":"save"') && l.includes("reloaded raft")) ?? "", /reloaded raft@\w+ on 3 nodes in [\d.]+ ms"/);
  });

  test("item 2: a heartbeat method renamed while its timer chain runs, and a private helper renamed, keep working with the new code", async () => {
    const before = await untilEvery(ports, "/beat", (a) => a.beat === "v2");
    await save(RAFT({ tag: "v3", beat: "sendHeartbeat", log: "debugLog" }, ports));
    const after = await untilEvery(ports, "/beat", (a) => a.beat === "v3");
    for (const [i, a] of after.entries()) assert.ok(a.beats! > before[i]!.beats!);
    // The chain goes on: more beats later, with no TypeError anywhere.
    await untilEvery(ports, "/beat", (a) => a.beats! > after[NODES.indexOf("n1")]!.beats! + 20);
    const set = await untilEvery(ports, "/set", (a) => a.set === "v3");
    for (const a of set) assert.equal(a.log, "v3:set");
    assert.equal(logs.lines.filter((l) => /is not a function|TypeError/.test(l)).join("\n"), "");
  });

  test("a closure whose body reads a new top-level const runs it, with its counter", async () => {
    const [was] = await untilEvery(ports, "/set", (a) => a.set === "v3");
    const report = await save(RAFT({ tag: "v3", beat: "sendHeartbeat", log: "debugLog", top: `const PREFIX = "v4";`, route: "PREFIX" }, ports));
    assert.deepEqual(report.stale ?? [], [], "nothing runs old code");
    const [now] = await untilEvery(ports, "/set", (a) => a.set === "v4");
    assert.ok(now!.hits! > was!.hits!, `the closure kept its count: ${was!.hits} -> ${now!.hits}`);
  });

  test("a closure whose enclosing function's scope changed is named by the report, with what to do", async () => {
    // A new local of setupRoutes that another closure reads: V8 keeps the /set closure's old body.
    const report = await save(
      RAFT(
        {
          tag: "v3",
          beat: "sendHeartbeat",
          log: "debugLog",
          top: `const PREFIX = "v4";`,
          route: 'PREFIX + "!"',
          extraRoute: `\n    const tagged = "t";\n    this.routes.set("/t", (res) => res.end(tagged));`,
        },
        ports,
      ),
    );
    const kept = report.stale?.find((s) => s.kind === "kept" && s.fn.includes('this.routes.set("/set") callback'));
    assert.ok(kept, `no finding for the /set route: ${JSON.stringify(report.stale)}`);
    assert.equal(kept.module, "raft");
    assert.match(kept.at ?? "", /^raft\.ts:\d+$/);
    assert.deepEqual([...kept.nodes].sort(), NODES);
    assert.equal(kept.count, 3);
    // It is true: the route still answers with the old body.
    await untilEvery(ports, "/set", (a) => a.set === "v4");
    const line = await logs.waitFor(new RegExp(`"source":"save".*reloaded raft@${report.modules[0]!.version.slice(0, 8)} .*still runs? the old code`));
    assert.match(
      line,
      /this\.routes\.set\(\\"\/set\\"\) callback in RaftNode\.setupRoutes \(raft\.ts:\d+\) changed, but 3 closures made earlier on n1, n2, n3 keep the old body/,
    );
    assert.match(line, /restart n1, n2, n3, or make them again/);
    assert.match(line, /"level":40/, "a warning, not the info line of a clean reload");

    // `devcluster status` names them too, for as long as no later reload of the module finds otherwise.
    const status = await cli(["status"], project.dir);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /warning: old code still runs/);
    assert.match(
      status.stdout,
      /this\.routes\.set\("\/set"\) callback in RaftNode\.setupRoutes \(raft\.ts:\d+\) changed, but 3 closures made earlier on n1, n2, n3 keep the old body/,
    );

    // `devcluster reload raft` of the unchanged file: the same closures still run the old body, and it says so too.
    const again = await cli(["reload", "raft"], project.dir);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /still runs? the old code/);
    assert.match(
      again.stdout,
      /this\.routes\.set\("\/set"\) callback in RaftNode\.setupRoutes \(raft\.ts:\d+\) changed, but 3 closures made earlier on n1, n2, n3 keep the old body/,
    );
  });

  test("a method that ran only in the constructor changed: the report names it with the live instances", async () => {
    const report = await save(
      RAFT(
        {
          tag: "v3",
          beat: "sendHeartbeat",
          log: "debugLog",
          top: `const PREFIX = "v4";`,
          route: "PREFIX",
          extraRoute: `\n    this.routes.set("/new", (res) => res.end("{}"));`,
        },
        ports,
      ),
    );
    const ctor = report.stale?.find((s) => s.kind === "constructor");
    assert.ok(ctor, `no constructor finding: ${JSON.stringify(report)}`);
    assert.equal(ctor.fn, "RaftNode.setupRoutes");
    assert.match(ctor.at ?? "", /^raft\.ts:\d+$/);
    assert.equal(ctor.count, 3);
    const line = await logs.waitFor(new RegExp(`reloaded raft@${report.modules[0]!.version.slice(0, 8)} .*RaftNode\\.setupRoutes .*ran in the constructor`));
    assert.match(
      line,
      /RaftNode\.setupRoutes \(raft\.ts:\d+\) changed; it ran in the constructor of 3 live instances on n1, n2, n3 and will not run again: restart them, or register routes through a method/,
    );
    await assert.rejects(get(ports.n1!, "/new"), /HTTP 404/);
  });
});
