/**
 * The loader on the TypeScript people actually write (issue "Every save is what
 * runs"): namespace imports and barrels, removed exports, servers opened at top
 * level, held method references. Fixtures are compiled by the project's own
 * compiler, as in loader.test.ts.
 */
import assert from "node:assert/strict";
import { EventEmitter, once } from "node:events";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { after, afterEach, describe, test } from "node:test";
import pino from "pino";
import type { HotContext } from "../../runtime/code/hot";
import { type Bundle, ModuleTable } from "../../runtime/code/loader";
import { ClusterError } from "../../wire/errors";
import { Compiler } from "../../cli/save/compiler";

const projectDir = fs.mkdtempSync(path.join(os.tmpdir(), "devcluster-rules-"));
after(() => fs.rmSync(projectDir, { recursive: true, force: true }));
const compiler = new Compiler({ projectDir, srcDir: "src" });

async function compile(name: string, source: string): Promise<Bundle> {
  const file = compiler.fileOf(name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, source);
  const [m] = await compiler.compile([file]);
  assert.ok(m && m.name === name);
  return { name: m.name, version: m.version, code: m.code, imports: m.imports };
}

const bus = new EventEmitter();
const tables: ModuleTable[] = [];
function newTable(): ModuleTable {
  const table = new ModuleTable({
    srcDir: compiler.srcDir,
    log: pino({ level: "silent" }),
    runtimeFor: (_m: string, hot: HotContext) => ({ hot, emit: (event: string, ...args: unknown[]) => bus.emit(event, ...args) }),
  });
  tables.push(table);
  return table;
}
function load(table: ModuleTable, ...bundles: Bundle[]): void {
  table.commit(table.prepare(bundles));
}
afterEach(() => {
  for (const t of tables.splice(0)) t.close();
  bus.removeAllListeners();
});

/** The next `event` whose first argument is `tag`, or a rejection after `ms`. */
async function nextEvent(event: string, tag: unknown, ms = 3000): Promise<unknown[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    for (;;) {
      const args = await once(bus, event, { signal: ac.signal });
      if (args[0] === tag) return args;
    }
  } catch (err) {
    if (ac.signal.aborted) throw new Error(`no ${event} "${String(tag)}" within ${ms}ms`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

describe("rule 1: namespace imports and barrels follow the export list", () => {
  test("a name added to a module is seen through `import * as lib` and `export * from`, and a removed one vanishes", async () => {
    const table = newTable();
    load(
      table,
      await compile("ns/lib", `export function a() { return "a1"; }`),
      await compile("ns/barrel", `export * from "./lib";\nexport const own = 1;`),
      await compile(
        "ns/user",
        `import * as lib from "./lib";\nexport function callB() { return (lib as any).b(); }\nexport function names() { return Object.keys(lib).sort(); }`,
      ),
    );
    const user = table.facade("ns/user");
    const barrel = table.facade("ns/barrel");
    assert.deepEqual(Object.keys(barrel).sort(), ["a", "own"]);
    assert.throws(() => (user.callB as () => string)(), /not a function/);

    load(table, await compile("ns/lib", `export function a() { return "a2"; }\nexport function b() { return "b2"; }`));
    assert.equal((user.callB as () => string)(), "b2", "lib.b is seen without saving the user again");
    assert.deepEqual((user.names as () => string[])(), ["a", "b"]);
    assert.deepEqual(Object.keys(barrel).sort(), ["a", "b", "own"], "the barrel gained b");
    assert.equal(barrel.b, table.facade("ns/lib").b, "one trampoline for both ways in");

    // a module saved later imports the new name through the barrel
    load(table, await compile("ns/late", `import { b } from "./barrel";\nexport const got = b();`));
    assert.equal(table.facade("ns/late").got, "b2");

    load(table, await compile("ns/lib", `export function b() { return "b3"; }`));
    assert.deepEqual(Object.keys(barrel).sort(), ["b", "own"], "the barrel lost a");
    assert.equal((table.facade("ns/late").got as string) + (barrel.b as () => string)(), "b2b3");
  });
});

describe("rule 2: an export that another module imports is not removed", () => {
  test("removing or renaming it is refused at PREPARE naming the importers and names, unless they change too", async () => {
    const table = newTable();
    const lib1 = await compile("rm/lib", `export function greet(n: string) { return "hi " + n; }\nexport function other() { return 1; }`);
    const app1 = await compile("rm/app", `import { greet } from "./lib";\nexport function run() { return greet("ann"); }`);
    const ns1 = await compile("rm/ns", `import * as lib from "./lib";\nexport function run() { return lib.greet("bob"); }`);
    const viaBarrel = await compile("rm/barrel", `export * from "./lib";`);
    const barrelUser = await compile("rm/buser", `import { greet } from "./barrel";\nexport const hello = () => greet("cy");`);
    load(table, lib1, app1, ns1, viaBarrel, barrelUser);

    const renamed = await compile("rm/lib", `export function welcome(n: string) { return "hi " + n; }\nexport function other() { return 1; }`);
    assert.throws(
      () => table.prepare([renamed]),
      (err: unknown) => {
        assert.ok(err instanceof ClusterError);
        assert.equal(err.code, "missing_import");
        assert.match(err.message, /rm\/lib would no longer export names that rm\/app \(greet\) and rm\/ns \(greet\) still import/);
        assert.match(err.message, /rm\/barrel would no longer export names that rm\/buser \(greet\) still imports/);
        return true;
      },
    );
    assert.equal(table.versions()["rm/lib"], lib1.version, "nothing was loaded");
    assert.equal((table.facade("rm/app").run as () => string)(), "hi ann");

    // the same save also fixes every importer: accepted
    const app2 = await compile("rm/app", `import { welcome } from "./lib";\nexport function run() { return welcome("ann"); }`);
    const ns2 = await compile("rm/ns", `import * as lib from "./lib";\nexport function run() { return lib.welcome("bob"); }`);
    const barrelUser2 = await compile("rm/buser", `import { welcome } from "./barrel";\nexport const hello = () => welcome("cy");`);
    load(table, renamed, app2, ns2, barrelUser2);
    assert.equal((table.facade("rm/buser").hello as () => string)(), "hi cy");

    // removing a name nobody imports is fine
    load(table, await compile("rm/lib", `export function welcome(n: string) { return "hi " + n; }`));

    // a file saved with everything commented out (or truncated) exports nothing: refused too
    for (const text of [`// export function welcome(n: string) { return "hi " + n; }`, ""]) {
      const emptied = await compile("rm/lib", text);
      assert.throws(
        () => table.prepare([emptied]),
        (err: unknown) =>
          err instanceof ClusterError && err.code === "missing_import" && /rm\/lib would no longer export names that rm\/app \(welcome\)/.test(err.message),
      );
    }
    assert.equal((table.facade("rm/app").run as () => string)(), "hi ann");
  });
});

async function freePort(): Promise<number> {
  const s = net.createServer().listen(0, "127.0.0.1");
  await once(s, "listening");
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

async function ask(port: number): Promise<string> {
  const socket = net.connect(port, "127.0.0.1");
  let text = "";
  socket.on("data", (d: Buffer) => (text += d.toString()));
  await once(socket, "end");
  return text;
}

describe("rule 4: a server opened at top level and closed in hot.dispose", () => {
  test("20 reloads leave exactly one server answering, with no EADDRINUSE; a version that throws leaves the old one answering", async () => {
    const table = newTable();
    const port = await freePort();
    const errors: string[] = [];
    bus.on("server-error", (code: string) => errors.push(code));
    const open = new Set<string>();
    bus.on("open", (tag: string) => open.add(tag));
    bus.on("closed", (tag: string) => open.delete(tag));
    const server = (tag: string, extra = ""): string =>
      [
        `import * as net from "node:net";`,
        `import { emit } from "devcluster";`,
        `const server = net.createServer((s) => s.end("${tag}"));`,
        `server.on("error", (err: NodeJS.ErrnoException) => emit("server-error", err.code));`,
        `server.on("close", () => emit("closed", "${tag}"));`,
        `server.listen(${port}, "127.0.0.1", () => emit("open", "${tag}"));`,
        `import.meta.hot.dispose(() => server.close());`,
        extra,
      ].join("\n");

    for (let i = 1; i <= 20; i++) {
      const listening = nextEvent("open", `v${i}`);
      load(table, await compile("srv/server", server(`v${i}`)));
      await listening;
    }
    assert.deepEqual(errors, []);
    assert.deepEqual([...open], ["v20"], "exactly one server is open");
    assert.equal(await ask(port), "v20");

    const broken = await compile("srv/server", server("bad", `throw new Error("bad version");`));
    const p = table.prepare([broken]);
    assert.deepEqual(p.deferred, ["srv/server"], "its top level waits for COMMIT");
    const back = nextEvent("open", "v20");
    assert.throws(
      () => table.commit(p),
      (err: unknown) => err instanceof ClusterError && err.code === "eval_failed" && /bad version/.test(err.message),
    );
    await back;
    assert.deepEqual(errors, []);
    assert.equal(await ask(port), "v20", "the previous version runs again and answers");
    assert.ok(!open.has("bad"), "the failed version's server was closed by its own dispose");
    assert.equal(table.current("srv/server")!.version, table.versions()["srv/server"]);
    assert.notEqual(table.versions()["srv/server"], broken.version);
    // the last server is ours to close: node shutdown clears hot timers but a server is user code's
    const closed = nextEvent("closed", "v20");
    table.commit(table.prepare([await compile("srv/server", `export {};`)]));
    await closed;
  });
});

describe("rule 5: held method and function references reach the new code", () => {
  test("a bound method in setInterval, an extracted method, and a module's own function passed as a callback", async () => {
    const table = newTable();
    const clock = (tag: string): string =>
      [
        `import { emit, hot } from "devcluster";`,
        `export class Clock {`,
        `  timer?: NodeJS.Timeout;`,
        `  start() { this.timer = setInterval(this.tock.bind(this), 2); }`,
        `  tock() { emit("tock", "${tag}"); }`,
        `  stop() { clearInterval(this.timer); }`,
        `}`,
        `export function tick() { emit("tick", "${tag}"); }`,
        `export function held() { return tick; }`,
        `if (!hot.data.ticking) hot.data.ticking = setInterval(tick, 2);`,
        `export function stopTicking() { clearInterval(hot.data.ticking as NodeJS.Timeout); }`,
      ].join("\n");
    load(table, await compile("held/clock", clock("v1")));
    const Clock = table.facade("held/clock").Clock as new () => { start(): void; stop(): void; tock(): void };
    const c = new Clock();
    c.start();
    const extracted = c.tock;
    const ownRef = (table.facade("held/clock").held as () => () => void)();
    await nextEvent("tock", "v1");
    await nextEvent("tick", "v1");

    load(table, await compile("held/clock", clock("v2")));
    await nextEvent("tock", "v2"); // the interval holds a bound copy of v1's method
    await nextEvent("tick", "v2"); // the interval holds v1's own `tick`
    const seen = nextEvent("tock", "v2");
    extracted.call(c);
    await seen;
    const again = nextEvent("tick", "v2");
    ownRef();
    await again;
    assert.equal(c.tock, extracted, "one function per method name across versions");
    c.stop();
    (table.facade("held/clock").stopTicking as () => void)();
  });

  test("the old version's exports are still its own functions (a process left on it dispatches to them)", async () => {
    const table = newTable();
    load(table, await compile("held/two", `export function which() { return "v1"; }`));
    load(table, await compile("held/two", `export function which() { return "v2"; }`));
    assert.equal((table.old("held/two")!.exports.which as () => string)(), "v1");
    assert.equal((table.current("held/two")!.exports.which as () => string)(), "v2");
  });
});
