import assert from "node:assert/strict";
import { readFileSync, statSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { Dealer, curveKeyPair } from "zeromq";
import type { DevServer } from "../../cli/dev/devServer";
import { keysFile, readRunning } from "../../cli/project/stateDir";
import { encode } from "../../wire/protocol";
import { loadKeys } from "../../wire/security";
import { secureDealer } from "../../wire/transport";
import { makeProject, startCluster, type LogCapture, type Project } from "../helpers/cluster";
import { counterProject } from "../helpers/fixtures";

/** The first handshake event a socket reports: success, or which kind of refusal. */
function handshake(sock: Dealer, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no handshake outcome within ${timeoutMs} ms`)), timeoutMs);
    const done = (what: string) => () => {
      clearTimeout(timer);
      resolve(what);
    };
    sock.events.on("handshake", done("handshake"));
    sock.events.on("handshake:error:auth", done("auth error"));
    sock.events.on("handshake:error:protocol", done("protocol error"));
    sock.events.on("handshake:error:other", done("other error"));
  });
}

describe("nothing unauthenticated gets into a cluster", () => {
  let project: Project;
  let server: DevServer;
  let logs: LogCapture;
  let endpoint: string;
  const sockets: Dealer[] = [];

  before(async () => {
    project = makeProject(counterProject(), { nodes: 1 });
    ({ server, logs } = await startCluster(project));
    endpoint = readRunning(project.dir)!.endpoint;
  });

  after(async () => {
    for (const s of sockets) s.close();
    await server?.close();
    project?.cleanup();
  });

  test("the key file is created with mode 0600 and the coordinator binds to loopback", () => {
    assert.equal(statSync(keysFile(project.dir)).mode & 0o777, 0o600);
    assert.match(endpoint, /^tcp:\/\/127\.0\.0\.1:\d+$/);
  });

  test("a client with another cluster's keys is refused, and the log names its address and why (rule 7)", async () => {
    const other = curveKeyPair();
    const sock = new Dealer({ curveServerKey: other.publicKey, curvePublicKey: other.publicKey, curveSecretKey: other.secretKey, linger: 0 });
    sockets.push(sock);
    const outcome = handshake(sock);
    sock.connect(endpoint);
    void sock.send(encode({ type: "request", id: 1, req: { type: "stop" } })).catch(() => undefined);
    assert.notEqual(await outcome, "handshake");
    const line = JSON.parse(await logs.waitFor(/refused a connection from 127\.0\.0\.1/)) as { address: string; reason: string; count: number };
    assert.equal(line.address, "127.0.0.1");
    assert.match(line.reason, /keys that are not this cluster's/);
    assert.equal(line.count, 1);
  });

  test("a client with a key pair of its own is refused by the coordinator", async () => {
    const stranger = curveKeyPair();
    const { publicKey } = loadKeys(keysFile(project.dir));
    const sock = new Dealer({ curveServerKey: publicKey, curvePublicKey: stranger.publicKey, curveSecretKey: stranger.secretKey, linger: 0 });
    sockets.push(sock);
    const outcome = handshake(sock);
    sock.connect(endpoint);
    void sock.send(encode({ type: "request", id: 1, req: { type: "stop" } })).catch(() => undefined);
    assert.equal(await outcome, "auth error");
  });

  test("a node's peer endpoint refuses a client with a key pair of its own, as the coordinator does", async () => {
    const joined = JSON.parse(await logs.waitFor(/"n1 joined"/)) as { endpoint: string };
    assert.match(joined.endpoint, /^tcp:\/\/127\.0\.0\.1:\d+$/);
    const stranger = curveKeyPair();
    const { publicKey } = loadKeys(keysFile(project.dir));
    const sock = new Dealer({ curveServerKey: publicKey, curvePublicKey: stranger.publicKey, curveSecretKey: stranger.secretKey, linger: 0 });
    sockets.push(sock);
    const outcome = handshake(sock);
    sock.connect(joined.endpoint);
    void sock.send(encode({ type: "deliver", to: 1, kind: "info", msg: "let me in" })).catch(() => undefined);
    assert.equal(await outcome, "auth error");
  });

  test("a client without CurveZMQ cannot complete a handshake", async () => {
    const sock = new Dealer({ linger: 0 });
    sockets.push(sock);
    const outcome = handshake(sock);
    sock.connect(endpoint);
    void sock.send(encode({ type: "request", id: 1, req: { type: "stop" } })).catch(() => undefined);
    assert.notEqual(await outcome, "handshake");
  });

  test("refusals from one address are logged once per minute, not once per attempt (rule 7)", async () => {
    // Every stranger above retried its handshake every 100 ms to 1 s since: still one line for 127.0.0.1.
    const stranger = new Dealer({ linger: 0 });
    sockets.push(stranger);
    const outcome = handshake(stranger);
    stranger.connect(endpoint);
    void stranger.send("x").catch(() => undefined);
    assert.notEqual(await outcome, "handshake");
    await logs.waitFor(/"msg":"dropped frame"|cluster test ready/);
    // (n1 keeps its own count for its peer endpoint: one line in its log too)
    const up = logs.lines.filter((l) => /refused a connection from 127\.0\.0\.1/.test(l) && (JSON.parse(l) as { node: string }).node === "up");
    assert.equal(up.length, 1, up.join("\n"));
  });

  test("a member's frame that unpacks into 100,000 empty messages is one warning; a frame over the cap is refused; the node keeps serving (rule 9)", async () => {
    const joined = JSON.parse(await logs.waitFor(/"n1 joined"/)) as { endpoint: string };
    const sock = secureDealer(loadKeys(keysFile(project.dir)), "flooder");
    sockets.push(sock);
    sock.connect(joined.endpoint);
    await sock.send(Buffer.alloc(1 + 4 * 100_000));
    for (let i = 0; i < 1000; i++) await sock.send(Buffer.from("not a message"));
    await logs.waitFor(/dropped peer frame from flooder/);
    // The node answers after the flood, so every frame of it has been read by then.
    assert.equal((await server.coordinator.status()).nodes[0]?.up, true);
    assert.equal(logs.lines.filter((l) => /dropped peer frame/.test(l)).length, 1);
    assert.match(
      logs.lines.find((l) => /dropped peer frame/.test(l))!,
      /malformed batch: an empty message/,
    );
  });

  test("a member's frame that does not decode is dropped and logged; the coordinator keeps serving", async () => {
    const sock = secureDealer(loadKeys(keysFile(project.dir)), "garbage-sender");
    sockets.push(sock);
    sock.connect(endpoint);
    await sock.send(Buffer.from("this is not a message"));
    await logs.waitFor(/"msg":"dropped frame"/);
    await sock.send(encode({ type: "request", id: 7, req: { type: "status" } }));
    const [reply] = await sock.receive();
    assert.ok(reply && reply.length > 0);
    assert.equal((await server.coordinator.status()).nodes[0]?.up, true);
    assert.ok(readFileSync(keysFile(project.dir), "utf8").includes("secretKey"));
  });
});
