import { after, afterEach, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import { Watcher, mergeBatches, type ChangeBatch } from "../../cli/save/watcher";

const DEADLINE_MS = 3000;

/** Records every batch; `next()` waits for the next one not yet taken, with a deadline. */
class Batches {
  readonly all: ChangeBatch[] = [];
  private taken = 0;
  private waiter: (() => void) | undefined;

  constructor(w: Watcher) {
    w.on("batch", (b) => {
      this.all.push(b);
      this.waiter?.();
    });
  }

  async next(what: string): Promise<ChangeBatch> {
    while (this.all.length <= this.taken) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no batch within ${DEADLINE_MS} ms: ${what}`)), DEADLINE_MS);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    return this.all[this.taken++];
  }
}

describe("watcher", () => {
  const roots: string[] = [];
  let srcDir: string;
  let watcher: Watcher;
  let batches: Batches;

  beforeEach(async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "devcluster-watcher-"));
    roots.push(root);
    srcDir = path.join(root, "src");
    fs.mkdirSync(path.join(srcDir, "chat"), { recursive: true });
    for (let i = 0; i < 10; i++) fs.writeFileSync(path.join(srcDir, `m${i}.ts`), `export const v = ${i};\n`);
    fs.writeFileSync(path.join(srcDir, "chat", "room.ts"), "export const room = 1;\n");
    watcher = new Watcher({ srcDir });
    batches = new Batches(watcher);
    await watcher.start();
  });

  afterEach(() => watcher.close());
  after(() => {
    for (const r of roots) fs.rmSync(r, { recursive: true, force: true });
  });

  /**
   * Proves no stray batch trails the burst under test: a later write of another
   * file must arrive as a batch of exactly that file, right after.
   */
  async function expectNothingElse(): Promise<void> {
    const sentinel = path.join(srcDir, "sentinel.ts");
    fs.writeFileSync(sentinel, `export const s = ${Math.random()};\n`);
    const b = await batches.next("sentinel write");
    assert.deepEqual(b, { changed: [sentinel], removed: [], assets: [], firstEventAt: b.firstEventAt });
  }

  test("a second save of a file right after its first is delivered too (chokidar's 50 ms throttle drops it)", async () => {
    const file = path.join(srcDir, "chat", "room.ts");
    fs.writeFileSync(file, "export const room = 2;\n");
    await batches.next("first save");
    // Within chokidar's throttle window of the first change event.
    fs.writeFileSync(file, "export const room = 3;\n");
    const b = await batches.next("second save");
    assert.deepEqual(b.changed, [file]);
    assert.equal(fs.readFileSync(file, "utf8"), "export const room = 3;\n");
  });

  test("writing one file emits one batch with that file changed", async () => {
    const file = path.join(srcDir, "chat", "room.ts");
    const t0 = performance.now();
    fs.writeFileSync(file, "export const room = 2;\n");
    const b = await batches.next("single write");
    assert.deepEqual(b.changed, [file]);
    assert.deepEqual(b.removed, []);
    assert.ok(b.firstEventAt >= t0 && b.firstEventAt <= performance.now());
    await expectNothingElse();
  });

  test("writing ten files in a loop delivers all ten, each changed, with no window to wait for (the dev server merges what comes during a reload)", async () => {
    const files = Array.from({ length: 10 }, (_, i) => path.join(srcDir, `m${i}.ts`));
    for (const [i, f] of files.entries()) fs.writeFileSync(f, `export const v = ${i + 100};\n`);
    const seen = new Set<string>();
    while (seen.size < files.length) {
      const b = await batches.next("ten writes");
      assert.deepEqual(b.removed, []);
      for (const f of b.changed) seen.add(f);
    }
    assert.deepEqual([...seen].sort(), [...files].sort());
    await expectNothingElse();
  });

  test("batches that wait behind a reload in flight are merged into one, the later state of each file winning", () => {
    const [a, b, c] = ["/s/a.ts", "/s/b.ts", "/s/c.ts"];
    const merged = mergeBatches(
      { changed: [a, b], removed: [], assets: ["/s/x.json"], firstEventAt: 1 },
      { changed: [c], removed: [b], assets: ["/s/x.json"], firstEventAt: 2 },
    );
    assert.deepEqual(merged, { changed: [a, c], removed: [b], assets: ["/s/x.json"], firstEventAt: 1 });
  });

  test("an atomic save (write a temp file, rename it over) is one batch with that file changed", async () => {
    const file = path.join(srcDir, "chat", "room.ts");
    fs.writeFileSync(file + ".tmp", "export const room = 3;\n");
    fs.renameSync(file + ".tmp", file);
    const b = await batches.next("atomic save");
    assert.deepEqual(b, { changed: [file], removed: [], assets: [], firstEventAt: b.firstEventAt });
    await expectNothingElse();
  });

  test("a save that deletes the file and renames the new one in a moment later is one batch with that file changed", async () => {
    const file = path.join(srcDir, "chat", "room.ts");
    fs.writeFileSync(file + ".swp", "export const room = 4;\n");
    fs.unlinkSync(file);
    // The gap is the editor's, longer than the quiet window: only chokidar's
    // atomic mode (it holds an unlink back 100 ms, waiting for the re-add)
    // keeps this from being a batch that removes chat/room and unloads it.
    await new Promise((r) => setTimeout(r, 20));
    fs.renameSync(file + ".swp", file);
    const b = await batches.next("delete then rename");
    assert.deepEqual(b, { changed: [file], removed: [], assets: [], firstEventAt: b.firstEventAt });
    await expectNothingElse();
  });

  test("a new file is changed and a deleted file is removed", async () => {
    const added = path.join(srcDir, "chat", "lobby.ts");
    fs.writeFileSync(added, "export const lobby = 1;\n");
    assert.deepEqual((await batches.next("add")).changed, [added]);
    const gone = path.join(srcDir, "m3.ts");
    fs.unlinkSync(gone);
    const b = await batches.next("unlink");
    assert.deepEqual([b.changed, b.removed], [[], [gone]]);
  });

  test("a file written then deleted in one burst lands in removed only", async () => {
    const file = path.join(srcDir, "m4.ts");
    const other = path.join(srcDir, "m5.ts");
    fs.writeFileSync(file, "export const v = 44;\n");
    fs.writeFileSync(other, "export const v = 55;\n");
    fs.unlinkSync(file);
    // chokidar reports the unlink up to 100 ms late (atomic mode), so it may
    // come as a batch of its own; what matters is no batch calls it changed
    // once it is gone, and the last word on it is "removed".
    const seen: ChangeBatch[] = [];
    while (!seen.some((b) => b.removed.includes(file))) seen.push(await batches.next("write then unlink"));
    for (const b of seen) assert.ok(!b.changed.includes(file), `changed after it was deleted: ${JSON.stringify(b)}`);
    assert.ok(seen.some((b) => b.changed.includes(other)));
  });

  test("files that are neither modules nor bundled by esbuild (.d.ts, .md, node_modules) make no batch", async () => {
    fs.writeFileSync(path.join(srcDir, "types.d.ts"), "declare const x: number;\n");
    fs.writeFileSync(path.join(srcDir, "notes.md"), "hello\n");
    fs.mkdirSync(path.join(srcDir, "node_modules", "dep"), { recursive: true });
    fs.writeFileSync(path.join(srcDir, "node_modules", "dep", "index.ts"), "export {};\n");
    await expectNothingElse();
  });

  test("a JSON file (bundled into its importers) is watched: saved and deleted, it comes in assets", async () => {
    const data = path.join(srcDir, "chat", "limits.json");
    fs.writeFileSync(data, '{ "max": 3 }\n');
    const b = await batches.next("json written");
    assert.deepEqual(b, { changed: [], removed: [], assets: [data], firstEventAt: b.firstEventAt });
    fs.unlinkSync(data);
    const seen: ChangeBatch[] = [];
    while (!seen.some((x) => x.assets.includes(data))) seen.push(await batches.next("json deleted"));
    await expectNothingElse();
  });

  test("close() ends the watching, and closing again is a no-op", async () => {
    await watcher.close();
    await watcher.close();
    fs.writeFileSync(path.join(srcDir, "m1.ts"), "export const v = 1000;\n");
    // A second, live watcher on the same folder sees the write; the closed one must not.
    const probe = new Watcher({ srcDir });
    const probeBatches = new Batches(probe);
    await probe.start();
    try {
      fs.writeFileSync(path.join(srcDir, "m2.ts"), "export const v = 2000;\n");
      await probeBatches.next("probe write");
      assert.equal(batches.all.length, 0, `closed watcher emitted ${JSON.stringify(batches.all)}`);
    } finally {
      await probe.close();
    }
  });

  test("a steady stream of writes is flushed 50 ms after its first event", async () => {
    const file = path.join(srcDir, "m7.ts");
    const w = new Watcher({ srcDir, quietMs: 1000 });
    const slow = new Batches(w);
    await w.start();
    try {
      const t0 = performance.now();
      fs.writeFileSync(file, "export const v = 77;\n");
      const b = await slow.next("write with a long quiet window");
      assert.deepEqual(b.changed, [file]);
      // quietMs is 1000, so only the 50 ms cap can have flushed it this early.
      assert.ok(performance.now() - t0 < 500, `took ${performance.now() - t0} ms`);
    } finally {
      await w.close();
    }
  });

  // issue 17, item 11: a file outside the source folder that modules bundle is watched, alone.
  test("a bundled file outside src (../shared/fmt.ts) is watched once named: saved, even by rename, it comes in assets; its folder is not watched", async () => {
    const shared = path.join(path.dirname(srcDir), "shared");
    const fmt = path.join(shared, "fmt.ts");
    const sibling = path.join(shared, "other.ts");
    fs.mkdirSync(shared);
    fs.writeFileSync(fmt, "export const fmt = 1;\n");
    fs.writeFileSync(sibling, "export const other = 1;\n");
    watcher.watchFiles([fmt]);
    assert.deepEqual(watcher.watchedOutside(), [fmt]);
    fs.writeFileSync(fmt, "export const fmt = 2;\n");
    const b = await batches.next("shared/fmt.ts saved");
    assert.deepEqual(b, { changed: [], removed: [], assets: [fmt], firstEventAt: b.firstEventAt }, "a .ts file outside src is no module of its own");
    for (const n of [3, 4]) {
      fs.writeFileSync(fmt + ".tmp", `export const fmt = ${n};\n`);
      fs.renameSync(fmt + ".tmp", fmt);
      const r = await batches.next(`shared/fmt.ts saved by rename (${n})`);
      assert.deepEqual(r.assets, [fmt]);
    }
    fs.writeFileSync(sibling, "export const other = 2;\n");
    await expectNothingElse();
  });

  test("a file outside src that no module bundles any more is no longer watched", async () => {
    const fmt = path.join(path.dirname(srcDir), "shared", "fmt.ts");
    fs.mkdirSync(path.dirname(fmt));
    fs.writeFileSync(fmt, "export const fmt = 1;\n");
    watcher.watchFiles([fmt]);
    fs.writeFileSync(fmt, "export const fmt = 2;\n");
    assert.deepEqual((await batches.next("watched")).assets, [fmt]);
    watcher.watchFiles([]);
    assert.deepEqual(watcher.watchedOutside(), []);
    fs.writeFileSync(fmt, "export const fmt = 3;\n");
    await expectNothingElse();
  });

  test("a bundled file outside src that is deleted and made again is seen both times", async () => {
    const fmt = path.join(path.dirname(srcDir), "shared", "fmt.ts");
    fs.mkdirSync(path.dirname(fmt));
    fs.writeFileSync(fmt, "export const fmt = 1;\n");
    watcher.watchFiles([fmt]);
    fs.writeFileSync(fmt, "export const fmt = 2;\n");
    assert.deepEqual((await batches.next("watched")).assets, [fmt]);
    fs.unlinkSync(fmt);
    assert.deepEqual((await batches.next("deleted")).assets, [fmt]);
    // The gap is the user's (a branch switched back later), longer than the watcher's own look after an event (60 ms).
    await new Promise((r) => setTimeout(r, 150));
    fs.writeFileSync(fmt, "export const fmt = 3;\n");
    assert.deepEqual((await batches.next("made again")).assets, [fmt]);
    fs.writeFileSync(fmt, "export const fmt = 4;\n");
    assert.deepEqual((await batches.next("saved again")).assets, [fmt]);
    await expectNothingElse();
  });
});
