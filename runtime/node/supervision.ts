/**
 * The node's part in supervision: it starts and shuts down a supervisor's
 * children on this node (the supervisor behaviour decides when), and turns
 * whichChildren, startChild and restartChild into calls to the supervisor.
 */
import type { Logger } from "../../wire/log";
import type { Pid } from "../../wire/pid";
import type { ProcessInfo } from "../../wire/protocol";
import { checkSendable } from "../../wire/sendable";
import { ClusterError } from "../../wire/errors";
import type { Proc, Processes } from "../process/process";
import type { Signals } from "../process/signals";
import { SUPERVISOR, askSupervisor, supervisorBehaviour, type ChildInfo, type ChildSpec, type SupervisorCall } from "../process/supervisor";

/** What supervision needs from the node. */
export interface SupervisionHost {
  readonly name: string;
  readonly log: Logger;
  readonly procs: Processes;
  readonly signals: Signals;
  processInfo(pid: Pid): Promise<ProcessInfo>;
  /** a call whose message the caller has checked, or that stays on this node */
  request(pid: Pid, msg: unknown, timeoutMs: number): Promise<unknown>;
}

export class Supervision {
  /** the built-in supervisor behaviour, bound to this node */
  readonly behaviour: ReturnType<typeof supervisorBehaviour>;
  /**
   * Top supervisors (no supervisor above them) that reached their restart
   * intensity: nothing restarts their tree, so the node runs on with its
   * processes gone, which `status` must say rather than show a plain "up".
   */
  readonly gaveUp: Pid[] = [];

  constructor(private readonly host: SupervisionHost) {
    this.behaviour = supervisorBehaviour({
      log: host.log,
      startChild: async (sup, spec) => {
        const child = await host.procs.spawnProc(spec.module, spec.args, { supervisor: sup.pid });
        host.signals.link(sup, child.pid);
        return child.pid;
      },
      shutdownChild: (sup, pid, ms) => this.shutdownChild(sup, pid, ms),
      stop: (sup, reason) => void host.procs.exit(sup, reason),
      gaveUp: (sup) => {
        if (!sup.supervisor) this.gaveUp.push(sup.pid);
      },
    });
  }

  whichChildren(sup: Pid): Promise<ChildInfo[]> {
    return this.supervisorCall(sup, { supervisor: "whichChildren" });
  }

  /** Asks the supervisor of `pid` to restart it; rejects with code no_supervisor when it has none. */
  async restartChild(pid: Pid): Promise<Pid> {
    const info = await this.host.processInfo(pid);
    if (!info.supervisor)
      throw new ClusterError("no_supervisor", `${pid} (${info.module}) has no supervisor to restart it; end it with exit(pid, reason) and spawn a new one`);
    return this.supervisorCall(info.supervisor, { supervisor: "restartChild", pid });
  }

  startChild(sup: Pid, spec: ChildSpec): Promise<Pid> {
    // A socket among the args can only be handed to a supervisor on this node.
    if (sup.node !== this.host.name) checkSendable(spec, "spec");
    return this.supervisorCall(sup, { supervisor: "startChild", spec });
  }

  /**
   * A supervisor call, as OTP's: no timeout (a restart waits for the child's
   * shutdown and init), and its caller hears noproc or noconnection if the
   * supervisor or its node goes. Checked first to be a supervisor, so a user
   * process never gets a supervisor's request in its handleCall.
   */
  private async supervisorCall<T>(sup: Pid, req: SupervisorCall): Promise<T> {
    const info = await this.host.processInfo(sup);
    if (info.module !== SUPERVISOR) throw new ClusterError("not_a_supervisor", `${sup} runs ${info.module}, not a supervisor`);
    return askSupervisor<T>((pid, msg) => this.host.request(pid, msg, Infinity), sup, req);
  }

  private async shutdownChild(sup: Proc, pid: Pid, ms: number): Promise<boolean> {
    const { procs, signals } = this.host;
    signals.unlink(sup, pid);
    if (!procs.get(pid.id)) return false;
    const gone = procs.awaitExit(pid.id);
    signals.exit(sup.pid, pid, ms <= 0 ? "kill" : "shutdown");
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([gone.then(() => false), new Promise<boolean>((r) => (timer = setTimeout(() => r(true), ms)))]);
    clearTimeout(timer);
    if (late) {
      this.host.log.warn({ proc: pid.toString(), shutdownMs: ms }, "child did not stop in time; killed");
      signals.exit(sup.pid, pid, "kill");
      await gone;
    }
    return true;
  }
}
