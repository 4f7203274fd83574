/**
 * The node's side of a reload transaction (docs/design.md §6): PREPARE evaluates the
 * new versions aside and answers ready or failed, COMMIT swaps them in and
 * runs codeChange in the processes, ABORT throws them away. A commit whose
 * deferred top level throws is undone on this node and answered `failed`. A node that joins
 * catches up by loading the welcome's bundles the same way, at once.
 */
import type { Logger } from "../../wire/log";
import type { Pid } from "../../wire/pid";
import { toWireError, type Bundle, type ControlMessage, type WireError } from "../../wire/protocol";
import type { Change, ModuleTable } from "./loader";
import { mergePatched, removesNames, type LiveEdit } from "./liveEdit";

/** What reloads need from the node. */
export interface ReloadHost {
  readonly node: string;
  readonly log: Logger;
  readonly table: Pick<ModuleTable, "prepare" | "commit" | "abort"> & Partial<Pick<ModuleTable, "current">>;
  readonly procs: {
    /** ends the processes still on a module's oldest version (a forced load) */
    purge(module: string): void;
    codeChange(changed: Change[]): Promise<{ pid: Pid; error: WireError }[]>;
  };
  toCoordinator(msg: ControlMessage): void;
  /** patches closures made by earlier versions after each commit; without it, no `closures` message follows `committed` */
  readonly liveEdit?: Pick<LiveEdit, "patch" | "findStale">;
  /** the compiled text of a module's current version (ModuleTable.compiled), for liveEdit */
  compiled?(name: string): { filename: string; text: string; previous?: string } | undefined;
}

interface Prepared {
  load: ReturnType<ModuleTable["prepare"]>;
  force: boolean;
  modules: string[];
}

export class Reloads {
  private readonly prepared = new Map<number, Prepared>();

  constructor(private readonly host: ReloadHost) {}

  /** Catch-up at join: every module's current version, loaded before the entry starts. */
  join(bundles: Bundle[]): void {
    this.host.table.commit(this.host.table.prepare(bundles, { force: true }));
  }

  prepare(msg: Extract<ControlMessage, { type: "prepare" }>): void {
    const { host } = this;
    const t0 = performance.now();
    try {
      this.prepared.set(msg.reload, { load: host.table.prepare(msg.bundles, { force: msg.force }), force: msg.force, modules: msg.bundles.map((b) => b.name) });
    } catch (err) {
      host.log.warn({ err, reload: msg.reload }, "prepare failed");
      host.toCoordinator({ type: "failed", reload: msg.reload, node: host.node, error: toWireError(err, "eval_failed") });
      return;
    }
    // One phase: this node is the whole reload, so ready means commit; the coordinator waits for `committed` (or `failed`) only.
    if (msg.commit) return this.commit({ type: "commit", reload: msg.reload }, performance.now() - t0);
    host.toCoordinator({ type: "ready", reload: msg.reload, node: host.node, ms: performance.now() - t0 });
  }

  /** `preparedMs`: the prepare time of a one-phase reload, counted into the node's time */
  commit(msg: Extract<ControlMessage, { type: "commit" }>, preparedMs = 0): void {
    const { host } = this;
    const t0 = performance.now() - preparedMs;
    const p = this.prepared.get(msg.reload);
    this.prepared.delete(msg.reload);
    if (!p) return;
    // A forced load ends the processes still on the oldest version only now, once every node is ready: an abort must not have killed them.
    if (p.force) for (const m of p.modules) host.procs.purge(m);
    let changed: Change[];
    try {
      changed = host.table.commit(p.load);
    } catch (err) {
      // A module deferred to COMMIT threw; the table has put its previous versions back (docs/design.md §6). The coordinator rolls back the nodes where it did not throw.
      host.log.warn({ err, reload: msg.reload }, "commit failed; the previous versions run again");
      host.toCoordinator({ type: "failed", reload: msg.reload, node: host.node, error: toWireError(err, "eval_failed"), atCommit: true });
      return;
    }
    const modules = changed.flatMap((c) => {
      const compiled = host.compiled?.(c.name);
      const previous = compiled?.previous !== undefined ? { previous: compiled.previous } : {};
      return compiled ? [{ change: c, module: { ...c, compiled: compiled.text, filename: compiled.filename, ...previous }, previous: compiled.previous }] : [];
    });
    // A behaviour with codeChange runs its old code until each process's state is migrated (docs/design.md §4.6):
    // its earlier versions are patched once that is done, and not at all when a process stays on the old version.
    const migrating = (c: Change): boolean => c.from !== undefined && typeof host.table.current?.(c.name)?.exports.codeChange === "function";
    // A version that drops a method or an export is patched in the same turn as the swap: an old callback running in
    // between would call a name that is gone (`this.heartbeat()` after a rename). Any other patch waits until `committed` has left.
    const urgent = modules.filter((m) => !migrating(m.change) && m.previous !== undefined && removesNames(m.previous, m.module.compiled));
    const first = urgent.length > 0 ? host.liveEdit?.patch(urgent.map((m) => m.module)) : undefined;
    // codeChange runs in the processes, between their messages; waiting for it here would stall the control loop (pings, names, the next reload) behind a slow handler.
    void host.procs.codeChange(changed).then((failures) => {
      // The coordinator prints one line per reload for the cluster; per node it would be N copies of it.
      host.log.debug({ reload: msg.reload, modules: changed.map((c) => `${c.name}@${c.to}`) }, "reloaded");
      host.toCoordinator({ type: "committed", reload: msg.reload, node: host.node, ms: performance.now() - t0, codeChangeFailures: failures });
      const liveEdit = host.liveEdit;
      if (!liveEdit) return;
      // After `committed` has left: neither the rest of the patch nor the heap walk is part of the save-to-live time.
      setImmediate(() => {
        const rest = modules.filter((m) => !urgent.includes(m) && (failures.length === 0 || !migrating(m.change))).map((m) => m.module);
        const later = liveEdit.patch(rest);
        const patched = first ? mergePatched(first, later) : later;
        const t1 = performance.now();
        const stale = liveEdit.findStale(patched);
        const scanMs = performance.now() - t1;
        const ok = patched.targets.filter((t) => t.status === "Ok").length;
        if (stale.length > 0) host.log.debug({ reload: msg.reload, stale }, "closures still run old code");
        host.toCoordinator({ type: "closures", reload: msg.reload, node: host.node, patched: ok, stale, patchMs: patched.ms, scanMs });
      });
    });
  }

  abort(msg: Extract<ControlMessage, { type: "abort" }>): void {
    const p = this.prepared.get(msg.reload);
    this.prepared.delete(msg.reload);
    if (p) this.host.table.abort(p.load);
  }
}
