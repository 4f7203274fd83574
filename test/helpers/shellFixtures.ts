import { counterProject } from "./fixtures";

/** The counter project plus what the shell's helpers need: functions for rpc, a process that answers the shell. */
export const shellProject = (): Record<string, string> => ({
  ...counterProject(),
  "src/app.ts": `
import { spawn, register, type StartContext } from "devcluster";
export async function start(ctx: StartContext) {
  await register("counter:" + ctx.node, await spawn(ctx.node, "counter", { start: 0 }));
  await register("replier:" + ctx.node, await spawn(ctx.node, "replier", {}));
}
`,
  "src/util.ts": `
export function whoami() { return process.env.DEVCLUSTER_NODE; }
export function add(a: number, b: number) { return a + b; }
export function fails() { throw new Error("util.fails on purpose"); }
`,
  "src/replier.ts": `
import { send, type Pid } from "devcluster";
export function init() { return { seen: 0 }; }
export function handleCast(msg: { replyTo: Pid; text: string }, state: { seen: number }) {
  send(msg.replyTo, { echo: msg.text, seen: state.seen + 1 });
  return { seen: state.seen + 1 };
}
export function handleCall(msg: { type: string }, _from: unknown, state: { seen: number }) {
  if (msg.type === "hang") return { noreply: true, state };
  return { reply: state.seen, state };
}
`,
});
