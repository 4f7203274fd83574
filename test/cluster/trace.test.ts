import { after, before, describe, test } from "node:test";
import type { DevServer } from "../../cli/dev/devServer";
import { makeProject, startCluster, type Project } from "../helpers/cluster";
import { observerProject } from "../helpers/observerFixtures";
import { ShellDriver } from "../helpers/shell";

describe("tracing from the shell", () => {
  let project: Project;
  let server: DevServer;
  const shells: ShellDriver[] = [];

  before(async () => {
    project = makeProject(observerProject(), { nodes: 2 });
    ({ server } = await startCluster(project));
  });

  after(async () => {
    for (const s of shells) await s.close();
    await server?.close();
    project?.cleanup();
  });

  const open = async (terminal: boolean): Promise<ShellDriver> => {
    const s = terminal ? ShellDriver.inTerminal(project.dir) : new ShellDriver(project.dir);
    shells.push(s);
    await s.ready();
    return s;
  };

  for (const terminal of [false, true]) {
    const how = terminal ? "in a terminal" : "piped";
    test(`${how}: trace(name) prints a message the shell sends to the process, and untrace() stops it`, async () => {
      const sh = await open(terminal);
      sh.line('trace("sum")');
      await sh.expect(/tracing messages of <n1\.\d+> \(sum\)/);
      sh.line('cast("sum", 5)');
      await sh.expect(/n1 \(shell\) -> <n1\.\d+> cast: 5/);
      sh.line("untrace()");
      await sh.expect(/trace \d+ \(messages of <n1\.\d+> \(sum\)\) ended: \d+ events \(untrace\(\)\)/);
    });

    test(`${how}: trace(module, fn) prints each call with its arguments and result, and stops itself after count events`, async () => {
      const sh = await open(terminal);
      sh.line('trace("util", "add", { count: 1 })');
      await sh.expect(/tracing calls of util\.add .*stops after 1 events/);
      sh.line('cast("sum", 2)');
      await sh.expect(/n1 util\.add\(\d+, 2\) -> \d+ \([\d.]+ ms\)/);
      await sh.expect(/ended: 1 events \(1 events\)/);
    });
  }

  test("a message between processes on two nodes shows its sender and receiver", async () => {
    const sh = await open(false);
    sh.line('trace("sum")');
    await sh.expect(/tracing messages of/);
    sh.line('evalOn("n2", "cast(await whereis(\\"sum\\"), 3)")');
    await sh.expect(/n2 \(shell\) -> <n1\.\d+> cast: 3/);
    sh.line("untrace()");
    await sh.expect(/ended/);
  });

  test("tracing what does not exist says so", async () => {
    const sh = await open(false);
    sh.line('trace("nobody")');
    await sh.expect(/no process is registered as "nobody"/);
    sh.line('trace("util", "nope")');
    await sh.expect(/util exports no function nope \(it exports: add\)/);
  });
});
