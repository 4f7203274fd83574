import assert from "node:assert/strict";
import { EventEmitter, once } from "node:events";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, afterEach, describe, test } from "node:test";
import pino from "pino";
import type { HotContext } from "../../runtime/code/hot";
import { HotInstance } from "../../runtime/code/hot";
import { type Bundle, ModuleTable, type ModuleTableOptions } from "../../runtime/code/loader";
import { ClusterError } from "../../wire/errors";
import { Compiler } from "../../cli/save/compiler";

const projectDir = fs.mkdtempSync(path.join(os.tmpdir(), "devcluster-loader-"));
after(() => fs.rmSync(projectDir, { recursive: true, force: true }));
/** The project's own compiler, so the loader is tested on the bundles the dev server really sends. */
const compiler = new Compiler({ projectDir, srcDir: "src" });
const srcDir = compiler.srcDir;

/** Writes a module's source under src/ without compiling it (the other half of a cycle, or a module not loaded yet). */
function writeFixture(name: string, source: string): string {
  const file = compiler.fileOf(name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, source);
  return file;
}

/** Writes one module and compiles it with cli/save/compiler.ts; the Bundle is what the coordinator sends the nodes. */
async function compileFixture(name: string, source: string): Promise<Bundle> {
  const [m, ...rest] = await compiler.compile([writeFixture(name, source)]);
  assert.ok(m && rest.length === 0 && m.name === name, `compiling ${name} gave ${m?.name}`);
  return { name: m.name, version: m.version, code: m.code, imports: m.imports };
}

/** What `require("devcluster")` gives fixtures: their hot context and a bus to report on. */
const bus = new EventEmitter();
const tables: ModuleTable[] = [];
let hots: HotInstance[] = [];

function newTable(extra: Partial<ModuleTableOptions> = {}): ModuleTable {
  const table = new ModuleTable({
    srcDir,
    log: pino({ level: "silent" }),
    runtimeFor: (_module: string, hot: HotContext) => {
      hots.push(hot as HotInstance);
      return { hot, emit: (event: string, ...args: unknown[]) => bus.emit(event, ...args) };
    },
    ...extra,
  });
  tables.push(table);
  return table;
}

function load(table: ModuleTable, ...bundles: Bundle[]): void {
  table.commit(table.prepare(bundles));
}

function hotOf(module: string, version: string): HotInstance {
  const h = hots.find((x) => x.module === module && x.version === version);
  assert.ok(h, `no hot context recorded for ${module}@${version}`);
  return h;
}

/** Resolves with the next `event` whose first argument is `tag`, or rejects after `ms`. */
async function nextEvent(event: string, tag: string, ms = 2000): Promise<void> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    for (;;) {
      const [got] = await once(bus, event, { signal: ac.signal });
      if (got === tag) return;
    }
  } catch (err) {
    if (ac.signal.aborted) throw new Error(`no ${event} "${tag}" within ${ms}ms`);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

afterEach(() => {
  for (const t of tables.splice(0)) t.close();
  for (const h of hots) h.close();
  hots = [];
  bus.removeAllListeners();
});

describe("loader: live code", () => {
  test("a callback captured before a reload calls the new code after commit", async () => {
    const table = newTable();
    load(table, await compileFixture("held/greet", `export function greet(n: string) { return "hello " + n; }`));
    const held = table.facade("held/greet").greet as (n: string) => string;
    assert.equal(held("ann"), "hello ann");

    const p = table.prepare([await compileFixture("held/greet", `export function greet(n: string) { return "hi " + n; }`)]);
    assert.equal(held("ann"), "hello ann", "prepare alone must not switch");
    table.commit(p);

    assert.equal(held("ann"), "hi ann");
    assert.equal(table.facade("held/greet").greet, held, "the trampoline is the same function object");
    assert.equal(held.name, "greet");
  });

  test("module b importing a reaches a's new version without b being reloaded", async () => {
    const table = newTable();
    const a1 = await compileFixture("imp/a", `export function word() { return "one"; }`);
    const b = await compileFixture("imp/b", `import { word } from "./a";\nexport function say() { return "b says " + word(); }`);
    assert.deepEqual(b.imports, ["imp/a"]);
    load(table, a1, b);
    const say = table.facade("imp/b").say as () => string;
    assert.equal(say(), "b says one");

    load(table, await compileFixture("imp/a", `export function word() { return "two"; }`));
    assert.equal(say(), "b says two");
    assert.equal(table.versions()["imp/b"], b.version, "b was not reloaded");
  });

  test("exports added by a new version appear on the facade and removed ones vanish", async () => {
    const table = newTable();
    load(table, await compileFixture("shape/m", `export function first() { return 1; }`));
    const facade = table.facade("shape/m");
    const first = facade.first as () => number;
    assert.equal(Reflect.get(facade, "second"), undefined);

    load(table, await compileFixture("shape/m", `export function second() { return 2; }\nexport let count = 5;\nexport function bump() { count++; }`));
    assert.equal((facade.second as () => number)(), 2);
    assert.equal(facade.count, 5);
    (facade.bump as () => void)();
    assert.equal(facade.count, 6, "a value export reads the live binding");
    assert.equal("first" in facade, false);
    assert.throws(() => first(), /shape\/m no longer exports first/);
  });

  test("a stack trace from a loaded module points at its .ts file and line, for the current and the old version", async () => {
    const table = newTable();
    load(table, await compileFixture("trace/room", `export function fail(): never {\n  throw new Error("v1 fails");\n}\n`));
    load(table, await compileFixture("trace/room", `// moved down\n\n\nexport function fail(): never {\n  throw new Error("v2 fails");\n}\n`));

    const stackOf = (fn: unknown): string => {
      try {
        (fn as () => never)();
      } catch (err) {
        return (err as Error).stack!;
      }
      assert.fail("did not throw");
    };
    assert.match(stackOf(table.current("trace/room")!.exports.fail), /room\.ts:5:\d+/);
    assert.match(stackOf(table.old("trace/room")!.exports.fail), /room\.ts:2:\d+/);
  });
  test("a module the compiler bundles (it imports a JSON file) still reaches project modules through their facades", async () => {
    const table = newTable();
    load(table, await compileFixture("bundled/word", `export function word() { return "one"; }`));
    fs.writeFileSync(path.join(srcDir, "bundled", "data.json"), JSON.stringify({ greeting: "hello" }));
    const user = await compileFixture(
      "bundled/user",
      `import data from "./data.json";\nimport { word } from "./word";\nexport function say() { return data.greeting + " " + word(); }`,
    );
    assert.deepEqual(user.imports, ["bundled/word"]);
    load(table, user);
    const say = table.facade("bundled/user").say as () => string;
    assert.equal(say(), "hello one");
    load(table, await compileFixture("bundled/word", `export function word() { return "two"; }`));
    assert.equal(say(), "hello two");
  });
});

describe("loader: classes", () => {
  test("an existing instance gets the new method, instanceof holds, and new makes the new version", async () => {
    const table = newTable();
    const v1 = `export class Counter {\n  static kind = "v1";\n  n = 0;\n  inc() { this.n += 1; return "v1"; }\n}\n`;
    const v2 = `export class Counter {\n  static kind = "v2";\n  n = 0;\n  inc() { this.n += 10; return "v2"; }\n  twice() { this.inc(); return this.inc(); }\n}\n`;
    load(table, await compileFixture("cls/counter", v1));
    const Counter = table.facade("cls/counter").Counter as new () => { n: number; inc(): string; twice?(): string };
    const c = new Counter();
    assert.equal(c.inc(), "v1");

    load(table, await compileFixture("cls/counter", v2));
    assert.equal(table.facade("cls/counter").Counter, Counter, "the facade's class is stable");
    assert.equal(c.inc(), "v2");
    assert.equal(c.twice!(), "v2");
    assert.equal(c.n, 31, "state of the existing instance is kept");
    assert.ok(c instanceof Counter);
    assert.equal((Counter as unknown as { kind: string }).kind, "v2", "statics read through to the current version");

    const raw2 = table.current("cls/counter")!.exports.Counter as Function;
    const d = new Counter();
    assert.equal(Object.getPrototypeOf(d), raw2.prototype, "new constructs with the current version");
    assert.ok(d instanceof Counter);
    assert.ok(c instanceof raw2, "the new version's own class accepts old instances");
  });

  test("a subclass in another module extends the current version of its base across reloads", async () => {
    const table = newTable();
    load(
      table,
      await compileFixture("sub/base", `export class Base { hello() { return "base v1"; } }`),
      await compileFixture("sub/loud", `import { Base } from "./base";\nexport class Loud extends Base { shout() { return this.hello().toUpperCase(); } }`),
    );
    const Loud = table.facade("sub/loud").Loud as new () => { shout(): string };
    const Base = table.facade("sub/base").Base as Function;
    const early = new Loud();
    load(table, await compileFixture("sub/base", `export class Base { hello() { return "base v2"; } }`));
    assert.equal(early.shout(), "BASE V2");
    const late = new Loud();
    assert.equal(late.shout(), "BASE V2");
    assert.ok(late instanceof Base && late instanceof Loud);
    assert.ok(!(new (Base as new () => object)() instanceof Loud), "a base instance is not a subclass instance");
  });
});

describe("loader: hot API", () => {
  test("hot.data carries a value across versions, dispose runs on the outgoing instance and stops its interval", async () => {
    const table = newTable();
    const source = (tag: string): string =>
      [
        `import * as rt from "devcluster";`,
        `const hot = import.meta.hot;`,
        `export const sameHot = rt.hot === hot;`,
        `hot.data.loads = ((hot.data.loads as number) ?? 0) + 1;`,
        `hot.setInterval(() => rt.emit("tick", "${tag}"), 2);`,
        `hot.dispose((data) => { data.disposedBy = "${tag}"; });`,
      ].join("\n");
    const v1 = await compileFixture("hot/ticker", source("v1"));
    load(table, v1);
    assert.equal(table.facade("hot/ticker").sameHot, true, "import.meta.hot is the module's hot context");
    await nextEvent("tick", "v1");
    const hot1 = hotOf("hot/ticker", v1.version);
    assert.equal(hot1.pending, 1);

    const v2 = await compileFixture("hot/ticker", source("v2"));
    let v1TicksAfterCommit = 0;
    const p = table.prepare([v2]);
    table.commit(p);
    bus.on("tick", (tag) => {
      if (tag === "v1") v1TicksAfterCommit += 1;
    });

    assert.equal(hot1.pending, 0, "the outgoing instance's interval is cleared");
    assert.equal(hot1.data.disposedBy, "v1");
    assert.equal(hotOf("hot/ticker", v2.version).data, hot1.data, "one data object per module");
    assert.equal(hot1.data.loads, 2);
    // Several v2 ticks span several v1 periods: a surviving v1 interval would have fired by then.
    for (let i = 0; i < 5; i++) await nextEvent("tick", "v2");
    assert.equal(v1TicksAfterCommit, 0);
  });

  test("a hot.setTimeout that fired is no longer pending, and a disposed context starts no timers", async () => {
    const hot = new HotInstance("unit/hot", "v1", {});
    await new Promise<void>((resolve) => hot.setTimeout(resolve, 1));
    assert.equal(hot.pending, 0);
    hot.close();
    let fired = false;
    hot.setInterval(() => (fired = true), 1);
    assert.equal(hot.pending, 0);
    await new Promise<void>((resolve) => setTimeout(resolve, 5)); // long enough for a 1ms interval to have fired
    assert.equal(fired, false);
  });

  test("hot.on listeners are removed when the instance is replaced", async () => {
    const table = newTable();
    const source = (tag: string): string =>
      `import * as rt from "devcluster";\nexport const emitter = (rt.hot.data.emitter ??= new (require("node:events").EventEmitter)());\nrt.hot.on(emitter, "ping", () => rt.emit("pong", "${tag}"));`;
    load(table, await compileFixture("hot/listener", source("v1")));
    const emitter = table.facade("hot/listener").emitter as EventEmitter;
    assert.equal(emitter.listenerCount("ping"), 1);
    load(table, await compileFixture("hot/listener", source("v2")));
    assert.equal(emitter.listenerCount("ping"), 1, "only the new version listens");
    const pongs: unknown[] = [];
    bus.on("pong", (t) => pongs.push(t));
    emitter.emit("ping");
    assert.deepEqual(pongs, ["v2"]);
  });
});

describe("loader: prepare, commit, abort", () => {
  test("modules of an import cycle load in one batch and call each other after commit", async () => {
    const table = newTable();
    writeFixture("cycle/pong", `import { ping } from "./ping";\nexport function pong(n: number): string { return n === 0 ? "pong" : ping(n - 1); }`);
    const ping = await compileFixture(
      "cycle/ping",
      `import { pong } from "./pong";\nexport function ping(n: number): string { return n === 0 ? "ping" : pong(n - 1); }`,
    );
    const pong = await compileFixture(
      "cycle/pong",
      `import { ping } from "./ping";\nexport function pong(n: number): string { return n === 0 ? "pong" : ping(n - 1); }`,
    );
    load(table, ping, pong);
    assert.equal((table.facade("cycle/ping").ping as (n: number) => string)(3), "pong");
  });

  test("a module that throws at load fails prepare with eval_failed, keeps the current version and clears its timers", async () => {
    const table = newTable();
    const good = await compileFixture("fail/room", `export function ok() { return "good"; }`);
    load(table, good);
    const bad = await compileFixture(
      "fail/room",
      `import * as rt from "devcluster";\nrt.hot.setInterval(() => rt.emit("tick", "bad"), 1);\nexport function ok() { return "bad"; }\nthrow new Error("kaboom");\n`,
    );
    assert.throws(
      () => table.prepare([bad]),
      (err: unknown) => {
        assert.ok(err instanceof ClusterError);
        assert.equal(err.code, "eval_failed");
        assert.equal(err.module, "fail/room");
        assert.match(err.message, /fail\/room failed to evaluate \(Error at fail\/room\.ts:4:\d+\): kaboom/);
        assert.match(err.stack!, /room\.ts:4:\d+/);
        return true;
      },
    );
    assert.equal(table.versions()["fail/room"], good.version);
    assert.equal((table.facade("fail/room").ok as () => string)(), "good");
    assert.equal(hotOf("fail/room", bad.version).pending, 0, "the failed instance's interval is cleared");
  });

  test("a .js module that throws at load names the .js file and line, as a .ts one does", async () => {
    const table = newTable();
    const file = path.join(srcDir, "fail", "plain.js");
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `export const a = 1;\nthrow new Error("js kaboom");\n`);
    const [m] = await compiler.compile([file]);
    assert.throws(
      () => table.prepare([{ name: m!.name, version: m!.version, code: m!.code, imports: m!.imports }]),
      /fail\/plain failed to evaluate \(Error at fail\/plain\.js:2:\d+\): js kaboom/,
    );
  });

  test("an endless loop at top level fails prepare with timeout and leaves no trace", async () => {
    const table = newTable({ evalTimeoutMs: 200 });
    const loop = await compileFixture("fail/loop", `export const x = 1;\nwhile (true) {}\n`);
    assert.throws(
      () => table.prepare([loop]),
      (err: unknown) => err instanceof ClusterError && err.code === "timeout" && err.module === "fail/loop",
    );
    assert.equal(table.has("fail/loop"), false);
    assert.throws(
      () => table.facade("fail/loop"),
      (err: unknown) => err instanceof ClusterError && err.code === "missing_import",
    );
  });

  test("importing a module that is neither loaded nor in the reload fails prepare with missing_import", async () => {
    const table = newTable();
    // it exists in the source folder (the compiler resolves it) but was never loaded on this node
    writeFixture("miss/nowhere", `export function f() { return 1; }`);
    const orphan = await compileFixture("miss/b", `import { f } from "./nowhere";\nexport const y = () => f();`);
    assert.throws(
      () => table.prepare([orphan]),
      (err: unknown) => err instanceof ClusterError && err.code === "missing_import" && /miss\/nowhere/.test(err.message),
    );
  });

  test("a behaviour that stops exporting init fails prepare with bad_shape naming init", async () => {
    const table = newTable();
    load(table, await compileFixture("shape/behaviour", `export function init() { return 0; }`));
    const broken = await compileFixture("shape/behaviour", `export function start() { return 0; }`);
    assert.throws(
      () => table.prepare([broken]),
      (err: unknown) => err instanceof ClusterError && err.code === "bad_shape" && /init/.test(err.message),
    );
  });

  test("a third version is refused with not_purged while processes run the oldest, and loads with force", async () => {
    let users: string[] = [];
    const table = newTable({ oldVersionUsers: (name) => (name === "purge/room" ? users : []) });
    const v1 = await compileFixture("purge/room", `export const v = 1;`);
    const v2 = await compileFixture("purge/room", `export const v = 2;`);
    const v3 = await compileFixture("purge/room", `export const v = 3;`);
    load(table, v1);
    load(table, v2);
    users = ["<n1.3>", "<n1.4>"];
    assert.throws(
      () => table.prepare([v3]),
      (err: unknown) => {
        assert.ok(err instanceof ClusterError);
        assert.equal(err.code, "not_purged");
        assert.deepEqual(err.pids, ["<n1.3>", "<n1.4>"]);
        assert.match(err.message, /cannot load a third version of purge\/room: 2 processes still run the oldest \(<n1\.3>, <n1\.4>\)/);
        return true;
      },
    );
    assert.equal(table.versions()["purge/room"], v2.version);
    table.commit(table.prepare([v3], { force: true }));
    assert.equal(table.current("purge/room")!.version, v3.version);
    assert.equal(table.old("purge/room")!.version, v2.version);
  });

  test("a batch where new b imports new a, earlier in the batch, evaluates b against the prepared a", async () => {
    const table = newTable();
    const a = await compileFixture("batch/a", `export function base() { return 40; }`);
    const b = await compileFixture("batch/b", `import { base } from "./a";\nexport const answer = base() + 2;\nexport function later() { return base(); }`);
    const p = table.prepare([a, b]);
    assert.equal(table.has("batch/a"), false, "nothing is visible before commit");
    const changed: unknown[] = [];
    table.on("commit", (c) => changed.push(c));
    assert.deepEqual(table.commit(p), [
      { name: "batch/a", to: a.version },
      { name: "batch/b", to: b.version },
    ]);
    assert.equal(changed.length, 1);
    assert.equal(table.facade("batch/b").answer, 42);

    // Both change at once, and b's top level uses an export only the new a has.
    const a2 = await compileFixture("batch/a", `export function base() { return 1; }\nexport function extra() { return 100; }`);
    const b2 = await compileFixture(
      "batch/b",
      `import { base, extra } from "./a";\nexport const answer = base() + extra();\nexport function later() { return base(); }`,
    );
    const p2 = table.prepare([a2, b2]);
    assert.equal((table.facade("batch/b").later as () => number)(), 40, "between prepare and commit the old a is current");
    table.commit(p2);
    assert.equal(table.facade("batch/b").answer, 101);
    assert.equal((table.facade("batch/b").later as () => number)(), 1);
  });

  test("abort leaves the old version current and stops the prepared instance's timers", async () => {
    const table = newTable();
    const v1 = await compileFixture("abort/m", `export function which() { return "v1"; }`);
    load(table, v1);
    const v2 = await compileFixture(
      "abort/m",
      `import * as rt from "devcluster";\nrt.hot.setInterval(() => undefined, 1000);\nexport function which() { return "v2"; }`,
    );
    const p = table.prepare([v2]);
    const hot2 = hotOf("abort/m", v2.version);
    assert.equal(hot2.pending, 1);
    table.abort(p);
    assert.equal(hot2.pending, 0);
    assert.equal((table.facade("abort/m").which as () => string)(), "v1");
    assert.deepEqual(table.versions(), { "abort/m": v1.version });
    assert.throws(() => table.commit(p), /already aborted/);
  });
});

// Issue 17, items 3-8: instances of live classes, barrels, exported functions.
describe("loader: instances made before a save, private members, re-exported classes, exported functions", () => {
  test("a field added with an initializer is added to instances made before, in declaration order, and the migrate hook runs on them", async () => {
    const table = newTable();
    const v1 = `export class Node {\n  term = 1;\n  beat() { return this.term; }\n}\nexport const early = new Node();\n`;
    const v2 = [
      `const migrate = Symbol.for("devcluster.migrate");`,
      `export class Node {`,
      `  term = 1;`,
      `  heartbeatsReceived = 0;`,
      `  label = "t" + this.term + "/" + this.heartbeatsReceived;`,
      `  beat() { this.heartbeatsReceived++; return this.heartbeatsReceived; }`,
      `  [migrate](from: string) { (this as any).migratedFrom = from; }`,
      `}`,
      `export const early = new Node();`,
    ].join("\n");
    load(table, await compileFixture("fields/node", v1));
    const Node = table.facade("fields/node").Node as new () => { beat(): number; term: number };
    const old = new Node();
    old.term = 7;
    const v1Version = table.current("fields/node")!.version;
    load(table, await compileFixture("fields/node", v2));
    const o = old as unknown as Record<string, unknown>;
    assert.equal(old.beat(), 1, "this.heartbeatsReceived++ on an instance made before the save counts from 0, not NaN");
    assert.equal(old.beat(), 2);
    assert.equal(o.label, "t7/0", "initializers run on the instance, in declaration order");
    assert.equal(o.term, 7, "a field the instance has keeps its value");
    assert.equal(o.migratedFrom, v1Version, "the hook ran with the version the instance leaves");
    const fresh = new Node() as unknown as Record<string, unknown>;
    assert.equal(fresh.migratedFrom, undefined, "the hook does not run on instances of the new version");
    assert.deepEqual(Object.keys(o), ["term", "heartbeatsReceived", "label", "migratedFrom"]);
  });

  test("a field whose initializer uses super is named in a warning: it is not added to instances made before", async () => {
    const lines: Record<string, unknown>[] = [];
    const table = newTable({ log: pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) }) });
    load(table, await compileFixture("superfield/k", `class Base { get y() { return 1; } }\nexport class K extends Base {}\n`));
    assert.equal(lines.length, 0, "a first version has no instances made before it");
    load(table, await compileFixture("superfield/k", `class Base { get y() { return 1; } }\nexport class K extends Base {\n  x = super.y + 1;\n}\n`));
    const warned = lines.find((l) => l.msg === "fields not added to instances made before this version");
    assert.deepEqual(warned && { class: warned.class, fields: warned.fields }, { class: "K", fields: ["x"] });
  });

  test("with a tsconfig target below ES2022 (fields set in the constructor), a field added to a class reaches instances made before", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "devcluster-assign-fields-"));
    try {
      fs.mkdirSync(path.join(dir, "src"));
      fs.writeFileSync(path.join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions: { target: "ES2020" } }));
      const es2020 = new Compiler({ projectDir: dir, srcDir: "src" });
      const compile = async (source: string): Promise<Bundle> => {
        fs.writeFileSync(path.join(dir, "src", "peer.ts"), source);
        const [m] = await es2020.compile([path.join(dir, "src", "peer.ts")]);
        return { name: "assign/peer", version: m!.version, code: m!.code, imports: m!.imports };
      };
      const table = newTable();
      load(table, await compile(`export class Peer {\n  term = 1;\n  constructor(public name: string) {}\n}\n`));
      const Peer = table.facade("assign/peer").Peer as new (name: string) => Record<string, unknown>;
      const old = new Peer("a");
      const v2 = await compile(`export class Peer {\n  term = 1;\n  beats = this.term * 10;\n  constructor(public name: string) {}\n}\n`);
      assert.match(v2.code, /this\.beats = this\.term \* 10/, "esbuild set the field in the constructor");
      load(table, v2);
      assert.equal(old.beats, 10);
      assert.equal(old.name, "a", "a parameter property is not taken for a field");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test("an instance whose migrate hook throws is logged with the class and the count, and the others are migrated", async () => {
    const lines: Record<string, unknown>[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) });
    const table = newTable({ log });
    load(table, await compileFixture("hook/peer", `export class Peer {\n  constructor(public bad: boolean) {}\n}\n`));
    const Peer = table.facade("hook/peer").Peer as new (bad: boolean) => Record<string, unknown>;
    const good = new Peer(false);
    const bad = new Peer(true);
    const v2 = [
      `export class Peer {`,
      `  retries = 0;`,
      `  constructor(public bad: boolean) {}`,
      `  [Symbol.for("devcluster.migrate")]() { if (this.bad) throw new Error("cannot migrate"); (this as any).ok = true; }`,
      `}`,
    ].join("\n");
    load(table, await compileFixture("hook/peer", v2));
    assert.equal(good.ok, true);
    assert.equal(good.retries, 0);
    assert.equal(bad.retries, 0, "the fields were added before the hook threw");
    const logged = lines.find((l) => l.msg === "instances not migrated to the new version");
    assert.ok(logged, JSON.stringify(lines));
    assert.equal(logged.class, "hook/peer.Peer");
    assert.equal(logged.failed, 1);
    assert.equal(logged.instances, 2);
    assert.match(JSON.stringify(logged.err), /cannot migrate/);
  });

  test("instances made before a save keep their #private state under the new methods, with other.#x and #x in obj", async () => {
    const table = newTable();
    const v1 = `export class Account {\n  #balance = 0;\n  deposit(n: number) { this.#balance += n; return this.#balance; }\n}\n`;
    const v2 = [
      `export class Account {`,
      `  #balance = 0;`,
      `  #fee = 1;`,
      `  deposit(n: number) { this.#balance += n - this.#fee; return this.#balance; }`,
      `  #check(o: unknown) { return #balance in (o as object); }`,
      `  same(o: Account) { return this.#check(o) && o.#balance === this.#balance; }`,
      `}`,
      `export class Other { #balance = 5; }`,
    ].join("\n");
    load(table, await compileFixture("priv/account", v1));
    const Account = table.facade("priv/account").Account as new () => { deposit(n: number): number; same(o: unknown): boolean };
    const a = new Account();
    const b = new Account();
    a.deposit(10);
    b.deposit(10);
    load(table, await compileFixture("priv/account", v2));
    assert.equal(a.deposit(5), 14, "the old balance is read by the new method, and the new #fee was added");
    assert.equal(b.deposit(1), 10);
    assert.equal(a.same(b), false);
    assert.equal(b.deposit(4), 13);
    assert.equal(a.same(b), false);
    const c = new Account();
    assert.equal(c.same(c), true);
    assert.equal(c.same({}), false, "#balance in a plain object is false");
    // Other's #balance is another private name, though esbuild lowers both to WeakMaps of one module.
    assert.equal(a.same(new (table.facade("priv/account").Other as new () => object)()), false);
  });

  test("an exported class renamed in its module (export default class) keeps the #private state of its instances", async () => {
    const table = newTable();
    load(
      table,
      await compileFixture(
        "priv/renamed",
        `export default class Account {\n  #balance = 0;\n  add(n: number) { this.#balance += n; return this.#balance; }\n}\n`,
      ),
    );
    const a = new (table.facade("priv/renamed").default as new () => { add(n: number): number })();
    a.add(5);
    load(
      table,
      await compileFixture(
        "priv/renamed",
        `export default class Acct {\n  #balance = 0;\n  add(n: number) { this.#balance += 2 * n; return this.#balance; }\n}\n`,
      ),
    );
    assert.equal(a.add(1), 7);
  });

  test("a static method that uses this.#items works when another module calls it through the class it imported", async () => {
    const table = newTable();
    const registry = `export class Registry {\n  static #items: string[] = [];\n  static add(x: string) { this.#items.push(x); return this.#items.length; }\n}\n`;
    const user = `import { Registry } from "./registry";\nexport function addTwo() { Registry.add("a"); return Registry.add("b"); }\n`;
    load(table, await compileFixture("stat/registry", registry), await compileFixture("stat/user", user));
    assert.equal((table.facade("stat/user").addTwo as () => number)(), 2);
  });

  test("a class re-exported through a barrel (named and default) constructs an object with its methods", async () => {
    const table = newTable();
    load(
      table,
      await compileFixture("barrel/widget", `export class Widget { hi() { return "widget"; } }`),
      await compileFixture("barrel/greeter", `export default class Greeter { hi() { return "greeter"; } }`),
      await compileFixture("barrel/index", `export { Widget } from "./widget";\nexport { default as Greeter } from "./greeter";\n`),
      await compileFixture(
        "barrel/user",
        `import { Widget, Greeter } from "./index";\nexport function both() { const w = new Widget(); return [w.hi(), new Greeter().hi(), w instanceof Widget]; }\n`,
      ),
    );
    assert.deepEqual((table.facade("barrel/user").both as () => unknown[])(), ["widget", "greeter", true]);
    load(table, await compileFixture("barrel/widget", `export class Widget { hi() { return "widget v2"; } }`));
    assert.deepEqual((table.facade("barrel/user").both as () => unknown[])(), ["widget v2", "greeter", true]);
    // The barrel's own names are its `export { .. } from`: saving it while barrel/user imports them is no removal.
    load(table, await compileFixture("barrel/index", `export { Widget } from "./widget";\nexport { default as Greeter } from "./greeter";\n// saved again\n`));
    assert.deepEqual((table.facade("barrel/user").both as () => unknown[])(), ["widget v2", "greeter", true]);
  });

  test("properties set on an exported function are seen by importers, and follow a reload", async () => {
    const table = newTable();
    load(
      table,
      await compileFixture("props/health", `export function health() { return "ok"; }\nhealth.path = "/health";\n`),
      await compileFixture("props/user", `import { health } from "./health";\nexport function route() { return (health as any).path + " " + health(); }\n`),
    );
    assert.equal((table.facade("props/user").route as () => string)(), "/health ok");
    load(
      table,
      await compileFixture(
        "props/health",
        `export function health() { (health as any).hits = ((health as any).hits ?? 0) + 1; return "fine"; }\nhealth.path = "/healthz";\n`,
      ),
    );
    assert.equal((table.facade("props/user").route as () => string)(), "/healthz fine");
    assert.equal((table.facade("props/health").health as unknown as { hits: number }).hits, 1, "a property the function gains after load shows too");
  });

  test("an exported let holding a function, reassigned by its module, is seen reassigned by importers", async () => {
    const table = newTable();
    load(
      table,
      await compileFixture("bind/clock", `export let now = () => 1;\nexport function freeze(t: number) { now = () => t; }\n`),
      await compileFixture("bind/user", `import { now } from "./clock";\nexport function read() { return now(); }\n`),
    );
    const read = table.facade("bind/user").read as () => number;
    const held = table.facade("bind/clock").now as () => number; // a listener registered with it, say
    assert.equal(read(), 1);
    (table.facade("bind/clock").freeze as (t: number) => void)(42);
    assert.equal(read(), 42);
    assert.equal(held(), 42, "a reference taken before the reassignment calls what the binding holds now");
    load(table, await compileFixture("bind/clock", `export let now = () => 2;\nexport function freeze(t: number) { now = () => t * 2; }\n`));
    assert.equal(held(), 2, "and what the next version's binding holds");
    assert.equal(table.facade("bind/clock").now, held);
  });
});

// Issue 17: a module that may register hot.dispose is read from its syntax tree, not matched with /\.dispose\(/.
describe("loader: which modules wait for COMMIT because they hold resources across versions", () => {
  /** Prepares `source` as module `name` on `table` (a fresh one by default): is it deferred, and did its top level run at PREPARE? */
  async function prepared(name: string, source: string, table = newTable()): Promise<{ deferred: string[]; ranAtPrepare: boolean }> {
    let ran = false;
    bus.on("ran", (tag) => (ran ||= tag === name));
    const p = table.prepare([await compileFixture(name, source)]);
    const out = { deferred: p.deferred, ranAtPrepare: ran };
    table.abort(p);
    return out;
  }

  test("a module that calls dispose() on an object of its own runs at PREPARE, where its errors are refused before any node switches", async () => {
    const source = `import * as rt from "devcluster";\nconst sub = { dispose() {} };\nsub.dispose();\nrt.emit("ran", "res/sub");\nexport const ok = true;\n`;
    assert.deepEqual(await prepared("res/sub", source), { deferred: [], ranAtPrepare: true });
  });

  test('a module whose string mentions "hot.dispose(" runs at PREPARE', async () => {
    const source = `import * as rt from "devcluster";\nexport const help = "release the port with import.meta.hot.dispose(cb)";\nrt.emit("ran", "res/text");\n`;
    assert.deepEqual(await prepared("res/text", source), { deferred: [], ranAtPrepare: true });
  });

  test('a module that registers its dispose as hot["dispose"](cb) waits for COMMIT, so its server never runs beside the old one', async () => {
    const source = `import * as rt from "devcluster";\nimport { hot } from "devcluster";\nconst server = { close() {} };\nhot["dispose"](() => server.close());\nrt.emit("ran", "res/bracket");\n`;
    assert.deepEqual(await prepared("res/bracket", source), { deferred: ["res/bracket"], ranAtPrepare: false });
  });

  test("a module that hands its hot object to another module's function waits for COMMIT (that function may register a dispose)", async () => {
    const table = newTable();
    load(table, await compileFixture("res/keeper", `export function keep(h: { dispose(cb: () => void): void }) { h.dispose(() => {}); }\n`));
    const source = `import * as rt from "devcluster";\nimport { keep } from "./keeper";\nkeep(import.meta.hot!);\nrt.emit("ran", "res/handed");\n`;
    assert.deepEqual(await prepared("res/handed", source, table), { deferred: ["res/handed"], ranAtPrepare: false });
  });

  test("a module that disposes through a top-level alias of its hot object waits for COMMIT; one that only reads hot.data runs at PREPARE", async () => {
    const alias = `import * as rt from "devcluster";\nconst h = import.meta.hot;\nh?.dispose(() => {});\nrt.emit("ran", "res/alias");\n`;
    assert.deepEqual(await prepared("res/alias", alias), { deferred: ["res/alias"], ranAtPrepare: false });
    const data = `import * as rt from "devcluster";\nif (import.meta.hot) import.meta.hot.data.n = 1;\nrt.emit("ran", "res/data");\n`;
    assert.deepEqual(await prepared("res/data", data), { deferred: [], ranAtPrepare: true });
  });
});
