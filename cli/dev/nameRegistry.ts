import type { ErrorCode } from "../../wire/errors";
import type { Pid } from "../../wire/pid";
import type { ControlMessage, CoordinatorInbound, WireError } from "../../wire/protocol";

type Inbound<T extends CoordinatorInbound["type"]> = Extract<CoordinatorInbound, { type: T }>;

/** What the registry needs of its coordinator. */
export interface NameRegistryHost {
  /** the cluster-wide names, shared with the coordinator (welcome, whereis, traces) */
  names: Map<string, Pid>;
  sendTo(id: string, msg: ControlMessage): void;
  broadcast(msg: ControlMessage): void;
}

function wire(code: ErrorCode, message: string): WireError {
  return { code, message };
}

/**
 * Cluster-wide names: the first pid to register a name holds it until it
 * unregisters or its node goes down, and every node hears each change.
 */
export class NameRegistry {
  constructor(private readonly host: NameRegistryHost) {}

  register(from: string, msg: Inbound<"register">): void {
    const { names } = this.host;
    const holder = names.get(msg.name);
    if (holder && !holder.equals(msg.pid)) {
      this.host.sendTo(from, { type: "nameReply", ref: msg.ref, error: wire("name_taken", `name ${msg.name} is taken by ${holder}`) });
      return;
    }
    names.set(msg.name, msg.pid);
    this.host.broadcast({ type: "names", set: { [msg.name]: msg.pid }, unset: [] });
    this.host.sendTo(from, { type: "nameReply", ref: msg.ref, pid: msg.pid });
  }

  unregister(msg: Inbound<"unregister">): void {
    const { names } = this.host;
    if (names.get(msg.name)?.equals(msg.pid)) {
      names.delete(msg.name);
      this.host.broadcast({ type: "names", set: {}, unset: [msg.name] });
    }
  }

  whereis(from: string, msg: Inbound<"whereis">): void {
    const { names } = this.host;
    this.host.sendTo(from, { type: "nameReply", ref: msg.ref, ...(names.has(msg.name) ? { pid: names.get(msg.name)! } : {}) });
  }

  /** Forgets the names of a node's processes (it went down); returns them, for the broadcast. */
  forget(node: string): string[] {
    const { names } = this.host;
    const unset = [...names].filter(([, pid]) => pid.node === node).map(([n]) => n);
    for (const n of unset) names.delete(n);
    return unset;
  }
}
