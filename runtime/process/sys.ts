import type { Pid } from "../../wire/pid";
import { noproc, type Processes } from "./process";
import type { SysOp } from "../../wire/protocol";
import { ClusterError } from "../../wire/errors";

/** What sys operations need from the node the process lives on. */
export interface SysHost {
  readonly name: string;
  readonly procs: Processes;
  namesOf(pid: Pid): string[];
}

/**
 * OTP's sys calls about one process, run on the node it lives on. They act on
 * the process from outside its mailbox, so they work on one that is suspended
 * or busy; what a behaviour answers itself (a supervisor's children) is a call.
 */
export async function runSys(node: SysHost, pid: Pid, op: SysOp): Promise<unknown> {
  if (pid.node !== node.name) throw new ClusterError("wrong_node", `${pid} lives on ${pid.node}, not ${node.name}`);
  const proc = node.procs.get(pid.id);
  if (!proc) throw new ClusterError("noproc", noproc(pid).message);
  switch (op.op) {
    case "suspend":
      node.procs.suspend(pid.id);
      return true;
    case "resume":
      node.procs.resume(pid.id);
      return true;
    case "info":
      return { ...node.procs.info(proc), names: node.namesOf(pid) };
    default: {
      const unhandled: never = op;
      return unhandled;
    }
  }
}
