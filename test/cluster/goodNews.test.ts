/**
 * Good news is said too (issue 22 item 4): a held-back file saved back to the
 * version the nodes run says so, where `up` had warned that it was held; and
 * `rollback --to` the version already running says it already runs, where it
 * said "rolled back" of a change that did not happen.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { DevServer } from "../../cli/dev/devServer";
import { cli, makeProject, nextSave, startCluster, type LogCapture, type Project } from "../helpers/cluster";

const GREET = (word: string): string => `export function greet(): string {\n  return ${JSON.stringify(word)};\n}\n`;

describe("saying what happened when nothing has to change", () => {
  let project: Project;
  let server: DevServer;
  let logs: LogCapture;

  before(async () => {
    project = makeProject({
      "src/app.ts": `import { greet } from "./greet";\nexport async function start(): Promise<void> {}\nexport function hello(): string {\n  return greet();\n}\n`,
      "src/greet.ts": GREET("hello"),
    });
    ({ server, logs } = await startCluster(project, { quietMs: 50 }));
  });

  after(async () => {
    await server?.close();
    project?.cleanup();
  });

  test("saving a file that does not compile back to the running version says it is back and that nothing is sent", async () => {
    const running = server.coordinator.store.get("greet")!.version;
    const broken = nextSave(server);
    project.write("src/greet.ts", `export function greet(): string {\n  return "hel\n}\n`);
    assert.ok((await broken).error, "the broken save was held back");
    project.write("src/greet.ts", GREET("hello"));
    const line = await logs.waitFor(/src\/greet\.ts is back to the running version/);
    assert.match(line, new RegExp(`"src/greet\\.ts is back to the running version greet@${running.slice(0, 8)}; nothing to send"`));
    assert.equal(server.coordinator.store.get("greet")!.version, running, "nothing was sent");
    assert.deepEqual([...server.pending.pending().keys()], [], "no file waits any more");
  });

  test("rollback --to the version already running says it already runs, sends nothing and records nothing", async () => {
    const saved = nextSave(server);
    project.write("src/greet.ts", GREET("hi"));
    assert.ok((await saved).report?.ok);
    const current = server.coordinator.store.get("greet")!.version;
    const before = (await cli(["history", "greet"], project.dir)).stdout;
    const r = await cli(["rollback", "greet", "--to", current.slice(0, 8)], project.dir);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), `greet already runs greet@${current.slice(0, 8)}; nothing was sent`);
    assert.doesNotMatch(r.stdout, /rolled back/);
    assert.equal((await cli(["history", "greet"], project.dir)).stdout, before, "no version was recorded");
    const json = await cli(["rollback", "greet", "--to", current.slice(0, 8), "--json"], project.dir);
    assert.equal(JSON.parse(json.stdout).alreadyRunning, true);
    // A version it does not run is still rolled back to, as before.
    const first = server.coordinator.history.of("greet")[0]!.version;
    const back = await cli(["rollback", "greet", "--to", first.slice(0, 8)], project.dir);
    assert.match(back.stdout, new RegExp(`^rolled back to greet@${first.slice(0, 8)} on 2 nodes`));
  });
});
