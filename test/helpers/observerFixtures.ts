/**
 * A cluster to observe and trace: on n1 a supervisor registered as `jobs`
 * with a `worker` child and a nested supervisor `pool` (its child `helper`),
 * and a `sum` process registered by name; `sum` calls util.add on every cast,
 * so both message and call traces have something to show.
 */
export const SUM = (step: string): string => `
import { add } from "./util";
export function init() { return { total: 0, step: ${JSON.stringify(step)} }; }
export function handleCast(n: number, s: { total: number; step: string }) { return { ...s, total: add(s.total, n) }; }
export function handleCall(_m: unknown, _f: unknown, s: { total: number }) { return { reply: s.total, state: s }; }
`;

export const observerProject = (): Record<string, string> => ({
  "src/app.ts": `
import { spawn, register, startSupervisor, type StartContext } from "devcluster";
export async function start(ctx: StartContext) {
  if (ctx.node !== "n1") return;
  await register("sum", await spawn(ctx.node, "sum", null));
  const pool = { strategy: "one_for_all", children: [{ id: "helper", module: "worker", args: null }] };
  const children = [
    { id: "worker", module: "worker", args: null },
    { id: "pool", module: "devcluster/supervisor", args: pool },
  ];
  await register("jobs", await startSupervisor(ctx.node, { strategy: "one_for_one", intensity: 10, period: 5, children }));
}
`,
  "src/sum.ts": SUM("v1"),
  "src/util.ts": `export function add(a: number, b: number) { return a + b; }\n`,
  "src/worker.ts": `
export function init() { return { jobs: 0 }; }
export function handleCast(_m: unknown, s: { jobs: number }) { return { jobs: s.jobs + 1 }; }
`,
});
