/**
 * The issue "Every save is what runs", on 3 real nodes: a project whose server
 * module opens a TCP server at top level and closes it in `hot.dispose` (Vite's
 * pattern), imports a library through a namespace and a barrel, and keeps a
 * clock ticking through a bound method and its own exported function. Each
 * node's server answers with what that node runs, so one connection per node
 * shows every rule.
 */
import assert from "node:assert/strict";
import { once } from "node:events";
import * as net from "node:net";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../../cli/dev/devServer";
import { makeProject, nextSave, startCluster, type LogCapture, type Project } from "../helpers/cluster";
import { freePortRun } from "../helpers/ports";

const NODES = ["n1", "n2", "n3"];

interface Answer {
  tag: string;
  /** servers of this module listening in the node's process */
  open: number;
  /** server errors seen in the node's process (EADDRINUSE) */
  errors: string[];
  b: string;
  tick: string;
  tock: string;
}

// The entry imports the server, so every node loads it (a node evaluates only what its entry reaches, docs/design.md §4.5).
const APP = `import "./server";\nexport async function start() {}\n`;
const LIB = (withB: boolean, withA = true): string =>
  (withA ? `export function a() { return "a"; }\n` : "") + (withB ? `export function b() { return "b"; }\n` : "");
const BARREL = `export * from "./lib";\n`;
const CLOCK = (tag: string): string => `
import { hot } from "devcluster";
const g = globalThis as any;
export class Clock {
  timer?: NodeJS.Timeout;
  start() { this.timer = setInterval(this.tock.bind(this), 5); }
  tock() { g.__tock = "${tag}"; }
}
export function tick() { g.__tick = "${tag}"; }
if (!hot.data.started) {
  hot.data.started = true;
  new Clock().start();
  setInterval(tick, 5);
}
`;
const SERVER = (ports: Record<string, number>, tag: string, extra = ""): string => `
import * as net from "node:net";
import * as lib from "./lib";
import { a } from "./barrel";
import "./clock";
const g = globalThis as any;
g.__open ??= 0;
g.__errors ??= [];
const port = (${JSON.stringify(ports)} as Record<string, number>)[process.env.DEVCLUSTER_NODE!]!;
const server = net.createServer((s) => {
  const b = typeof (lib as any).b === "function" ? (lib as any).b() : "none";
  s.end(JSON.stringify({ tag: "${tag}" + a().slice(0, 0), open: g.__open, errors: g.__errors, b, tick: g.__tick, tock: g.__tock }));
});
server.on("error", (err: NodeJS.ErrnoException) => g.__errors.push(err.code));
let listening = false;
server.on("listening", () => { listening = true; g.__open++; });
server.on("close", () => { if (listening) g.__open--; });
server.listen(port, "127.0.0.1");
import.meta.hot.dispose(() => server.close());
${extra}
`;

async function ask(port: number): Promise<Answer> {
  const socket = net.connect(port, "127.0.0.1");
  let text = "";
  socket.on("data", (d: Buffer) => (text += d.toString()));
  await once(socket, "end");
  return JSON.parse(text) as Answer;
}

/** Asks every node until `ok` holds for each answer, or fails at the deadline with the last answers. */
async function untilEvery(ports: Record<string, number>, ok: (a: Answer) => boolean, timeoutMs = 15_000): Promise<Answer[]> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown[] = [];
  for (;;) {
    last = await Promise.all(NODES.map((n) => ask(ports[n]!).catch((err: Error) => err.message)));
    if (last.every((a) => typeof a === "object" && ok(a as Answer))) return last as Answer[];
    if (Date.now() > deadline) assert.fail(`not every node answered as expected within ${timeoutMs} ms: ${JSON.stringify(last)}`);
    await new Promise((r) => setImmediate(r));
  }
}

describe("every save is what runs: servers, namespaces, barrels, removed exports, held methods (3 nodes)", () => {
  let project: Project;
  let server: DevServer;
  let logs: LogCapture;
  let ports: Record<string, number>;

  const save = async (rel: string, text: string): Promise<NonNullable<Awaited<ReturnType<typeof nextSave>>["report"]>> => {
    const saved = nextSave(server);
    project.write(rel, text);
    const s = await saved;
    assert.ok(s.report, `no reload report: ${s.error?.message}`);
    return s.report;
  };

  before(async () => {
    const base = await freePortRun(3);
    const p = [base, base + 1, base + 2];
    ports = Object.fromEntries(NODES.map((n, i) => [n, p[i]!]));
    project = makeProject(
      {
        "src/app.ts": APP,
        "src/lib.ts": LIB(false),
        "src/barrel.ts": BARREL,
        "src/clock.ts": CLOCK("v1"),
        "src/server.ts": SERVER(ports, "s0"),
      },
      { nodes: 3 },
    );
    ({ server, logs } = await startCluster(project));
    await untilEvery(ports, (a) => a.tag === "s0" && a.tick === "v1" && a.tock === "v1");
  });

  after(async () => {
    await server?.close();
    project?.cleanup();
  });

  test("rule 1: a name added to lib is seen through `import * as lib` on every node, without saving the importer", async () => {
    assert.equal((await ask(ports.n1!)).b, "none");
    const report = await save("src/lib.ts", LIB(true));
    assert.equal(report.ok, true, JSON.stringify(report));
    await untilEvery(ports, (a) => a.b === "b");
  });

  test("rule 2: removing an export another module imports is refused on every node, naming the importer and the name", async () => {
    const before = (await server.coordinator.status()).nodes.map((n) => n.modules);
    const report = await save("src/lib.ts", LIB(true, false));
    assert.equal(report.ok, false);
    assert.equal(report.failedIn, "prepare");
    for (const n of report.nodes) {
      assert.equal(n.error?.code, "missing_import", JSON.stringify(n));
      assert.match(n.error!.message, /barrel would no longer export names that server \(a\) still imports/);
    }
    assert.deepEqual(
      (await server.coordinator.status()).nodes.map((n) => n.modules),
      before,
    );
    await untilEvery(ports, (a) => a.tag === "s0");
    // put a back, so the rest runs on a good lib
    assert.equal((await save("src/lib.ts", LIB(true) + "// a is back\n")).ok, true);
  });

  test("rule 4: after 20 reloads of the server module exactly one server answers on every node, with no EADDRINUSE", async () => {
    for (let i = 1; i <= 20; i++) {
      const report = await save("src/server.ts", SERVER(ports, `s${i}`));
      assert.equal(report.ok, true, `reload ${i}: ${JSON.stringify(report)}`);
      await untilEvery(ports, (a) => a.tag === `s${i}`);
    }
    for (const a of await untilEvery(ports, (a) => a.tag === "s20")) {
      assert.equal(a.open, 1, "exactly one server listens");
      assert.deepEqual(a.errors, []);
    }
    assert.equal(
      logs.lines.some((l) => l.includes("EADDRINUSE")),
      false,
    );
  });

  test("rule 4: a version that throws at load leaves every node on the old version with its server answering", async () => {
    const before = (await server.coordinator.status()).nodes.map((n) => n.modules.server);
    const report = await save("src/server.ts", SERVER(ports, "broken", `throw new Error("this version does not load");`));
    assert.equal(report.ok, false);
    for (const n of report.nodes) assert.match(n.error?.message ?? "", /this version does not load/);
    assert.deepEqual(
      (await server.coordinator.status()).nodes.map((n) => n.modules.server),
      before,
    );
    for (const a of await untilEvery(ports, (a) => a.tag === "s20")) {
      assert.equal(a.open, 1);
      assert.deepEqual(a.errors, []);
    }
  });

  test("rule 5: a bound method in setInterval and the module's own function in setInterval run the new code", async () => {
    const report = await save("src/clock.ts", CLOCK("v2"));
    assert.equal(report.ok, true, JSON.stringify(report));
    await untilEvery(ports, (a) => a.tick === "v2" && a.tock === "v2");
  });
});
