import type { Logger } from "../../wire/log";
import type { Pid } from "../../wire/pid";
import type { Proc, Processes } from "./process";
import type { PeerMessage } from "../../wire/protocol";
import { ClusterError } from "../../wire/errors";

export interface SignalHost {
  readonly node: string;
  readonly procs: Processes;
  readonly log: Logger;
  /** false when the node is not connected (the signal is then lost, as Erlang's are) */
  toPeer(node: string, msg: PeerMessage): boolean;
  connected(node: string): boolean;
  makeRef(): string;
}

type SignalMessage = Extract<PeerMessage, { type: "link" | "unlink" | "exit" | "monitor" | "demonitor" | "down" }>;

/**
 * Links, monitors and exit signals, local and across nodes, with OTP's rules:
 * an exit signal ends the linked process unless it traps exits (then it is a
 * `{ exit: pid, reason }` message) or the reason is "normal"; "kill" sent by
 * exit() cannot be trapped and ends it as "killed"; a monitor delivers one
 * `{ down: ref, pid, reason }`. Both sides of a link keep it, so each node
 * can tell its own processes "noconnection" when a peer goes away.
 */
/** How long a peer that restarts with its processes kept may be away before its links and monitors hear noconnection. */
export const AWAY_LIMIT_MS = 60_000;

export class Signals {
  /** peers restarting with their processes kept (snapshot.ts): their down is held until they are back */
  private readonly away = new Map<string, NodeJS.Timeout>();

  constructor(private readonly host: SignalHost) {}

  /**
   * A peer said it restarts with its processes kept: links and monitors to
   * its pids must still hold when they come back, so its going down is not
   * noconnection, unless it is not back within `ms`.
   */
  peerAway(node: string, ms = AWAY_LIMIT_MS): void {
    clearTimeout(this.away.get(node));
    const timer = setTimeout(() => {
      this.away.delete(node);
      if (!this.host.connected(node)) this.nodeDown(node);
    }, ms);
    timer.unref();
    this.away.set(node, timer);
  }

  private local(pid: Pid): Proc | undefined {
    return pid.node === this.host.node ? this.host.procs.get(pid.id) : undefined;
  }

  link(proc: Proc, other: Pid): void {
    if (other.equals(proc.pid)) return;
    if (other.node === this.host.node) {
      const target = this.local(other);
      if (!target) throw new ClusterError("noproc", `link: process ${other} is not alive`);
      (proc.links ??= new Map()).set(other.toString(), other);
      (target.links ??= new Map()).set(proc.pid.toString(), proc.pid);
      return;
    }
    if (!this.host.connected(other.node)) {
      // Erlang: linking to a pid on an unreachable node gives an immediate noconnection exit signal.
      (proc.links ??= new Map()).set(other.toString(), other);
      queueMicrotask(() => this.signal(proc, other, "noconnection", true));
      return;
    }
    (proc.links ??= new Map()).set(other.toString(), other);
    this.host.toPeer(other.node, { type: "link", from: proc.pid, to: other });
  }

  unlink(proc: Proc, other: Pid): void {
    proc.links?.delete(other.toString());
    if (other.node === this.host.node) this.local(other)?.links?.delete(proc.pid.toString());
    else this.host.toPeer(other.node, { type: "unlink", from: proc.pid, to: other });
  }

  /** exit(pid, reason): an exit signal not carried by a link; `from` is the sending process, if any. */
  exit(from: Pid | undefined, to: Pid, reason: unknown): void {
    if (to.node !== this.host.node) {
      this.host.toPeer(to.node, { type: "exit", ...(from ? { from } : {}), to, reason, link: false });
      return;
    }
    const target = this.local(to);
    if (target) this.signal(target, from, reason, false);
  }

  /** What an exit signal does to a local process. */
  private signal(to: Proc, from: Pid | undefined, reason: unknown, viaLink: boolean): void {
    if (!to.alive) return;
    if (viaLink && from) {
      // A link whose other side already unlinked carries nothing (unlink is a promise not to be told).
      if (!to.links?.delete(from.toString())) return;
    }
    if (!viaLink && reason === "kill") {
      void this.host.procs.exit(to, "killed");
      return;
    }
    if (to.trapExit) {
      this.host.procs.deliver(to.pid.id, { kind: "info", msg: { exit: from ?? null, reason } });
      return;
    }
    // exit(self(), "normal") ends the caller, as in Erlang; anyone else's "normal" does not.
    if (reason === "normal" && !(from && from.equals(to.pid))) return;
    void this.host.procs.exit(to, reason);
  }

  monitor(watcher: Proc, target: Pid): string {
    const ref = this.host.makeRef();
    (watcher.monitors ??= new Map()).set(ref, target);
    if (target.node === this.host.node) {
      const t = this.local(target);
      if (t) (t.watchers ??= new Map()).set(ref, watcher.pid);
      else queueMicrotask(() => this.down(watcher.pid, ref, target, "noproc"));
    } else if (!this.host.toPeer(target.node, { type: "monitor", from: watcher.pid, to: target, ref })) {
      queueMicrotask(() => this.down(watcher.pid, ref, target, "noconnection"));
    }
    return ref;
  }

  /** true when the monitor was active; a `down` already on its way is dropped either way (demonitor flush). */
  demonitor(watcher: Proc, ref: string): boolean {
    const target = watcher.monitors?.get(ref);
    if (!target) return false;
    watcher.monitors!.delete(ref);
    if (target.node === this.host.node) this.local(target)?.watchers?.delete(ref);
    else this.host.toPeer(target.node, { type: "demonitor", to: target, ref });
    return true;
  }

  /** Tells a watcher, local or remote, that the pid it monitors ended. */
  private down(watcher: Pid, ref: string, pid: Pid, reason: unknown): void {
    if (watcher.node !== this.host.node) {
      this.host.toPeer(watcher.node, { type: "down", to: watcher, ref, pid, reason });
      return;
    }
    const w = this.local(watcher);
    // Only an active monitor delivers: after demonitor the message is never seen.
    if (!w || !w.monitors?.delete(ref)) return;
    this.host.procs.deliver(w.pid.id, { kind: "info", msg: { down: ref, pid, reason } });
  }

  monitorNode(watcher: Proc, node: string, on: boolean): void {
    if (!on) {
      watcher.nodeMonitors?.delete(node);
      return;
    }
    (watcher.nodeMonitors ??= new Set()).add(node);
    if (node !== this.host.node && !this.host.connected(node)) {
      queueMicrotask(() => this.host.procs.deliver(watcher.pid.id, { kind: "info", msg: { nodedown: node } }));
    }
  }

  /** A local process ended: its links get exit signals, its watchers `down`, its own monitors are dropped at their targets. */
  exited(proc: Proc, reason: unknown): void {
    for (const pid of proc.links?.values() ?? []) {
      if (pid.node === this.host.node) {
        const other = this.local(pid);
        if (other) this.signal(other, proc.pid, reason, true);
      } else {
        this.host.toPeer(pid.node, { type: "exit", from: proc.pid, to: pid, reason, link: true });
      }
    }
    proc.links = undefined;
    for (const [ref, watcher] of proc.watchers ?? []) this.down(watcher, ref, proc.pid, reason);
    proc.watchers = undefined;
    for (const ref of [...(proc.monitors?.keys() ?? [])]) this.demonitor(proc, ref);
  }

  onPeer(msg: SignalMessage): void {
    switch (msg.type) {
      case "link": {
        const target = this.local(msg.to);
        if (target) (target.links ??= new Map()).set(msg.from.toString(), msg.from);
        else this.host.toPeer(msg.from.node, { type: "exit", from: msg.to, to: msg.from, reason: "noproc", link: true });
        return;
      }
      case "unlink":
        this.local(msg.to)?.links?.delete(msg.from.toString());
        return;
      case "exit": {
        const target = this.local(msg.to);
        if (target) this.signal(target, msg.from, msg.reason, msg.link);
        return;
      }
      case "monitor": {
        const target = this.local(msg.to);
        if (target) (target.watchers ??= new Map()).set(msg.ref, msg.from);
        else this.down(msg.from, msg.ref, msg.to, "noproc");
        return;
      }
      case "demonitor":
        this.local(msg.to)?.watchers?.delete(msg.ref);
        return;
      case "down":
        this.down(msg.to, msg.ref, msg.pid, msg.reason);
        return;
      default: {
        const unhandled: never = msg;
        return unhandled;
      }
    }
  }

  /**
   * A peer left the membership (its OS process ended, or it was cut off):
   * every link to it is an exit signal "noconnection", every monitor a
   * `down` with "noconnection", every node monitor a `nodedown`.
   */
  nodeDown(node: string): void {
    if (this.away.has(node)) return;
    for (const proc of [...this.host.procs.all()]) {
      for (const [ref, watcher] of proc.watchers ?? []) if (watcher.node === node) proc.watchers!.delete(ref);
      for (const [ref, target] of proc.monitors ?? []) if (target.node === node) this.down(proc.pid, ref, target, "noconnection");
      for (const pid of [...(proc.links?.values() ?? [])]) if (pid.node === node) this.signal(proc, pid, "noconnection", true);
      if (proc.alive && proc.nodeMonitors?.has(node)) this.host.procs.deliver(proc.pid.id, { kind: "info", msg: { nodedown: node } });
    }
  }

  nodeUp(node: string): void {
    clearTimeout(this.away.get(node));
    this.away.delete(node);
    for (const proc of this.host.procs.all()) {
      if (proc.nodeMonitors?.has(node)) this.host.procs.deliver(proc.pid.id, { kind: "info", msg: { nodeup: node } });
    }
  }
}
