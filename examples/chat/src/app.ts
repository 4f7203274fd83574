import { register, startSupervisor, type StartContext } from "devcluster";
import { treeName } from "./chat/tree";

/**
 * Entry module: every node runs start once at boot. It builds the node's
 * supervision tree (see chat/tree.ts): a listener on CHAT_PORT (default 7001)
 * plus the node's index in the cluster, so n1 is 7001, n2 7002, n3 7003, and
 * supervisors for the sessions it accepts and the rooms whose home it is.
 */
export async function start(ctx: StartContext): Promise<void> {
  const base = Number(process.env.CHAT_PORT ?? 7001);
  if (!Number.isInteger(base) || base < 1 || base > 65535) {
    throw Object.assign(new Error(`CHAT_PORT must be a port number, got ${JSON.stringify(process.env.CHAT_PORT)}`), { code: "bad_port" });
  }
  const port = base + ctx.nodes.indexOf(ctx.node);
  const dynamic = { strategy: "one_for_one" as const, intensity: 100, period: 10, children: [] };
  // A listener that fails to open its port fails this start: the node is restarted with backoff and tries again.
  const sup = await startSupervisor(ctx.node, {
    strategy: "rest_for_one",
    intensity: 5,
    period: 10,
    children: [
      { id: "rooms", module: "devcluster/supervisor", args: dynamic },
      { id: "sessions", module: "devcluster/supervisor", args: dynamic },
      { id: "listener", module: "chat/listener", args: { port, node: ctx.node, index: ctx.nodes.indexOf(ctx.node) } },
    ],
  });
  await register(treeName(ctx.node), sup);
}
