import { ClusterError } from "../../wire/errors";
import type { ReloadSource } from "../../wire/protocol";
import type { CompiledModule } from "../save/compiler";
import type { Member } from "./admission";
import type { CodeStore } from "./codeStore";
import type { ReloadReport, ReloadTransactions } from "./reloadTransaction";
import type { TransactionInfo } from "./reports";
import { versionSource, type VersionHistory } from "./versionHistory";

/** What moving versions needs of its coordinator. */
export interface VersionMovesHost {
  store: CodeStore;
  history: VersionHistory;
  members: Map<string, Member>;
  /** the coordinator's queue: reloads and joins run one after another */
  serial<T>(task: () => Promise<T>): Promise<T>;
  run: ReloadTransactions["run"];
  /** the coordinator's "reloaded" event */
  emit(event: "reloaded", report: ReloadReport, info: TransactionInfo): void;
}

/**
 * The coordinator's reload transactions as they are asked for (docs/design.md
 * §6): a reload, a rollback (or `rollback --to`), a member's catch-up. Each
 * waits its turn, is recorded in the version history, and is announced.
 */
export class VersionMoves {
  constructor(private readonly host: VersionMovesHost) {}

  /** Moves a set of modules to new versions on every node, or on none. */
  reload(modules: CompiledModule[], opts: { force?: boolean; source?: ReloadSource; allOrNothing?: boolean } = {}): Promise<ReloadReport> {
    const tx = opts.allOrNothing !== undefined ? { allOrNothing: opts.allOrNothing } : undefined;
    return this.host.serial(() => this.transaction(modules, opts.force ?? false, tx, { source: opts.source ?? "cli" }));
  }

  /** Every transaction, whoever started it, ends in one "reloaded" event: `up` logs each one from there. */
  private async transaction(
    modules: CompiledModule[],
    force: boolean,
    opts: Parameters<ReloadTransactions["run"]>[2],
    info: TransactionInfo,
  ): Promise<ReloadReport> {
    const report = await this.host.run(modules, force, opts);
    // The store records a set once COMMIT went out (even when a node did not confirm): so does the history.
    const source = versionSource(info);
    if (source && report.failedIn !== "prepare" && opts?.store !== "keep") {
      this.host.history.record(modules, source, info.source === "save" ? undefined : info.source);
    }
    this.host.emit("reloaded", report, info);
    return report;
  }

  /**
   * A member that was unreachable runs what it ran then: bring it to the
   * store's versions, the way a (re)joining node is given them.
   */
  async catchUp(node: string): Promise<void> {
    const m = this.host.members.get(node);
    if (!m) return;
    const behind = this.host.store
      .names()
      .filter((n) => m.versions[n] !== this.host.store.get(n)!.version)
      .map((n) => this.host.store.get(n)!);
    if (behind.length === 0) return;
    // A node just back may be slow for a while: its catch-up gets the longer deadline, so it is not cut off again at once.
    await this.transaction(behind, false, { only: [node], store: "keep", timeoutMs: 5000 }, { source: "catch-up", node });
  }

  /**
   * Moves modules back to the version each had before its last reload, on
   * every node; with `to`, one module to any version it ran since `up` (a
   * version prefix as `history` shows it). Going `to` a version is a new
   * step forward in the store, so a plain rollback afterwards undoes it.
   */
  rollback(names: string[], opts: { force?: boolean; source?: ReloadSource; to?: string } = {}): Promise<ReloadReport> {
    return this.host.serial(async () => {
      if (opts.to !== undefined) {
        if (names.length !== 1) throw new ClusterError("badarg", `rollback --to names one module, got ${names.length} (${names.join(", ")})`);
        const target = this.host.history.find(names[0]!, opts.to);
        // Already there: nothing to move, and a "rolled back" would tell of a change that did not happen.
        if (this.host.store.get(target.name)?.version === target.version) {
          return { ok: true, modules: [{ name: target.name, version: target.version }], nodes: [], ms: 0, alreadyRunning: true };
        }
        return this.transaction([target], opts.force ?? false, undefined, { source: opts.source ?? "cli", rollback: true });
      }
      const missing = names.filter((n) => !this.host.store.previous(n));
      if (missing.length) {
        throw new ClusterError("no_history", `no earlier version of ${missing.join(", ")} to roll back to (a module has one after it has been reloaded)`);
      }
      return this.transaction(
        names.map((n) => this.host.store.previous(n)!),
        opts.force ?? false,
        { store: "rollback" },
        { source: opts.source ?? "cli", rollback: true },
      );
    });
  }
}
