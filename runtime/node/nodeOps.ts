/**
 * What the shell asks of one node beyond messaging: run a function or a
 * snippet here, read versions, kill or restart a process, hold the shell's
 * mailbox. Each is the node-side half of a shell helper (cli/shellContext.ts).
 */
import { createRequire } from "node:module";
import * as path from "node:path";
import type { Api } from "../api";
import type { ModuleTable } from "../code/loader";
import type { Pid } from "../../wire/pid";
import { noproc, type Processes } from "../process/process";
import type { Behaviour } from "../process/behaviour";
export { SHELL_TOUCH_MS } from "../../wire/protocol";
import { RENDERED, encode, toWireError, type ControlMessage, type NodeInfo, type NodeOp } from "../../wire/protocol";
import { inspect } from "node:util";
import type { ObserverOp } from "../../wire/observer";
import { ClusterError, type ErrorCode } from "../../wire/errors";
import { compileSnippet, snippetSyntaxError } from "./snippet";
import { replaceState, trees, type DebugOpsHost } from "./debugOps";
import type { ProcessInfo } from "../../wire/protocol";

/** What the shell's operations need from the node they run on. */
export interface NodeOpsHost extends DebugOpsHost {
  readonly name: string;
  readonly srcDir: string;
  readonly table: Pick<ModuleTable, "current" | "old" | "versions">;
  readonly procs: Processes;
  /** the API a snippet run by evalOn sees */
  readonly api: Api;
  info(): NodeInfo;
  /** loads a module the node keeps but has not evaluated: an rpc is a first use, as Erlang's rpc:call loads the module */
  loadModule?(module: string): Promise<void>;
  namesOf(pid: Pid): string[];
  exit(pid: Pid, reason: unknown): void;
  restartChild(pid: Pid): Promise<Pid>;
  register(name: string, pid: Pid): Promise<void>;
  call(pid: Pid, msg: unknown, timeoutMs?: number): Promise<unknown>;
  cast(pid: Pid, msg: unknown): void;
  send(pid: Pid, msg: unknown): void;
  unregister(name: string): Promise<boolean>;
  processInfo(pid: Pid): Promise<ProcessInfo>;
  /** the observer page's and tracing's requests (runtime/node/observe.ts) */
  observe?(req: ObserverOp): unknown;
  /** freezes and writes every process before a restart that keeps them (keepState.ts) */
  snapshot?(file: string): Promise<unknown>;
  /** what the restore at this node's start did, or null when it started fresh */
  restored?(): unknown;
}

function fail(code: ErrorCode, message: string): never {
  throw new ClusterError(code, message);
}

const AsyncFunction = (async () => undefined).constructor as new (...args: string[]) => (...args: unknown[]) => Promise<unknown>;

/** rpc:call — an exported function of a module, run on this node outside any process. */
export async function rpc(node: NodeOpsHost, module: string, fn: string, args: unknown[]): Promise<unknown> {
  await node.loadModule?.(module);
  const mod = node.table.current(module);
  if (!mod) fail("unknown_module", `no module ${module} on node ${node.name} (known: ${Object.keys(node.table.versions()).sort().join(", ")})`);
  const f = mod.exports[fn];
  if (typeof f !== "function") {
    const fns = Object.keys(mod.exports)
      .filter((k) => typeof mod.exports[k] === "function")
      .sort();
    fail("unknown_function", `${module} exports no function ${fn} (it exports: ${fns.join(", ") || "none"})`);
  }
  return (f as (...a: unknown[]) => unknown)(...args);
}

/**
 * Evaluates a snippet here with the runtime API in scope (spawn, call, whereis,
 * …) plus `node` and `require`; an expression's value is returned, and a
 * block's value is its last expression statement's, as in the REPL (or what
 * it `return`s).
 */
export async function evalOn(node: NodeOpsHost, code: string): Promise<unknown> {
  const scope: Record<string, unknown> = { ...node.api, node: node.name, require: createRequire(path.join(node.srcDir, "shell.js")) };
  const names = Object.keys(scope).filter((n) => /^[A-Za-z_$][\w$]*$/.test(n));
  let fn: (...args: unknown[]) => Promise<unknown>;
  try {
    fn = compileSnippet(code, (body) => new AsyncFunction(...names, body));
  } catch (err) {
    fail("syntax_error", `evalOn ${node.name}: ${snippetSyntaxError(code) ?? (err as Error).message}`);
  }
  return fn(...names.map((n) => scope[n]));
}

export interface ModuleVersions {
  current: string;
  old?: string;
  /** processes still running the old version (their codeChange failed or is pending) */
  oldProcesses: string[];
}

export function versions(node: NodeOpsHost, module?: string): Record<string, ModuleVersions> {
  const all = node.table.versions();
  if (module !== undefined && !(module in all)) {
    fail("unknown_module", `no module ${module} on node ${node.name} (known: ${Object.keys(all).sort().join(", ")})`);
  }
  const out: Record<string, ModuleVersions> = {};
  for (const name of module !== undefined ? [module] : Object.keys(all).sort()) {
    const old = node.table.old(name)?.version;
    out[name] = { current: all[name]!, ...(old ? { old } : {}), oldProcesses: node.procs.oldVersionUsers(name) };
  }
  return out;
}

function local(node: NodeOpsHost, pid: Pid): NonNullable<ReturnType<Processes["get"]>> {
  if (pid.node !== node.name) fail("wrong_node", `${pid} lives on ${pid.node}, not ${node.name}`);
  const proc = node.procs.get(pid.id);
  if (!proc) fail("noproc", noproc(pid).message);
  return proc;
}

/** An exit signal from the shell, with link and monitor semantics; "kill" (the default) cannot be trapped. */
export function kill(node: NodeOpsHost, pid: Pid, reason: unknown): true {
  local(node, pid);
  node.exit(pid, reason);
  return true;
}

/**
 * A supervised process is restarted by its supervisor, as its child spec
 * says; one without a supervisor is ended and started again with the
 * arguments it was first given. Either way it keeps the names it had.
 */
export async function restart(node: NodeOpsHost, pid: Pid): Promise<Pid> {
  const proc = local(node, pid);
  // Names were registered from outside the process, so its new incarnation is given them back (the old one's go when it exits).
  const names = node.namesOf(pid);
  let fresh: Pid;
  if (proc.supervisor) {
    fresh = await node.restartChild(pid);
  } else {
    await node.procs.exit(proc, "restart");
    fresh = await node.procs.spawn(proc.module, proc.initArgs);
  }
  for (const name of names) await node.register(name, fresh);
  return fresh;
}

/** The shell is a process too: messages sent to its pid wait here until flush(). */
const MAILBOX_LIMIT = 1000;

export const SHELL_MAILBOX = "devcluster/shell";

/**
 * A shell that ends normally kills its mailbox; one that is killed cannot, so
 * the mailbox ends itself when its shell has not been heard from for this
 * long (a live shell touches it every SHELL_TOUCH_MS, see protocol.ts).
 */
const idleLimitMs = (): number => Number(process.env.DEVCLUSTER_SHELL_IDLE_MS ?? 90_000);
const CHECK = "\u0000shell-idle-check";

interface MailboxState {
  messages: unknown[];
  dropped: number;
  seenAt: number;
}

/** The mailbox's behaviour, acting through the API of the node it runs on. */
export const shellMailbox = (api: Pick<Api, "self" | "sendInterval" | "exit">) =>
  ({
    init: (): MailboxState => {
      api.sendInterval(Math.max(10, Math.min(30_000, idleLimitMs() / 3)), api.self(), CHECK);
      return { messages: [], dropped: 0, seenAt: Date.now() };
    },
    handleInfo: (msg: unknown, s: MailboxState) => {
      if (msg !== CHECK) return keep(s, msg);
      if (Date.now() - s.seenAt > idleLimitMs()) api.exit(api.self(), "normal");
      return s;
    },
    handleCast: (msg: unknown, s: MailboxState) => keep(s, { cast: msg }),
    // Nobody at the prompt can answer a call; it is kept so flush() shows it, and the caller times out.
    handleCall: (msg: unknown, from: unknown, s: MailboxState) => ({ noreply: true as const, state: keep(s, { call: msg, from }) }),
  }) satisfies Behaviour<MailboxState, undefined>;

function keep(s: MailboxState, msg: unknown): MailboxState {
  s.messages.push(msg);
  if (s.messages.length > MAILBOX_LIMIT) {
    s.messages.shift();
    s.dropped++;
  }
  return s;
}

function mailboxOf(node: NodeOpsHost, pid: Pid): MailboxState {
  const proc = local(node, pid);
  if (proc.module !== SHELL_MAILBOX) fail("badarg", `${pid} is a ${proc.module} process, not a shell's mailbox`);
  return proc.state as MailboxState;
}

/** The shell is still there. */
export function touch(node: NodeOpsHost, pid: Pid): true {
  mailboxOf(node, pid).seenAt = Date.now();
  return true;
}

export function flush(node: NodeOpsHost, pid: Pid): unknown[] {
  const s = mailboxOf(node, pid);
  s.seenAt = Date.now();
  const out = s.messages;
  s.messages = [];
  return out;
}

/** What the shell and CLI ask of a node, relayed by the coordinator. */
export async function runNodeOp(node: NodeOpsHost, op: NodeOp): Promise<unknown> {
  switch (op.op) {
    case "spawn":
      return node.procs.spawn(op.module, op.args);
    case "call":
      return node.call(op.pid, op.msg, op.timeoutMs);
    case "cast":
      node.cast(op.pid, op.msg);
      return true;
    case "send":
      node.send(op.pid, op.msg);
      return true;
    case "state": {
      if (op.pid.node !== node.name) throw new ClusterError("wrong_node", `${op.pid} lives on ${op.pid.node}, not ${node.name}`);
      const proc = node.procs.get(op.pid.id);
      if (!proc) throw new ClusterError("noproc", noproc(op.pid).message);
      return proc.state;
    }
    case "ps":
      return node.procs.list().map((p) => ({ ...p, names: node.namesOf(p.pid) }));
    case "info":
      return node.info();
    case "kill":
      return kill(node, op.pid, op.reason);
    case "restart":
      return restart(node, op.pid);
    case "rpc":
      return rpc(node, op.module, op.fn, op.args);
    case "evalOn":
      return evalOn(node, op.code);
    case "versions":
      return versions(node, op.module);
    case "mailbox":
      return node.procs.spawn(SHELL_MAILBOX, undefined);
    case "flush":
      return flush(node, op.pid);
    case "touch":
      return touch(node, op.pid);
    case "unregister":
      return node.unregister(op.name);
    case "processInfo":
      return node.processInfo(op.pid);
    case "tree":
      return trees(node);
    case "replaceState":
      return replaceState(node, op.pid, op.fn);
    case "observer":
      if (!node.observe) throw new ClusterError("badarg", `node ${node.name} does not serve the observer`);
      return node.observe(op.req);
    case "snapshot":
      if (!node.snapshot) throw new ClusterError("badarg", `node ${node.name} cannot keep its processes`);
      return node.snapshot(op.file);
    case "restored":
      return node.restored?.() ?? null;
    default: {
      const unhandled: never = op;
      return unhandled;
    }
  }
}
/** The encoded answer to a shell's or CLI's request; one that cannot travel is sent as text, or as not_serializable. */
export async function answerNodeRequest(node: NodeOpsHost, msg: Extract<ControlMessage, { type: "nodeRequest" }>): Promise<Buffer> {
  let response: ControlMessage;
  try {
    const value = await runNodeOp(node, msg.op);
    response = { type: "nodeResponse", id: msg.id, ok: true, value };
  } catch (err) {
    response = { type: "nodeResponse", id: msg.id, ok: false, error: toWireError(err) };
  }
  try {
    return encode(response);
  } catch (err) {
    // A state holding a socket or a function cannot travel; a person asking for it still wants to read it.
    const readable = msg.op.op === "state" || msg.op.op === "rpc" || msg.op.op === "evalOn" || msg.op.op === "call" || msg.op.op === "replaceState";
    const value = response.type === "nodeResponse" && response.ok && readable ? { [RENDERED]: inspect(response.value, { depth: 6 }) } : undefined;
    return encode(
      value
        ? { type: "nodeResponse", id: msg.id, ok: true, value }
        : {
            type: "nodeResponse",
            id: msg.id,
            ok: false,
            error: { code: "not_serializable", message: `the answer to ${msg.op.op} cannot be sent between processes: ${(err as Error).message}` },
          },
    );
  }
}
