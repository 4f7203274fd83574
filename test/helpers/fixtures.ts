/** A small project: every node runs a counter registered as counter:<node>. */
export const APP = `
import { spawn, register, type StartContext } from "devcluster";
export async function start(ctx: StartContext) {
  const pid = await spawn(ctx.node, "counter", { start: 0 });
  await register("counter:" + ctx.node, pid);
}
`;

export const counter = (step: number, extra = ""): string => `
import { describe } from "./describe";
${extra}
export function init(args: { start: number }) { return { count: args.start }; }
export function handleCall(msg: { type: string; by?: number }, _from: unknown, state: { count: number }) {
  if (msg.type === "incr") { const count = state.count + ${step} * (msg.by ?? 1); return { reply: count, state: { count } }; }
  if (msg.type === "describe") return { reply: describe(state.count), state };
  if (msg.type === "boom") throw new Error("boom on purpose");
  return { reply: state.count, state };
}
export function handleCast(msg: { type: string; by?: number }, state: { count: number }) {
  return msg.type === "incr" ? { count: state.count + ${step} * (msg.by ?? 1) } : state;
}
`;

export const describeModule = (word: string): string => `
export function describe(n: number): string { return "${word} " + n; }
`;

export const counterProject = (): Record<string, string> => ({
  "src/app.ts": APP,
  "src/counter.ts": counter(1),
  "src/describe.ts": describeModule("count"),
});
