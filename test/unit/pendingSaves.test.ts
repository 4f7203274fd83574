import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import fc from "fast-check";
import { bindingsOf } from "../../cli/save/bindings";
import { CodeStore } from "../../cli/dev/codeStore";
import { Compiler } from "../../cli/save/compiler";
import { PendingSaves } from "../../cli/save/pendingSaves";
import type { ReloadReport } from "../../cli/dev/reloadTransaction";
import type { Logger } from "../../wire/log";

/**
 * Round r of an edit that spans three files, as a refactor does: lib renames its
 * export to f<r>, a new file fresh<r> appears, and app moves to both. Any file
 * saved alone leaves the set inconsistent (app needs the others; lib drops the
 * name the loaded app reads).
 */
function round(r: number): Record<string, string> {
  return {
    "src/lib.ts": `export const f${r} = (): number => ${r};\n`,
    [`src/fresh${r}.ts`]: `export const h${r} = ${r * 10};\n`,
    "src/app.ts": `import { f${r} } from "./lib";\nimport { h${r} } from "./fresh${r}";\nexport const start = (): number => f${r}() + h${r};\n`,
  };
}

/** The cluster as the loader would check it: every import loaded, every name read exported. */
function assertConsistent(store: CodeStore): void {
  for (const name of store.names()) {
    const m = store.get(name)!;
    for (const dep of m.imports) {
      const d = store.get(dep);
      assert.ok(d, `${name} runs but imports ${dep}, which is not loaded`);
      const uses = bindingsOf(m.code).uses.get(dep);
      const exports = bindingsOf(d.code).exports;
      if (uses && exports) for (const n of uses) assert.ok(exports.has(n), `${name} reads ${n} from ${dep}, which does not export it`);
    }
  }
}

const ok = (names: string[]): ReloadReport => ({ ok: true, modules: names.map((n) => ({ name: n, version: "" })), nodes: [], ms: 0 });

describe("pending saves: after any sequence of saves, what runs is what is on disk", () => {
  const roots: string[] = [];
  after(() => {
    for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  });

  async function setup(): Promise<{ dir: string; compiler: Compiler; store: CodeStore; pending: PendingSaves; held: string[] }> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "devcluster-pending-"));
    roots.push(dir);
    for (const [rel, text] of Object.entries(round(0))) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), text);
    }
    const compiler = new Compiler({ projectDir: dir, srcDir: "src" });
    const store = new CodeStore();
    store.commit(await compiler.compileAll());
    const held: string[] = [];
    const log = { warn: (_o: unknown, msg: string) => held.push(msg), info: () => undefined, error: () => undefined } as unknown as Logger;
    return { dir, compiler, store, pending: new PendingSaves({ compiler, store, log }), held };
  }

  /** One batch through the planner; what it sends the (simulated) nodes accept when it is consistent, as the loader would. */
  async function deliver(env: Awaited<ReturnType<typeof setup>>, changed: string[]): Promise<void> {
    const plan = await env.pending.plan({ changed: changed.sort(), removed: [], assets: [], firstEventAt: 0 });
    if (plan.send.length === 0) return;
    env.store.commit(plan.send);
    assertConsistent(env.store);
    env.pending.settle(plan, ok(plan.send.map((m) => m.name)));
  }

  async function assertRunsDisk(env: Awaited<ReturnType<typeof setup>>): Promise<void> {
    for (const m of await env.compiler.compileAll()) assert.equal(env.store.get(m.name)?.version, m.version, `${m.name}: the nodes do not run what is on disk`);
    assert.deepEqual([...env.pending.pending().keys()], []);
  }

  test("an importer saved before the file that defines its new export is held, naming what it waits for, then both go", async () => {
    const env = await setup();
    const app = path.join(env.dir, "src", "app.ts");
    const lib = path.join(env.dir, "src", "lib.ts");
    fs.writeFileSync(app, `import { f0, added } from "./lib";\nimport { h0 } from "./fresh0";\nexport const start = (): number => f0() + added + h0;\n`);
    await deliver(env, [app]);
    assert.equal(env.held.length, 1);
    assert.match(env.held[0]!, /^src\/app\.ts is held back: it waits for lib \(src\/lib\.ts\) to export added$/);
    fs.writeFileSync(lib, `export const f0 = (): number => 0;\nexport const added = 1;\n`);
    await deliver(env, [lib]);
    await assertRunsDisk(env);
  });

  // issue 17, item 15
  test("an importer saved with the broken file that defines its new export is held, naming that file as broken", async () => {
    const env = await setup();
    const app = path.join(env.dir, "src", "app.ts");
    const lib = path.join(env.dir, "src", "lib.ts");
    fs.writeFileSync(app, `import { f0, added } from "./lib";\nimport { h0 } from "./fresh0";\nexport const start = (): number => f0() + added + h0;\n`);
    fs.writeFileSync(lib, `export const f0 = (): number => 0;\nexport const added = ;\n`);
    const plan = await env.pending.plan({ changed: [app, lib], removed: [], assets: [], firstEventAt: 0 });
    assert.deepEqual(plan.send, []);
    assert.deepEqual(plan.broken, [{ file: lib, at: "src/lib.ts:2:22" }]);
    assert.deepEqual(env.held, ["src/app.ts is held back: it waits for lib (src/lib.ts, which does not compile) to export added"]);
  });

  test("a new file and its importer split over two batches end up loaded together", async () => {
    const env = await setup();
    const files = Object.entries(round(1)).map(([rel, text]) => [path.join(env.dir, rel), text] as const);
    for (const [f, t] of files) fs.writeFileSync(f, t);
    // The importer's batch comes first; fresh1's event is still on its way.
    await deliver(env, [files[2]![0]]);
    await deliver(env, [files[1]![0]]);
    await deliver(env, [files[0]![0]]);
    await assertRunsDisk(env);
  });

  test("property: any order and any split of the saves of several refactors ends with the nodes running the disk", async () => {
    const roundArb = fc.record({
      order: fc.shuffledSubarray([0, 1, 2], { minLength: 3, maxLength: 3 }),
      cuts: fc.array(fc.boolean(), { minLength: 2, maxLength: 2 }),
      // Write each file before its batch is delivered (the disk moves ahead of the events), or only then.
      writeAllFirst: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(roundArb, { minLength: 1, maxLength: 3 }), async (rounds) => {
        const env = await setup();
        for (const [i, r] of rounds.entries()) {
          const files = Object.entries(round(i + 1)).map(([rel, text]) => [path.join(env.dir, rel), text] as const);
          const ordered = r.order.map((k) => files[k]!);
          if (r.writeAllFirst) for (const [f, t] of ordered) fs.writeFileSync(f, t);
          let batch: string[] = [];
          for (const [k, [f, t]] of ordered.entries()) {
            if (!r.writeAllFirst) fs.writeFileSync(f, t);
            batch.push(f);
            if (k === ordered.length - 1 || r.cuts[k]) {
              await deliver(env, batch);
              batch = [];
            }
          }
        }
        await assertRunsDisk(env);
      }),
      { numRuns: 40 },
    );
  });

  // issue 17, item 11
  test("the files outside src to watch are those the running modules bundle and those a broken one failed in, and no longer one nothing bundles", async () => {
    const env = await setup();
    const app = path.join(env.dir, "src", "app.ts");
    const fmt = path.join(env.dir, "shared", "fmt.ts");
    const fresh = path.join(env.dir, "shared", "fresh.ts");
    fs.mkdirSync(path.dirname(fmt));
    fs.writeFileSync(fmt, `export const fmt = (n: number): string => "#" + n;\n`);
    fs.writeFileSync(
      app,
      `import { f0 } from "./lib";\nimport { h0 } from "./fresh0";\nimport { fmt } from "../shared/fmt";\nexport const start = (): string => fmt(f0() + h0);\n`,
    );
    await deliver(env, [app]);
    assert.deepEqual(env.pending.watchedFiles(), [fmt]);

    // A newly imported outside file with a typo: the importer stays dirty, and the file to fix is watched.
    fs.writeFileSync(fresh, `export const fresh = ;\n`);
    fs.writeFileSync(
      app,
      `import { f0 } from "./lib";\nimport { h0 } from "./fresh0";\nimport { fresh } from "../shared/fresh";\nexport const start = (): number => f0() + h0 + fresh;\n`,
    );
    const plan = await env.pending.plan({ changed: [app], removed: [], assets: [], firstEventAt: 0 });
    assert.deepEqual(plan.broken, [{ file: app, at: "shared/fresh.ts:1:22" }]);
    assert.deepEqual(env.pending.watchedFiles(), [fmt, fresh]);

    fs.writeFileSync(fresh, `export const fresh = 5;\n`);
    // The watcher hands a file outside src in as an asset; the dirty importer is compiled again with it.
    const fixed = await env.pending.plan({ changed: [], removed: [], assets: [fresh], firstEventAt: 0 });
    assert.deepEqual(
      fixed.send.map((m) => m.name),
      ["app"],
    );
    env.store.commit(fixed.send);
    env.pending.settle(fixed, ok(["app"]));
    assert.deepEqual(env.pending.watchedFiles(), [fresh], "fmt.ts is bundled into nothing any more");
    await assertRunsDisk(env);
  });
});
