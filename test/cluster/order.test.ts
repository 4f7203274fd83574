import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { nextSave } from "../helpers/cluster";
import { waitUntil, probeCluster } from "../helpers/probe";

/** Casts 1..n to `to`, yielding to the event loop between batches so the stream spans several reloads. */
const SENDER = `
import { cast } from "devcluster";
export function init() { return {}; }
export async function handleCall(msg: { to: any; n: number }, _from: unknown, state: {}) {
  for (let i = 1; i <= msg.n; i++) {
    cast(msg.to, i);
    if (i % 100 === 0) await new Promise((r) => setTimeout(r, 5));
  }
  return { reply: msg.n, state };
}
`;

const receiver = (version: number): string => `
export const version = ${version};
export function init() { return { seen: [] as number[], versions: [] as number[] }; }
export function handleCast(n: number, state: { seen: number[]; versions: number[] }) {
  state.seen.push(n);
  if (state.versions[state.versions.length - 1] !== ${version}) state.versions.push(${version});
  return state;
}
export function handleCall(msg: unknown, _from: unknown, state: { seen: number[]; versions: number[] }) { return { reply: msg === "versions" ? state.versions : state.seen, state }; }
export function codeChange(_old: string, state: unknown) { return state; }
`;

describe("order and loss across reloads (issue 5)", () => {
  const c = probeCluster(2, { "src/sender.ts": SENDER, "src/receiver.ts": receiver(0) });

  test("messages cast from one process to another on a node that reloads the receiver's module arrive all, in order", async () => {
    const N = 20_000;
    const receiverPid = (await c.server.coordinator.nodeRequest("n2", { op: "spawn", module: "receiver", args: {} })) as any;
    const senderPid = (await c.server.coordinator.nodeRequest("n1", { op: "spawn", module: "sender", args: {} })) as any;
    const asker = await c.d.spawn("n1");
    await c.d.do(asker, { op: "cast", pid: asker, msg: { op: "callLater", pid: senderPid, msg: { to: receiverPid, n: N }, timeoutMs: 60_000 } });
    let reloads = 0;
    for (let v = 1; v <= 5; v++) {
      const saved = nextSave(c.server);
      c.project.write("src/receiver.ts", receiver(v));
      if ((await saved).report?.ok) reloads++;
    }
    assert.equal(reloads, 5);
    await c.d.waitInbox(asker, (i) => i.some((m) => "callResult" in m), 60_000);
    const seen = await waitUntil(
      async () => {
        const s = (await c.d.do(asker, { op: "call", pid: receiverPid, msg: "get" })) as number[];
        return s.length >= N ? s : undefined;
      },
      30_000,
      () => "the receiver never saw every message",
    );
    assert.equal(seen.length, N);
    const firstOff = seen.findIndex((n, i) => n !== i + 1);
    assert.equal(firstOff, -1, `out of order or lost at index ${firstOff}: ${seen.slice(Math.max(0, firstOff - 2), firstOff + 3)}`);
    // the stream really spanned reloads: several versions of the receiver handled parts of it
    const versions = (await c.d.do(asker, { op: "call", pid: receiverPid, msg: "versions" })) as number[];
    assert.ok(versions.length >= 3, `versions that handled the stream: ${versions}`);
  });
});
