/**
 * The words `up` adds to a save's reload line (cli/save/saveOutcome.ts): a
 * held-back file saved back to the running version is said on that line too
 * when the rest of the save goes out (issue 22 item 4).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { CompiledModule } from "../../cli/save/compiler";
import type { SavePlan } from "../../cli/save/pendingSaves";
import { backText, saveClauses } from "../../cli/save/saveOutcome";

const dir = "/p";
const plan = (over: Partial<SavePlan>): SavePlan => ({ files: [], send: [], held: [], broken: [], carried: new Set(), back: [], ...over });
const batch = { changed: [], removed: [], assets: [], firstEventAt: 0 };

test("a save that sends one module and brings a held-back file back names both on its line", () => {
  const send = [{ name: "lib", file: "/p/src/lib.ts", version: "b".repeat(40), bundled: [] } as unknown as CompiledModule];
  const p = plan({ send, back: [{ file: "/p/src/app.ts", module: "app", version: "a".repeat(40) }] });
  assert.deepEqual(saveClauses(p, batch, dir), ["src/app.ts is back to the running version app@aaaaaaaa"]);
});

test("several files back at once are named together, and nothing is said when none is", () => {
  const back = [
    { file: "/p/src/a.ts", module: "a", version: "1".repeat(40) },
    { file: "/p/src/b.ts", module: "b", version: "2".repeat(40) },
  ];
  assert.equal(backText(plan({ back }), dir), "src/a.ts, src/b.ts are back to the running versions a@11111111, b@22222222");
  assert.equal(backText(plan({}), dir), undefined);
});
