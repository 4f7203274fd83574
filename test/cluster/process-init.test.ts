import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { probeCluster } from "../helpers/probe";

const SELFIE = `
import { self, send, register } from "devcluster";
export async function init(args: { name?: string; fail?: boolean }) {
  send(self(), "sent to myself during init");
  if (args.name) await register(args.name, self());
  if (args.fail) throw new Error("init fails on purpose");
  return { got: [] as unknown[] };
}
export function handleInfo(msg: unknown, s: { got: unknown[] }) { s.got.push(msg); return s; }
export function handleCall(_m: unknown, _f: unknown, s: { got: unknown[] }) { return { reply: s.got, state: s }; }
`;

describe("a process during its init (found on review)", () => {
  const c = probeCluster(1, { "src/selfie.ts": SELFIE });

  test("a message it sends itself in init is handled after init, not dropped", async () => {
    const pid = await c.server.coordinator.nodeRequest("n1", { op: "spawn", module: "selfie", args: {} });
    assert.deepEqual(await c.server.coordinator.nodeRequest("n1", { op: "call", pid: pid as never, msg: "get" }), ["sent to myself during init"]);
  });

  test("an init that fails after registering a name leaves the name free for the next try", async () => {
    await assert.rejects(
      c.server.coordinator.nodeRequest("n1", { op: "spawn", module: "selfie", args: { name: "only-one", fail: true } }),
      /init fails on purpose/,
    );
    const pid = await c.server.coordinator.nodeRequest("n1", { op: "spawn", module: "selfie", args: { name: "only-one" } });
    assert.match(String(pid), /^<n1\.\d+>$/);
  });
});
