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

  test("a client with a key pair of its own is refused by the coordinator", async () => {
    const stranger = curveKeyPair();
    const { publicKey } = loadKeys(keysFile(project.dir));
    const sock = new Dealer({ curveServerKey: publicKey, curvePublicKey: stranger.publicKey, curveSecretKey: stranger.secretKey, linger: 0 });
    sockets.push(sock);
    const outcome = handshake(sock);
    sock.connect(endpoint);
    void sock.send(encode({ type: "request", id: 1, req: { type: "stop" } })).catch(() => undefined);
    assert.equal(await outcome, "auth error");
    await logs.waitFor(/refused unauthenticated peer/);
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
