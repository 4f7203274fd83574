/**
 * The node's cache of cluster-wide names. Names live in the coordinator
 * (epmd's role) and are pushed to every node; register and a cache miss in
 * whereis ask the coordinator, and a process's names go when it exits,
 * whichever node registered them.
 */
import type { Pid } from "../../wire/pid";
import type { ControlMessage } from "../../wire/protocol";
import { DEFAULT_CALL_TIMEOUT_MS, type Calls } from "./calls";

/** What the names cache needs from its node. */
export interface NamesHost {
  readonly node: string;
  readonly calls: Calls;
  toCoordinator(msg: ControlMessage): void;
  /** whether a process of this node is alive */
  alive(id: number): boolean;
}

export class Names {
  private readonly names = new Map<string, Pid>();

  constructor(private readonly host: NamesHost) {}

  async register(name: string, pid: Pid): Promise<void> {
    const { ref, promise } = this.host.calls.expect(DEFAULT_CALL_TIMEOUT_MS, `register ${name}`);
    this.host.toCoordinator({ type: "register", ref, name, pid });
    await promise;
    this.names.set(name, pid);
  }

  async whereis(name: string): Promise<Pid | undefined> {
    const cached = this.names.get(name);
    if (cached) return cached;
    const { ref, promise } = this.host.calls.expect(DEFAULT_CALL_TIMEOUT_MS, `whereis ${name}`);
    this.host.toCoordinator({ type: "whereis", ref, name });
    return (await promise) as Pid | undefined;
  }

  /** The cache alone: every registration is pushed to every node, so a miss means "not registered" but for one in flight. */
  lookup(name: string): Pid | undefined {
    return this.names.get(name);
  }

  /**
   * Drops `name` wherever it is held. The cache forgets it at once and the
   * coordinator hears it on the same ordered link as this node's later
   * requests, so a whereis or register from here afterwards sees it gone.
   */
  async unregister(name: string): Promise<boolean> {
    const pid = await this.whereis(name);
    if (!pid) return false;
    this.names.delete(name);
    this.host.toCoordinator({ type: "unregister", name, pid });
    return true;
  }

  /** name and pid of every cluster-wide name this node knows of, unsorted (the observer indexes them once per page). */
  entries(): IterableIterator<[string, Pid]> {
    return this.names.entries();
  }

  /** Every cluster-wide name this node knows of, sorted. */
  all(): string[] {
    return [...this.names.keys()].sort();
  }

  /** The coordinator's push of names set and unset anywhere in the cluster. */
  update(msg: Extract<ControlMessage, { type: "names" }>): void {
    for (const [name, pid] of Object.entries(msg.set)) {
      // A process of ours that ended while its name was being registered (from any node) did not see the name
      // at its exit: give it back now, or the name would point at the dead for good.
      if (pid.node === this.host.node && !this.host.alive(pid.id)) this.host.toCoordinator({ type: "unregister", name, pid });
      else this.names.set(name, pid);
    }
    for (const name of msg.unset) this.names.delete(name);
  }

  /** Names may have been registered from any node, so the pushed cache, not the process, knows them. */
  exited(pid: Pid): void {
    for (const [name, p] of this.names) {
      if (!p.equals(pid)) continue;
      this.names.delete(name);
      this.host.toCoordinator({ type: "unregister", name, pid });
    }
  }

  /** The names of this node's own live processes: registered again with a coordinator that adopts the node. */
  own(): Record<string, Pid> {
    return Object.fromEntries([...this.names].filter(([, p]) => p.node === this.host.node && this.host.alive(p.id)));
  }

  namesOf(pid: Pid): string[] {
    return [...this.names].filter(([, p]) => p.equals(pid)).map(([n]) => n);
  }
}
