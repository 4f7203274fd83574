import assert from "node:assert/strict";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { describe, test } from "node:test";
import { cli, cliUp, makeProject } from "../helpers/cluster";
import { probeCluster, probeProject, waitUntil } from "../helpers/probe";
import { ClusterClient } from "../../cli/dev/client";
import type { Pid } from "../../wire/pid";

// issue 19 items 1 and 2: processes keep their state and pids across a restart of their node, and across stop --keep-state + up.

/** A process whose state holds a function: it cannot be written, so a restart starts it again from init. */
const HOLDER = `
export function init(args: any) { return { args, count: 0, handler: () => 1 }; }
export function handleCall(msg: any, _from: any, state: any) {
  state.count++;
  return { reply: { count: state.count, args: state.args }, state };
}
`;

const same = (a: Pid, b: Pid): boolean => a.node === b.node && a.id === b.id;

describe("devcluster restart keeps processes (issue 19 item 1)", () => {
  const c = probeCluster(3, { "src/holder.ts": HOLDER });

  test("devcluster restart n2: the same pids answer with their state; n1's monitor, link and the name still reach them; a pending timer fires; a state that cannot be copied starts again from init, named", async () => {
    const target = await c.d.spawn("n2");
    const trapper = await c.d.spawn("n2", { trap: true });
    const watcher = await c.d.spawn("n1");
    const linked = await c.d.spawn("n1", { trap: true });
    const named = await c.d.probe("n2");
    await c.d.do(watcher, { op: "send", pid: target, msg: { note: "kept" } });
    const ref = await c.d.do(watcher, { op: "monitor", pid: target });
    await c.d.do(linked, { op: "link", pid: target });
    await c.d.do(target, { op: "sendAfter", ms: 1500, msg: { tick: "after the restart" } });
    const holder = (await c.server.coordinator.nodeRequest("n2", { op: "spawn", module: "holder", args: { first: true } })) as Pid;
    await c.server.coordinator.nodeRequest("n2", { op: "call", pid: holder, msg: "count" });
    assert.equal(((await c.server.coordinator.nodeRequest("n2", { op: "call", pid: holder, msg: "count" })) as { count: number }).count, 2);

    const out = await cli(["restart", "n2"], c.project.dir, 60_000);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /n2 restarted .*away \d+ ms/);
    assert.match(out.stdout, /\d+ processes restored with their state and pids from a [\d.]+[KM]?B snapshot/);
    assert.match(
      out.stdout,
      new RegExp(`started again from init \\(same pid, state lost\\): ${holder.toString().replace(/[<>.]/g, "\\$&")} holder: its state cannot be copied`),
    );

    // Same pids, same state: the message sent before the restart is still in the target's inbox.
    const inbox = (await c.d.do(target, { op: "inbox" })) as unknown[];
    assert.deepEqual(inbox, [{ note: "kept" }]);
    assert.equal((await c.d.probe("n2")).toString(), named.toString(), "the registered name still reaches the same pid");
    assert.equal(((await c.d.do(trapper, { op: "processInfo", pid: trapper })) as { trapExit: boolean }).trapExit, true);
    // The timer set before the restart fires after it, once.
    await c.d.waitInbox(target, (i) => i.some((m) => m?.tick === "after the restart"));
    // The holder kept its pid and started from init with its first args.
    assert.deepEqual(await c.server.coordinator.nodeRequest("n2", { op: "call", pid: holder, msg: "count" }), { count: 1, args: { first: true } });
    // n1 heard no noconnection for the restart: no down, no exit.
    assert.deepEqual(
      ((await c.d.do(watcher, { op: "inbox" })) as any[]).filter((m) => m?.down),
      [],
    );
    assert.deepEqual(
      ((await c.d.do(linked, { op: "inbox" })) as any[]).filter((m) => m?.exit),
      [],
    );
    // ... and its monitor and link still hold: the target's crash reaches both.
    await assert.rejects(c.d.do(target, { op: "crash", text: "crash after the restart" }));
    const downs = (await c.d.waitInbox(watcher, (i) => i.some((m) => m?.down))).filter((m) => m.down);
    assert.equal(downs[0].down, ref);
    assert.ok(same(downs[0].pid, target));
    assert.match(downs[0].reason.message, /crash after the restart/);
    const exits = (await c.d.waitInbox(linked, (i) => i.some((m) => m?.exit))).filter((m) => m.exit);
    assert.ok(same(exits[0].exit, target));
  });
});

describe("devcluster stop --keep-state, then up (issue 19 item 2)", () => {
  test("up restores every node's processes with their pids and state; the snapshot is 0600 and used once; a damaged one is refused and the nodes start fresh", async () => {
    const project = makeProject(probeProject(), { nodes: 3 });
    let up = cliUp(project.dir);
    let client: ClientDriver | undefined;
    try {
      await up.logs.waitFor(/cluster test ready/, 30_000);
      client = new ClientDriver(project.dir);
      const p2 = await client.probe("n2");
      const p3 = await client.probe("n3");
      await client.do(p3, { op: "link", pid: p2 });
      await client.do(p3, { op: "send", pid: p2, msg: { note: "across up" } });
      await waitUntil(async () => ((await client!.do(p2, { op: "inbox" })) as unknown[]).length === 1 || undefined);
      client.close();

      const out = await cli(["stop", "--keep-state"], project.dir, 60_000);
      assert.equal(out.code, 0, out.stderr);
      assert.match(out.stdout, /n2: \d+ processes kept \([\d.]+[KM]?B\)/);
      assert.match(out.stdout, /devcluster up` restores it/);
      await up.stop();
      const file = path.join(project.dir, ".devcluster", "state", "n2.snapshot");
      assert.equal(statSync(file).mode & 0o777, 0o600);

      up = cliUp(project.dir);
      await up.logs.waitFor(/cluster test ready/, 30_000);
      client = new ClientDriver(project.dir);
      assert.equal((await client.probe("n2")).toString(), p2.toString());
      assert.deepEqual(await client.do(p2, { op: "inbox" }), [{ note: "across up" }]);
      assert.equal(existsSync(file), false, "a snapshot is used once");
      const info = (await client.do(p3, { op: "processInfo", pid: p3 })) as { links: Pid[] };
      assert.ok(
        info.links.some((l) => same(l, p2)),
        "the link between n3 and n2 came back on both sides",
      );
      client.close();

      // A damaged snapshot: refused with what is wrong, and no node restores (nothing half-restored).
      assert.equal((await cli(["stop", "--keep-state"], project.dir, 60_000)).code, 0);
      await up.stop();
      const bytes = readFileSync(file);
      bytes[bytes.length - 3] ^= 0xff;
      writeFileSync(file, bytes);
      up = cliUp(project.dir);
      await up.logs.waitFor(/kept state is refused, every node starts fresh: snapshot .*n2.snapshot refused: its contents do not match their checksum/, 30_000);
      await up.logs.waitFor(/cluster test ready/, 30_000);
      client = new ClientDriver(project.dir);
      // A fresh start numbers pids from 1 again, so what tells is the state: n2's probe is new, and so is n3's (no link).
      assert.deepEqual(await client.do(await client.probe("n2"), { op: "inbox" }), []);
      const n3 = await client.probe("n3");
      assert.deepEqual(((await client.do(n3, { op: "processInfo", pid: n3 })) as { links: Pid[] }).links, [], "n3's sound snapshot is not restored alone");
      client.close();

      // Another cluster's snapshot (the project renamed meanwhile): refused, named, fresh start.
      assert.equal((await cli(["stop", "--keep-state"], project.dir, 60_000)).code, 0);
      await up.stop();
      project.write("cluster.config.json", JSON.stringify({ name: "renamed", src: "src", entry: "app", nodes: 3 }));
      up = cliUp(project.dir);
      await up.logs.waitFor(
        /kept state is refused, every node starts fresh: snapshot .*refused: it was written by cluster \\?"test\\?", this is \\?"renamed\\?"/,
        30_000,
      );
      await up.logs.waitFor(/cluster renamed ready/, 30_000);
      client = new ClientDriver(project.dir);
      assert.deepEqual(await client.do(await client.probe("n2"), { op: "inbox" }), []);
    } finally {
      client?.close();
      await up.stop();
      project.cleanup();
    }
  });
});

/** The probe driver over the CLI's own client, for a cluster `devcluster up` runs in its own process. */
class ClientDriver {
  private readonly client: ClusterClient;

  constructor(dir: string) {
    this.client = ClusterClient.connect(dir);
  }

  async probe(node: string): Promise<Pid> {
    const ps = await this.client.request<{ pid: Pid; names: string[] }[]>({ type: "node", node, op: { op: "ps" } });
    const found = ps.find((p) => p.names.includes(`probe:${node}`));
    if (!found) throw new Error(`no probe:${node}`);
    return found.pid;
  }

  do<T = unknown>(pid: Pid, msg: Record<string, unknown>): Promise<T> {
    return this.client.request<T>({ type: "node", node: pid.node, op: { op: "call", pid, msg, timeoutMs: 5000 } }, 7000);
  }

  close(): void {
    this.client.close();
  }
}
