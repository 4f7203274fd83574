// Issue 18, item 10: a stranger speaking plain ZMTP was refused but logged as `unknown address` with
// `handshake failed (EPIPE)`, or not at all. Every refusal is logged with the peer's real address and why,
// once per address per interval with a count. Strangers come from their own loopback addresses (127.0.0.x).
import assert from "node:assert/strict";
import * as net from "node:net";
import { after, before, describe, test } from "node:test";
import { Dealer } from "zeromq";
import type { DevServer } from "../../cli/dev/devServer";
import { readRunning } from "../../cli/project/stateDir";
import { makeProject, startCluster, type LogCapture, type Project } from "../helpers/cluster";
import { counterProject } from "../helpers/fixtures";

interface Refusal {
  node: string;
  address: string;
  reason: string;
  count: number;
}

/** A ZeroMQ client without CurveZMQ (plain ZMTP) from `from`, one attempt: resolves once the handshake failed. */
function plainZmtp(from: string, endpoint: string): Promise<void> {
  const sock = new Dealer({ linger: 0, reconnectInterval: -1 });
  const port = /:(\d+)$/.exec(endpoint)![1];
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no handshake outcome for ${from}`)), 10_000);
    const done = (): void => {
      clearTimeout(timer);
      sock.close();
      resolve();
    };
    sock.events.on("handshake:error:protocol", done);
    sock.events.on("handshake:error:other", done);
    sock.events.on("disconnect", done);
    sock.events.on("handshake", () => reject(new Error(`a plain ZMTP client from ${from} got in`)));
    sock.connect(`tcp://${from}:0;127.0.0.1:${port}`);
    void sock.send("let me in").catch(() => undefined);
  });
}

describe("every refused connection is logged with its real address and why, once per address per interval (issue 18, item 10)", () => {
  let project: Project;
  let server: DevServer;
  let logs: LogCapture;
  let endpoint: string;
  const WINDOW_MS = 1500;

  before(async () => {
    // A short window so a test sees the count line that ends it (the default is a minute).
    const saved = process.env.DEVCLUSTER_REFUSAL_LOG_MS;
    process.env.DEVCLUSTER_REFUSAL_LOG_MS = String(WINDOW_MS);
    try {
      project = makeProject(counterProject(), { nodes: 1 });
      ({ server, logs } = await startCluster(project));
    } finally {
      if (saved === undefined) delete process.env.DEVCLUSTER_REFUSAL_LOG_MS;
      else process.env.DEVCLUSTER_REFUSAL_LOG_MS = saved;
    }
    endpoint = readRunning(project.dir)!.endpoint;
  });

  after(async () => {
    await server?.close();
    project?.cleanup();
  });

  const refusals = (): Refusal[] => logs.lines.filter((l) => l.includes("refused a connection from")).map((l) => JSON.parse(l) as Refusal);

  test("six strangers speaking plain ZMTP at once, from six addresses: each is logged with its own address and why", async () => {
    const from = ["127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14", "127.0.0.15", "127.0.0.16"];
    await Promise.all(from.map((ip) => plainZmtp(ip, endpoint)));
    for (const ip of from) await logs.waitFor(new RegExp(`refused a connection from ${ip.replace(/\./g, "\\.")}:`));
    const lines = refusals().filter((r) => r.node === "up");
    for (const ip of from) {
      const mine = lines.filter((r) => r.address === ip);
      assert.equal(mine.length, 1, `${ip}: ${JSON.stringify(mine)}`);
      assert.match(mine[0]!.reason, /not CurveZMQ|hung up during the CurveZMQ handshake/);
      assert.equal(mine[0]!.count, 1);
    }
    assert.deepEqual(
      lines.filter((r) => !from.includes(r.address)),
      [],
      "no refusal is put on another address (the node's own link, unknown address)",
    );
    assert.equal((await server.coordinator.status()).nodes[0]?.up, true);
  });

  test("five attempts from one address: one line at once, then one that counts the other four", async () => {
    for (let i = 0; i < 5; i++) await plainZmtp("127.0.0.21", endpoint);
    await logs.waitFor(/refused a connection from 127\.0\.0\.21: .*\(4 times in the last/, WINDOW_MS + 10_000);
    const lines = refusals().filter((r) => r.address === "127.0.0.21");
    assert.deepEqual(
      lines.map((r) => r.count),
      [1, 4],
    );
  });

  test("a client that does not speak ZMTP at all (HTTP) is logged with its address, where libzmq reports no handshake", async () => {
    await new Promise<void>((resolve) => {
      const port = Number(/:(\d+)$/.exec(endpoint)![1]);
      // libzmq answers bytes that are not ZMTP with a reset: a connection gone in well under a millisecond, which the
      // kernel's table shows only by chance. A client that waits a moment before it speaks (a person, a slow scanner) is seen.
      const s = net.connect({ port, host: "127.0.0.1", localAddress: "127.0.0.22" }, () => setTimeout(() => s.write("GET / HTTP/1.0\r\n\r\n"), 200));
      s.on("error", () => undefined);
      s.on("close", () => resolve());
      s.resume();
    });
    const line = JSON.parse(await logs.waitFor(/refused a connection from 127\.0\.0\.22:/)) as Refusal;
    assert.match(line.reason, /without a ZMTP handshake/);
  });

  test("a node's peer endpoint logs a plain ZMTP stranger with its address too", async () => {
    const joined = JSON.parse(await logs.waitFor(/"n1 joined"/)) as { endpoint: string };
    await plainZmtp("127.0.0.23", joined.endpoint);
    const line = JSON.parse(await logs.waitFor(/refused a connection from 127\.0\.0\.23:/)) as Refusal;
    assert.equal(line.node, "n1");
    assert.match(line.reason, /not CurveZMQ|hung up during the CurveZMQ handshake/);
  });
});
