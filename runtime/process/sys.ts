import type { Pid } from "../../wire/pid";
import { noproc, type Proc, type Processes } from "./process";
import type { ChildSpec } from "./supervisor";
import { SUPERVISOR, type SupervisorCallbacks } from "./supervisor";
import type { SysOp } from "../../wire/protocol";
import { ClusterError } from "../../wire/errors";

/** What sys operations need from the node the process lives on. */
export interface SysHost {
  readonly name: string;
  readonly procs: Processes;
  readonly supervisor: SupervisorCallbacks;
  namesOf(pid: Pid): string[];
}

/**
 * Runs `fn` as a system message of `proc`: after the message it is handling,
 * before the rest of its mailbox, even while it is suspended. A supervisor's
 * state is only ever touched from inside its own mailbox this way.
 */
function inMailbox<T>(node: SysHost, proc: Proc, fn: (p: Proc) => Promise<T> | T): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const run = async (p: Proc): Promise<void> => {
      try {
        resolve(await fn(p));
      } catch (err) {
        reject(err);
      }
    };
    const abandon = (): void => reject(new ClusterError("noproc", noproc(proc.pid).message));
    if (!node.procs.deliver(proc.pid.id, { kind: "system", run, abandon }, true)) abandon();
  });
}

function supervisorOf(node: SysHost, pid: Pid): Proc {
  const proc = node.procs.get(pid.id);
  if (!proc) throw new ClusterError("noproc", noproc(pid).message);
  if (proc.module !== SUPERVISOR) throw new ClusterError("not_a_supervisor", `${pid} runs ${proc.module}, not a supervisor`);
  return proc;
}

/** OTP's sys and supervisor calls about one process, run on the node it lives on. */
export async function runSys(node: SysHost, pid: Pid, op: SysOp): Promise<unknown> {
  if (pid.node !== node.name) throw new ClusterError("wrong_node", `${pid} lives on ${pid.node}, not ${node.name}`);
  const proc = node.procs.get(pid.id);
  if (!proc) throw new ClusterError("noproc", noproc(pid).message);
  const sup = node.supervisor;
  switch (op.op) {
    case "suspend":
      node.procs.suspend(pid.id);
      return true;
    case "resume":
      node.procs.resume(pid.id);
      return true;
    case "info":
      return { ...node.procs.info(proc), names: node.namesOf(pid) };
    case "whichChildren":
      return inMailbox(node, supervisorOf(node, pid), (p) => sup.$which(p, p.state as never));
    case "restartChild": {
      if (!proc.supervisor) throw new ClusterError("no_supervisor", `${pid} (${proc.module}) has no supervisor to restart it; end it with exit(pid, reason) and spawn a new one`);
      return inMailbox(node, supervisorOf(node, proc.supervisor), (p) => sup.$restartChild(p, p.state as never, pid));
    }
    case "startChild":
      return inMailbox(node, supervisorOf(node, pid), (p) => sup.$startChild(p, p.state as never, op.spec as ChildSpec));
    default: {
      const unhandled: never = op;
      return unhandled;
    }
  }
}
