import { spawn, register, type StartContext } from "devcluster";

/**
 * The entry module: every node runs start once when it boots. Saving this file
 * reloads it on every node, but does not run start again.
 *
 * Each node starts its own counter and registers it cluster-wide, so any node
 * (or `devcluster shell`) can reach it:
 *   await call(await whereis("counter:n2"), { type: "incr", by: 5 })
 */
export async function start(ctx: StartContext): Promise<void> {
  const pid = await spawn(ctx.node, "counter", { start: 0 });
  await register(`counter:${ctx.node}`, pid);
  console.log(`${ctx.node}: counter ${pid} registered as counter:${ctx.node} (cluster: ${ctx.nodes.join(", ")})`);
}
