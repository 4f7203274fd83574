/**
 * Processes on an old version of their module: pinned to it while their
 * codeChange waits its turn, or for good when it threw. They block a third
 * version (oldVersionUsers) and die when a forced load purges it.
 */
import type { Logger } from "../../wire/log";
import type { Pid } from "../../wire/pid";
import { toWireError, type WireError } from "../../wire/protocol";
import { asBehaviour, isThenable, type Envelope, type Proc } from "./proc";

type Version = { version: string; exports: Record<string, unknown> };

/** What pinning needs of the node's processes and module table (process.ts's Processes). */
export interface CodeChangeHost {
  readonly log: Logger;
  current(name: string): Version | undefined;
  old(name: string): Version | undefined;
  /** the live processes of a module */
  ofModule(name: string): Iterable<Proc>;
  deliver(id: number, env: Envelope, front?: boolean): boolean;
  exit(proc: Proc, reason: unknown): Promise<void>;
}

export class CodeChange {
  /** processes still on an old version, per module: checked at every prepare, so kept rather than scanned */
  private readonly pinned = new Map<string, Set<Proc>>();

  constructor(private readonly host: CodeChangeHost) {}

  /** pids still running the old version of a module: they block a third version. */
  users(module: string): string[] {
    return [...(this.pinned.get(module) ?? [])].map((p) => p.pid.toString());
  }

  /** A forced load purges the oldest version: its remaining processes are killed. */
  purge(module: string): void {
    for (const p of [...(this.pinned.get(module) ?? [])]) void this.host.exit(p, "purged");
  }

  private pin(proc: Proc, to: { version: string; exports: Record<string, unknown> }): void {
    proc.pinned = to;
    let set = this.pinned.get(proc.module);
    if (!set) this.pinned.set(proc.module, (set = new Set()));
    set.add(proc);
  }

  unpin(proc: Proc): void {
    proc.pinned = undefined;
    this.pinned.get(proc.module)?.delete(proc);
  }

  /**
   * After a commit: processes of a module whose new version exports
   * codeChange stay pinned to the old code until their codeChange has run,
   * first in their mailbox; one that throws keeps its state on the old version.
   */
  codeChange(changed: { name: string; from?: string; to: string }[]): Promise<{ pid: Pid; error: WireError }[]> {
    const waits: Promise<{ pid: Pid; error: WireError } | undefined>[] = [];
    for (const { name, from } of changed) {
      const next = asBehaviour(this.host.current(name)?.exports);
      const prev = this.host.old(name);
      const fn = next?.codeChange;
      if (from === undefined || !prev || typeof fn !== "function") continue;
      for (const proc of this.host.ofModule(name)) {
        this.pin(proc, prev);
        waits.push(
          new Promise((resolve) => {
            const run = async (p: Proc): Promise<void> => {
              try {
                let s = fn(from, p.state);
                if (isThenable(s)) s = await s;
                p.state = s;
                this.unpin(p);
                resolve(undefined);
              } catch (err) {
                this.host.log.error({ proc: p.pid.toString(), module: name, err }, "codeChange failed; process stays on the old version");
                resolve({ pid: p.pid, error: toWireError(err, "code_change_failed") });
              }
            };
            // A process that ends before its turn settles too: a commit must never wait on the dead.
            const abandon = (): void => resolve({ pid: proc.pid, error: { code: "noproc", message: `${proc.pid} ended before its codeChange ran` } });
            if (!this.host.deliver(proc.pid.id, { kind: "system", run, abandon }, true)) abandon();
          }),
        );
      }
    }
    return Promise.all(waits).then((r) => r.filter((x): x is { pid: Pid; error: WireError } => x !== undefined));
  }
}
