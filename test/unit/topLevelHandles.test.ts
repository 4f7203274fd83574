/**
 * What a module's top level starts (runtime/code/topLevelHandles.ts): after a save, an
 * interval or listener an earlier version's top level started and nothing stopped is
 * found, with its place in the .ts file; what `hot` started, what the old version
 * stopped in `hot.dispose`, and listeners on an emitter the top level made itself are not.
 */
import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { after, describe, test } from "node:test";
import pino from "pino";
import { Compiler } from "../../cli/save/compiler";
import type { HotContext } from "../../runtime/code/hot";
import { type Bundle, ModuleTable } from "../../runtime/code/loader";
import { leftRunning } from "../../runtime/code/topLevelHandles";

const projectDir = fs.mkdtempSync(path.join(os.tmpdir(), "devcluster-toplevel-"));
after(() => fs.rmSync(projectDir, { recursive: true, force: true }));
const compiler = new Compiler({ projectDir, srcDir: "src" });
const bus = new EventEmitter();
const table = new ModuleTable({ srcDir: compiler.srcDir, log: pino({ level: "silent" }), runtimeFor: (_m: string, hot: HotContext) => ({ hot, bus }) });

async function save(name: string, source: string): Promise<Bundle> {
  const file = compiler.fileOf(name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, source);
  const [m] = await compiler.compile([file]);
  assert.ok(m);
  const b = { name: m.name, version: m.version, code: m.code, imports: m.imports };
  table.commit(table.prepare([b]));
  return b;
}

const TICKER = (tag: string): string => `
import { bus, hot } from "devcluster";
import { EventEmitter } from "node:events";
const timer = setInterval(() => undefined, 60_000);
timer.unref();
(bus as any).on("tick", () => "${tag}");
(hot as any).setInterval(() => undefined, 60_000).unref();
(hot as any).on(bus, "hot", () => undefined);
const own = new EventEmitter();
own.on("x", () => undefined);
export const x = 1;
`;

describe("intervals and listeners an earlier version's top level started", () => {
  test("after a save, the old top level's setInterval and listener are named with their lines; hot's and the module's own emitter's are not", async () => {
    await save("ticker", TICKER("v1"));
    const v2 = await save("ticker", TICKER("v2"));
    const found = leftRunning(new Map([["ticker", v2.version]]), "ticker");
    assert.deepEqual(found, [
      { kind: "toplevel", module: "ticker", fn: "setInterval", at: "ticker.ts:4", count: 1 },
      { kind: "toplevel", module: "ticker", fn: 'a listener for "tick"', at: "ticker.ts:6", count: 1 },
    ]);
    // Each save adds one more.
    const v3 = await save("ticker", TICKER("v3"));
    assert.deepEqual(
      leftRunning(new Map([["ticker", v3.version]]), "ticker").map((f) => [f.fn, f.count]),
      [
        ["setInterval", 2],
        ['a listener for "tick"', 2],
      ],
    );
    assert.equal(bus.listenerCount("tick"), 3);
  });

  test("what the old version stopped in hot.dispose is not named", async () => {
    const src = (tag: string): string => `
import { bus, hot } from "devcluster";
const timer = setInterval(() => undefined, 60_000);
timer.unref();
const onTick = () => "${tag}";
(bus as any).on("tock", onTick);
(hot as any).dispose(() => { clearInterval(timer); (bus as any).off("tock", onTick); });
export const x = 1;
`;
    await save("tocker", src("v1"));
    const v2 = await save("tocker", src("v2"));
    assert.deepEqual(leftRunning(new Map([["tocker", v2.version]]), "tocker"), []);
    assert.equal(bus.listenerCount("tock"), 1);
  });
});

after(() => bus.removeAllListeners());
