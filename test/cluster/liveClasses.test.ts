/**
 * Issue 17, items 3-8, on 3 real nodes: instances of a live class made before a
 * save (new fields, the migrate hook, #private state), a static method using
 * #private called from another module, classes re-exported through a barrel,
 * properties on an exported function, and a reassigned `export let`. The
 * instances live in `probe`, which is never saved; each check is an rpc to
 * `probe` on every node, so it reads what that node's instances do now.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../../cli/dev/devServer";
import { makeProject, nextSave, startCluster, type Project } from "../helpers/cluster";

const NODES = ["n1", "n2", "n3"];

const RAFT = (body: string): string => `
import { migrate } from "devcluster";
export class RaftNode {
  #balance = 10;
  term = 1;
  static #items: string[] = [];
  static add(x: string) { this.#items.push(x); return this.#items.length; }
  deposit(n: number) { this.#balance += n; return this.#balance; }
${body}
}
`;
const RAFT_V1 = RAFT(`  balance() { return this.#balance; }\n  beat() { return this.term; }\n  [migrate]() {}`);
const RAFT_V2 = RAFT(`  balance() { return this.#balance * 2; }\n  beat() { return this.term; }\n  [migrate]() {}`);
const RAFT_V3 = RAFT(
  [
    `  heartbeatsReceived = 0;`,
    `  summary = "term " + this.term + ", beats " + this.heartbeatsReceived;`,
    `  migratedFrom?: string;`,
    `  balance() { return this.#balance * 2; }`,
    `  beat() { this.heartbeatsReceived++; return this.heartbeatsReceived; }`,
    `  [migrate](from: string) { this.migratedFrom = from; }`,
  ].join("\n"),
);

const PROBE = `
import { RaftNode } from "./raft";
import { Widget, Greeter } from "./ui";
import { health } from "./health";
import { now, freeze } from "./clock";
// made at boot, before any save of raft.ts
const node = new RaftNode();
export function balance() { return node.balance(); }
export function deposit() { return node.deposit(5); }
export function beat() { return [node.beat(), node.beat()]; }
export function fields() { const n = node as any; return { summary: n.summary, migratedFrom: n.migratedFrom }; }
export function addItems() { RaftNode.add("a"); return RaftNode.add("b"); }
export function widgets() { const w = new Widget(); return [w.hi(), new Greeter().hi(), w instanceof Widget]; }
export function healthPath() { return (health as any).path + " " + health(); }
export function clock() { const before = now(); freeze(42); return [before, now()]; }
`;

describe("instances of live classes, barrels and exported functions across saves (3 nodes)", () => {
  let project: Project;
  let server: DevServer;

  const onEvery = async (fn: string): Promise<unknown[]> =>
    Promise.all(NODES.map((node) => server.coordinator.nodeRequest(node, { op: "rpc", module: "probe", fn, args: [] })));

  const save = async (rel: string, text: string): Promise<Record<string, string>> => {
    const saved = nextSave(server);
    project.write(rel, text);
    const s = await saved;
    assert.equal(s.report?.ok, true, `the save was not reloaded: ${JSON.stringify(s.report ?? s.error?.message)}`);
    return Object.fromEntries(s.report!.modules.map((m) => [m.name, m.version]));
  };

  before(async () => {
    project = makeProject(
      {
        "src/app.ts": `export async function start() {}\n`,
        "src/raft.ts": RAFT_V1,
        "src/widget.ts": `export class Widget { hi() { return "widget"; } }\n`,
        "src/greeter.ts": `export default class Greeter { hi() { return "greeter"; } }\n`,
        "src/ui/index.ts": `export { Widget } from "../widget";\nexport { default as Greeter } from "../greeter";\n`,
        "src/health.ts": `export function health() { return "ok"; }\nhealth.path = "/health";\n`,
        "src/clock.ts": `export let now = () => 1;\nexport function freeze(t: number) { now = () => t; }\n`,
        "src/probe.ts": PROBE,
      },
      { nodes: 3 },
    );
    ({ server } = await startCluster(project));
  });

  after(async () => {
    await server?.close();
    project?.cleanup();
  });

  test("item 5: a static method using this.#items works when another module calls it through the class it imported", async () => {
    assert.deepEqual(await onEvery("addItems"), [2, 2, 2]);
  });

  test("item 6: classes re-exported through a barrel (named and default as) construct objects with their methods", async () => {
    assert.deepEqual(await onEvery("widgets"), Array(3).fill(["widget", "greeter", true]));
    await save("src/widget.ts", `export class Widget { hi() { return "widget v2"; } }\n`);
    assert.deepEqual(await onEvery("widgets"), Array(3).fill(["widget v2", "greeter", true]));
  });

  test("item 7: a property set on an exported function is seen by importers, and follows a save", async () => {
    assert.deepEqual(await onEvery("healthPath"), Array(3).fill("/health ok"));
    await save("src/health.ts", `export function health() { return "fine"; }\nhealth.path = "/healthz";\n`);
    assert.deepEqual(await onEvery("healthPath"), Array(3).fill("/healthz fine"));
  });

  test("item 8: an exported let holding a function, reassigned by its own module, is seen reassigned by importers", async () => {
    assert.deepEqual(await onEvery("clock"), Array(3).fill([1, 42]));
  });

  test("item 4: an instance made before a save of a class with #private fields keeps its state under the new methods", async () => {
    assert.deepEqual(await onEvery("deposit"), [15, 15, 15]);
    await save("src/raft.ts", RAFT_V2);
    assert.deepEqual(await onEvery("balance"), [30, 30, 30], "the balance of before the save, read by the new method");
    assert.deepEqual(await onEvery("addItems"), [2, 2, 2], "static #private state starts over with each version, like public statics");
  });

  test("item 3: a field added with an initializer runs on instances made before the save, in declaration order, then the migrate hook", async () => {
    const v2 = (await server.coordinator.status()).nodes.map((n) => n.modules.raft);
    const versions = await save("src/raft.ts", RAFT_V3);
    assert.notEqual(versions.raft, v2[0]);
    assert.deepEqual(await onEvery("beat"), Array(3).fill([1, 2]), "this.heartbeatsReceived++ counts from 0, not NaN");
    const fields = (await onEvery("fields")) as { summary: string; migratedFrom: string }[];
    for (const [i, f] of fields.entries()) assert.deepEqual(f, { summary: "term 1, beats 0", migratedFrom: v2[i] });
    assert.deepEqual(await onEvery("balance"), [30, 30, 30]);
  });
});
