/**
 * The shell's own pid: a mailbox process on the default node (or the first
 * node up), made at the first self() or flush(), kept alive by the shell's
 * touches and killed when the shell ends. Made again when its node restarted
 * or the cluster came back.
 */
import { ClusterError, isClusterError } from "../../wire/errors";
import type { Pid } from "../../wire/pid";
import type { NodeOp } from "../../wire/protocol";

export interface MailboxHost {
  readonly defaultNode?: string;
  upNodes(): Promise<string[]>;
  op(node: string, op: NodeOp, timeoutMs?: number): Promise<unknown>;
}

export class ShellMailbox {
  private pid?: Promise<Pid>;

  constructor(private readonly host: MailboxHost) {}

  self(): Promise<Pid> {
    this.pid ??= (async () => {
      const node = this.host.defaultNode ?? (await this.host.upNodes())[0];
      if (!node) throw new ClusterError("nodedown", "no node is up");
      return this.host.op(node, { op: "mailbox" }) as Promise<Pid>;
    })();
    this.pid.catch(() => (this.pid = undefined));
    return this.pid;
  }

  /** Shows and clears what was sent to the shell's pid. */
  flush(): Promise<unknown> {
    return this.onMailbox((pid) => this.host.op(pid.node, { op: "flush", pid }), true);
  }

  /** Tells the mailbox the shell is alive (else it ends itself after a while: see nodeOps). */
  async touch(): Promise<void> {
    if (!this.pid) return;
    await this.onMailbox((pid) => this.host.op(pid.node, { op: "touch", pid }, 5000), false);
  }

  /**
   * The mailbox is gone when its node restarted or the cluster came back:
   * forget it, so self() makes a new one (and a flush() retries on it).
   */
  private async onMailbox<T>(fn: (pid: Pid) => Promise<T>, retry: boolean): Promise<T | undefined> {
    try {
      return await fn(await this.self());
    } catch (err) {
      if (!isClusterError(err, "noproc", "nodedown", "badarg")) throw err;
      this.pid = undefined;
      return retry ? fn(await this.self()) : undefined;
    }
  }

  /** Ends the mailbox process, if the shell made one. */
  async close(): Promise<void> {
    if (!this.pid) return;
    try {
      const pid = await this.pid;
      await this.host.op(pid.node, { op: "kill", pid, reason: "shell_exit" }, 2000);
    } catch {
      // the node or the cluster is gone already
    }
  }
}
