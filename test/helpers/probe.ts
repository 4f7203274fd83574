import { after, before } from "node:test";
import type { DevServer } from "../../cli/dev/devServer";
import { makeProject, startCluster, type LogCapture, type Project } from "./cluster";
import type { Pid } from "../../wire/pid";

/**
 * A fixture behaviour that exercises the process API from inside the
 * cluster: each call `{ op, ... }` runs one API function in the probe's own
 * process and replies with its result (or `{ error: code, message }`), and
 * every info message it gets is kept in `inbox`.
 */
export const PROBE = `
import * as api from "devcluster";
export function init(args: any) {
  if (args?.trap) api.trapExit(true);
  if (args?.report) api.send(args.report, { started: args.id ?? null, pid: api.self() });
  if (args?.failInit) throw new Error("init fails on purpose");
  return { inbox: [] as unknown[], report: args?.report, id: args?.id, deferred: [] as unknown[], slowStop: args?.slowStop };
}
async function run(msg: any, from: any, state: any): Promise<unknown> {
  switch (msg.op) {
    case "self": return api.self();
    case "spawn": return api.spawn(msg.node, msg.module ?? "probe", msg.args ?? {});
    case "spawnLink": return api.spawnLink(msg.node, msg.module ?? "probe", msg.args ?? {});
    case "link": return api.link(msg.pid);
    case "unlink": return api.unlink(msg.pid);
    case "exit": return api.exit(msg.pid, msg.reason);
    case "trap": return api.trapExit(msg.on);
    case "monitor": return api.monitor(msg.pid);
    case "demonitor": return api.demonitor(msg.ref);
    case "monitorNode": return api.monitorNode(msg.node, msg.on ?? true);
    case "inbox": return state.inbox;
    case "call": return api.call(msg.pid, msg.msg, msg.timeoutMs);
    case "send": return api.send(msg.pid, msg.msg);
    case "cast": return api.cast(msg.pid, msg.msg);
    case "sendAfter": return api.sendAfter(msg.ms, msg.pid ?? api.self(), msg.msg);
    case "sendInterval": return api.sendInterval(msg.ms, msg.pid ?? api.self(), msg.msg);
    case "cancelTimer": return api.cancelTimer(msg.ref);
    case "startSupervisor": return api.startSupervisor(msg.node ?? api.nodeName(), msg.spec);
    case "whichChildren": return api.whichChildren(msg.pid);
    case "restartChild": return api.restartChild(msg.pid);
    case "startChild": return api.startChild(msg.pid, msg.spec);
    case "suspend": return api.suspend(msg.pid);
    case "resume": return api.resume(msg.pid);
    case "processInfo": return api.processInfo(msg.pid);
    case "echo": return msg.value;
    case "sendFn": return api.send(msg.pid, { nested: { handler: () => 1 } });
    default: throw new Error("probe: unknown op " + msg.op);
  }
}
export async function handleCall(msg: any, from: any, state: any) {
  if (msg.op === "crash") throw new Error(msg.text ?? "crash on purpose");
  if (msg.op === "reject") return Promise.reject(new Error("rejected on purpose"));
  if (msg.op === "malformed") return 42;
  if (msg.op === "defer") { state.deferred.push(from); return { noreply: true, state }; }
  if (msg.op === "answer") { for (const f of state.deferred.splice(0)) api.reply(f, msg.value); return { reply: true, state }; }
  try {
    return { reply: await run(msg, from, state), state };
  } catch (err: any) {
    return { reply: { error: err?.code ?? "error", message: String(err?.message ?? err) }, state };
  }
}
export function handleCast(msg: any, state: any) {
  // A call whose answer lands in the inbox: the node's control link handles one request at a time, so a test must not hold it waiting.
  if (msg?.op === "callLater") {
    const me = api.self();
    api.call(msg.pid, msg.msg, msg.timeoutMs).then(
      (value) => api.send(me, { callResult: value }),
      (err: any) => api.send(me, { callError: err?.code, message: String(err?.message) }),
    );
    return state;
  }
  if (msg?.op === "crash") throw new Error(msg.text ?? "cast crash on purpose");
  state.inbox.push({ cast: msg });
  return state;
}
export function handleInfo(msg: any, state: any) {
  if (msg?.op === "crash") throw new Error(msg.text ?? "info crash on purpose");
  state.inbox.push(msg);
  return state;
}
export async function terminate(reason: unknown, state: any) {
  if (state.slowStop) await new Promise((r) => setTimeout(r, state.slowStop));
  if (state.report) api.send(state.report, { stopped: state.id ?? null, reason });
}
`;

/** Every node runs one probe, registered as probe:<node>. */
export const PROBE_APP = `
import { spawn, register, type StartContext } from "devcluster";
export async function start(ctx: StartContext) {
  await register("probe:" + ctx.node, await spawn(ctx.node, "probe", {}));
}
`;

export const probeProject = (extra: Record<string, string> = {}): Record<string, string> => ({
  "src/app.ts": PROBE_APP,
  "src/probe.ts": PROBE,
  ...extra,
});

/** Drives probes through the coordinator, as the shell would. */
export class Driver {
  constructor(private readonly server: DevServer) {}

  async probe(node: string): Promise<Pid> {
    const ps = (await this.server.coordinator.nodeRequest(node, { op: "ps" })) as { pid: Pid; names: string[] }[];
    const found = ps.find((p) => p.names.includes(`probe:${node}`));
    if (!found) throw new Error(`no probe:${node}`);
    return found.pid;
  }

  /** One API operation run inside `pid` (a probe), on the pid's node. */
  do<T = any>(pid: Pid, msg: Record<string, unknown>, timeoutMs = 5000): Promise<T> {
    return this.server.coordinator.nodeRequest(pid.node, { op: "call", pid, msg, timeoutMs }, timeoutMs + 1000) as Promise<T>;
  }

  /** A fresh probe on `node`, spawned from the node itself. */
  async spawn(node: string, args: Record<string, unknown> = {}): Promise<Pid> {
    return (await this.server.coordinator.nodeRequest(node, { op: "spawn", module: "probe", args })) as Pid;
  }

  async alive(pid: Pid): Promise<boolean> {
    const ps = (await this.server.coordinator.nodeRequest(pid.node, { op: "ps" })) as { pid: Pid }[];
    return ps.some((p) => p.pid.node === pid.node && p.pid.id === pid.id);
  }

  /** Polls `pid`'s inbox until `pred` holds; rejects after the deadline with what it holds. */
  async waitInbox(pid: Pid, pred: (inbox: any[]) => boolean, timeoutMs = 10_000): Promise<any[]> {
    return waitUntil(
      async () => {
        const inbox = (await this.do(pid, { op: "inbox" })) as any[];
        return pred(inbox) ? inbox : undefined;
      },
      timeoutMs,
      () => `inbox of ${pid} never matched`,
    );
  }
}

/** Polls `probe` every 25 ms until it returns a value; rejects after the deadline. */
export async function waitUntil<T>(probe: () => Promise<T | undefined>, timeoutMs = 10_000, what: () => string = () => "condition"): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what()} within ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ""}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** What a suite's cluster gives its tests; filled in by `before`. */
export interface ProbeCluster {
  project: Project;
  server: DevServer;
  logs: LogCapture;
  d: Driver;
}

/**
 * One cluster of probes for a whole suite: started before its first test and
 * stopped after its last, also when a test fails.
 */
export function probeCluster(nodes: number, extra: Record<string, string> = {}): ProbeCluster {
  const c = {} as ProbeCluster;
  before(async () => {
    c.project = makeProject(probeProject(extra), { nodes });
    ({ server: c.server, logs: c.logs } = await startCluster(c.project));
    c.d = new Driver(c.server);
  });
  after(async () => {
    await c.server?.close();
    c.project?.cleanup();
  });
  return c;
}
