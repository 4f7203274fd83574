import type { Logger } from "../../wire/log";
import { Pid } from "../../wire/pid";
import { selfProc, type Proc } from "./process";
import { ClusterError, toWireError, type WireError } from "../../wire/errors";
import type { Behaviour, CallResult } from "./behaviour";

/** The reserved module name of the built-in supervisor behaviour. */
export const SUPERVISOR = "devcluster/supervisor";

/**
 * permanent: always restarted; transient: restarted unless it ended "normal"
 * or "shutdown"; temporary: never restarted (and forgotten when it ends).
 */
export type Restart = "permanent" | "transient" | "temporary";
export type Strategy = "one_for_one" | "one_for_all" | "rest_for_one";

export interface ChildSpec {
  /** unique among the supervisor's children */
  id: string;
  /** behaviour module, or "devcluster/supervisor" for a nested supervisor (args: its SupervisorSpec) */
  module: string;
  args?: unknown;
  /** default "permanent" */
  restart?: Restart;
  /** time to end after "shutdown" before it is killed; 0 kills at once. Default 5000 */
  shutdownMs?: number;
}

export interface SupervisorSpec {
  /** default "one_for_one" */
  strategy?: Strategy;
  /** more than `intensity` restarts within `period` seconds stop the supervisor. Defaults 3 and 5, as OTP's 1 and 5 are strict for development */
  intensity?: number;
  /** seconds, as in OTP */
  period?: number;
  children: ChildSpec[];
}

export interface ChildInfo {
  id: string;
  pid: Pid | undefined;
  module: string;
  restart: Restart;
}

/**
 * What a supervisor answers as ordinary calls (OTP's supervisor:which_children
 * and friends are gen_server calls too), so they queue behind its messages
 * and see its state as its own handlers leave it.
 */
export type SupervisorCall = { supervisor: "whichChildren" } | { supervisor: "startChild"; spec: ChildSpec } | { supervisor: "restartChild"; pid: Pid };

/** A supervisor's answer to a {@link SupervisorCall}: a failure is a reply, not a crash of the supervisor. */
export type SupervisorReply = { ok: unknown } | { failed: WireError };

/** The answer to a {@link SupervisorCall}; rejects with the supervisor's error (not_a_child, bad_child_spec, init_failed...). */
export async function askSupervisor<T>(call: (sup: Pid, msg: SupervisorCall) => Promise<unknown>, sup: Pid, req: SupervisorCall): Promise<T> {
  const r = (await call(sup, req)) as SupervisorReply;
  if (r !== null && typeof r === "object" && "failed" in r) throw ClusterError.fromWire(r.failed);
  return (r as { ok: T }).ok;
}

function isSupervisorCall(msg: unknown): msg is SupervisorCall {
  return msg !== null && typeof msg === "object" && typeof (msg as { supervisor?: unknown }).supervisor === "string";
}

/** What the supervisor needs from its node. */
export interface SupervisorHost {
  readonly log: Logger;
  /** spawns on this node under `sup`, linked to it */
  startChild(sup: Proc, spec: ChildSpec): Promise<Pid>;
  /** unlinks, sends "shutdown", kills after `ms`; false when it was already gone */
  shutdownChild(sup: Proc, pid: Pid, ms: number): Promise<boolean>;
  stop(sup: Proc, reason: unknown): void;
  /** it reached its restart intensity and stops (status shows a top supervisor that did) */
  gaveUp?(sup: Proc): void;
}

interface Child {
  spec: ChildSpec;
  pid: Pid | undefined;
}

interface State {
  strategy: Strategy;
  intensity: number;
  period: number;
  children: Child[];
  restarts: number[];
  /** children already gone when shut down: their exit message may still be in the mailbox */
  retired: Set<string>;
}

const DEFAULT_SHUTDOWN_MS = 5000;

function badSpec(message: string): ClusterError {
  return new ClusterError("bad_child_spec", `supervisor spec: ${message}`);
}

function checkChild(c: ChildSpec, ids: Set<string>): ChildSpec {
  if (c === null || typeof c !== "object") throw badSpec(`a child spec is an object { id, module, args, restart, shutdownMs }, got ${String(c)}`);
  if (typeof c.id !== "string" || c.id === "") throw badSpec("child id must be a non-empty string");
  if (ids.has(c.id)) throw badSpec(`child id ${c.id} is used twice`);
  if (typeof c.module !== "string") throw badSpec(`child ${c.id}: module must be a string`);
  if (c.restart !== undefined && !["permanent", "transient", "temporary"].includes(c.restart))
    throw badSpec(`child ${c.id}: restart must be permanent, transient or temporary`);
  ids.add(c.id);
  return c;
}

function me(): Proc {
  const p = selfProc();
  if (!p) throw new ClusterError("not_a_process", "supervisor callback outside its process");
  return p;
}

function isShutdown(reason: unknown): boolean {
  return reason === "normal" || reason === "shutdown" || (reason !== null && typeof reason === "object" && "shutdown" in reason);
}

/** The supervisor's callbacks, bound to its node. */
export function supervisorBehaviour(host: SupervisorHost) {
  const start = async (sup: Proc, st: State, child: Child): Promise<void> => {
    child.pid = await host.startChild(sup, child.spec);
  };

  const shutdown = async (sup: Proc, st: State, children: Child[]): Promise<void> => {
    for (const child of [...children].reverse()) {
      const pid = child.pid;
      child.pid = undefined;
      if (!pid) continue;
      const wasAlive = await host.shutdownChild(sup, pid, child.spec.shutdownMs ?? DEFAULT_SHUTDOWN_MS);
      if (!wasAlive) st.retired.add(pid.toString());
    }
  };

  /** false when the restart intensity is exceeded */
  const allowRestart = (st: State): boolean => {
    const now = Date.now();
    st.restarts = st.restarts.filter((t) => now - t < st.period * 1000);
    st.restarts.push(now);
    return st.restarts.length <= st.intensity;
  };

  const giveUp = async (sup: Proc, st: State): Promise<void> => {
    host.log.error(
      { proc: sup.pid.toString(), code: "reached_max_restart_intensity", intensity: st.intensity, period: st.period },
      "supervisor gave up: too many restarts; it stops and its parent decides",
    );
    host.gaveUp?.(sup);
    await shutdown(sup, st, st.children);
    host.stop(sup, "shutdown");
  };

  /** Starts `children` in order; a child that fails to start counts as a restart, until the intensity says stop. */
  const startAll = async (sup: Proc, st: State, children: Child[]): Promise<boolean> => {
    for (const child of children) {
      for (;;) {
        try {
          await start(sup, st, child);
          break;
        } catch (err) {
          host.log.error({ proc: sup.pid.toString(), child: child.spec.id, err }, "child failed to restart");
          if (!allowRestart(st)) return false;
        }
      }
    }
    return true;
  };

  const onChildExit = async (sup: Proc, st: State, child: Child, reason: unknown): Promise<void> => {
    child.pid = undefined;
    const restart = child.spec.restart ?? "permanent";
    if (restart === "temporary" || (restart === "transient" && isShutdown(reason))) {
      if (restart === "temporary") st.children.splice(st.children.indexOf(child), 1);
      return;
    }
    if (!allowRestart(st)) return giveUp(sup, st);
    const at = st.children.indexOf(child);
    const affected = st.strategy === "one_for_one" ? [child] : st.strategy === "one_for_all" ? [...st.children] : st.children.slice(at);
    await shutdown(
      sup,
      st,
      affected.filter((c) => c !== child),
    );
    // Temporary children are not brought back by a sibling's restart.
    const again = affected.filter((c) => c === child || (c.spec.restart ?? "permanent") !== "temporary");
    st.children = st.children.filter((c) => again.includes(c) || !affected.includes(c));
    host.log.info(
      { proc: sup.pid.toString(), child: child.spec.id, strategy: st.strategy, restarting: again.map((c) => c.spec.id) },
      "supervisor restarting children",
    );
    if (!(await startAll(sup, st, again))) return giveUp(sup, st);
  };

  const answer = async (sup: Proc, st: State, req: SupervisorCall): Promise<unknown> => {
    switch (req.supervisor) {
      case "whichChildren":
        return st.children.map((c): ChildInfo => ({ id: c.spec.id, pid: c.pid, module: c.spec.module, restart: c.spec.restart ?? "permanent" }));
      case "restartChild": {
        const child = req.pid instanceof Pid ? st.children.find((c) => c.pid?.equals(req.pid)) : undefined;
        if (!child) throw new ClusterError("not_a_child", `${String(req.pid)} is not a running child of supervisor ${sup.pid}`);
        await shutdown(sup, st, [child]);
        await start(sup, st, child);
        return child.pid!;
      }
      case "startChild": {
        const child: Child = { spec: checkChild(req.spec, new Set(st.children.map((c) => c.spec.id))), pid: undefined };
        await start(sup, st, child);
        st.children.push(child);
        return child.pid!;
      }
      default: {
        const unknown: never = req;
        throw new ClusterError("badarg", `supervisor: no such request ${String((unknown as { supervisor: unknown }).supervisor)}`);
      }
    }
  };

  return {
    async init(spec: SupervisorSpec): Promise<State> {
      if (spec === null || typeof spec !== "object" || !Array.isArray(spec.children))
        throw badSpec("expected { strategy, intensity, period, children: [...] }");
      const strategy = spec.strategy ?? "one_for_one";
      if (!["one_for_one", "one_for_all", "rest_for_one"].includes(strategy))
        throw badSpec(`strategy must be one_for_one, one_for_all or rest_for_one, got ${String(strategy)}`);
      const ids = new Set<string>();
      const sup = me();
      sup.trapExit = true;
      const st: State = {
        strategy,
        intensity: spec.intensity ?? 3,
        period: spec.period ?? 5,
        children: spec.children.map((c) => ({ spec: checkChild(c, ids), pid: undefined })),
        restarts: [],
        retired: new Set(),
      };
      const started: Child[] = [];
      try {
        for (const child of st.children) {
          await start(sup, st, child);
          started.push(child);
        }
      } catch (err) {
        await shutdown(sup, st, started);
        throw err;
      }
      return st;
    },

    async handleInfo(msg: unknown, st: State): Promise<State> {
      const sig = msg as { exit?: Pid | null; reason?: unknown };
      if (msg === null || typeof msg !== "object" || !("exit" in sig)) {
        host.log.warn({ proc: me().pid.toString(), msg }, "supervisor ignoring an unexpected message");
        return st;
      }
      const from = sig.exit instanceof Pid ? sig.exit : undefined;
      const child = from && st.children.find((c) => c.pid?.equals(from));
      if (child) {
        await onChildExit(me(), st, child, sig.reason);
        return st;
      }
      if (from && st.retired.delete(from.toString())) return st;
      // An exit signal from outside its children comes from its parent or from exit(sup, reason): it stops, children first.
      host.stop(me(), sig.reason);
      return st;
    },

    async handleCall(msg: unknown, _from: unknown, st: State): Promise<CallResult<State>> {
      if (!isSupervisorCall(msg)) return { reply: { error: "unknown_call", msg }, state: st };
      try {
        return { reply: { ok: await answer(me(), st, msg) } satisfies SupervisorReply, state: st };
      } catch (err) {
        return { reply: { failed: toWireError(err) } satisfies SupervisorReply, state: st };
      }
    },

    async terminate(_reason: unknown, st: State): Promise<void> {
      await shutdown(me(), st, st.children);
    },
  } satisfies Behaviour<State, SupervisorSpec>;
}

export type SupervisorCallbacks = ReturnType<typeof supervisorBehaviour>;
