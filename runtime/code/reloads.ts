/**
 * The node's side of a reload transaction (docs/design.md §6): PREPARE evaluates the
 * new versions aside and answers ready or failed, COMMIT swaps them in and
 * runs codeChange in the processes, ABORT throws them away. A commit whose
 * deferred top level throws is undone on this node and answered `failed`. A node that joins
 * catches up by loading the welcome's bundles the same way, at once.
 *
 * Only what the node uses is evaluated (§4.5): the welcome's bundles go to its
 * code path, the entry and what it imports are loaded at join, any other
 * module at its first spawn; a reload of a module this node has not loaded
 * checks it and keeps it there.
 */
import type { Logger } from "../../wire/log";
import type { Pid } from "../../wire/pid";
import { ClusterError } from "../../wire/errors";
import { toWireError, type Bundle, type ControlMessage, type WireError } from "../../wire/protocol";
import { CodePath } from "./codePath";
import type { Change, ModuleTable } from "./loader";
import { mergePatched, removesNames, type LiveEdit } from "./liveEdit";
import { leftRunning } from "./topLevelHandles";

/** What reloads need from the node. */
export interface ReloadHost {
  readonly node: string;
  readonly srcDir: string;
  readonly log: Logger;
  readonly table: Pick<ModuleTable, "prepare" | "commit" | "abort" | "has"> & Partial<Pick<ModuleTable, "current">>;
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
  /** absent when this node runs none of the reload's modules */
  load: ReturnType<ModuleTable["prepare"]> | undefined;
  force: boolean;
  /** the modules it evaluates */
  modules: string[];
  /** every bundle of the reload, filed in the code path once committed */
  bundles: Bundle[];
}

/** How long a first use waits for a reload prepared on this node to be committed or aborted. */
const FIRST_USE_WAIT_MS = 10_000;

export class Reloads {
  private readonly prepared = new Map<number, Prepared>();
  /** first uses waiting for the prepared reloads to end */
  private idleWaiters: (() => void)[] = [];
  readonly path: CodePath;

  constructor(private readonly host: ReloadHost) {
    this.path = new CodePath(host.srcDir);
  }

  /** Catch-up at join: every module's current version goes to the code path; the entry and what it imports are loaded before it starts. */
  join(bundles: Bundle[], entry: string): void {
    this.path.file(bundles);
    this.load(
      this.path.closure([entry], (n) => this.host.table.has(n)),
      true,
    );
  }

  /**
   * Loads `module`, and the project modules it imports that are not loaded
   * yet, from the code path (its first use: a spawn by name). Waits for a
   * reload prepared here to end, so it loads the version the cluster commits.
   * Throws `unknown_module` naming every module the node has, loaded or not.
   */
  async loadOnFirstUse(module: string): Promise<void> {
    if (this.host.table.has(module)) return;
    await this.idle(module);
    // Another first use may have loaded it meanwhile; from here on nothing awaits, so no reload comes between.
    if (this.host.table.has(module)) return;
    if (!this.path.has(module)) {
      const known = this.path.names().sort().join(", ");
      throw new ClusterError("unknown_module", `no module ${module} on node ${this.host.node} (known: ${known || "none"})`, { module });
    }
    this.load(
      this.path.closure([module], (n) => this.host.table.has(n)),
      false,
    );
  }

  /**
   * The welcome of a coordinator that adopts this node: what it is behind
   * on, loaded where this node runs it (with new imports), kept otherwise.
   */
  async adopt(bundles: Bundle[]): Promise<Change[]> {
    const split = this.path.split(bundles, (n) => this.host.table.has(n));
    const changed = split.load.length ? this.host.table.commit(this.host.table.prepare(split.load, { force: false })) : [];
    this.path.file(bundles);
    this.firstLoads(changed);
    const failures = await this.host.procs.codeChange(changed);
    if (failures.length) this.host.log.warn({ codeChangeFailures: failures.length }, "codeChange failed in some processes after catching up");
    return changed;
  }

  prepare(msg: Extract<ControlMessage, { type: "prepare" }>): void {
    const { host } = this;
    const t0 = performance.now();
    try {
      const split = this.path.split(msg.bundles, (n) => host.table.has(n));
      const load = split.load.length ? host.table.prepare(split.load, { force: msg.force }) : undefined;
      this.prepared.set(msg.reload, { load, force: msg.force, modules: split.load.map((b) => b.name), bundles: msg.bundles });
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
    const p = this.take(msg.reload);
    if (!p) return;
    // A forced load ends the processes still on the oldest version only now, once every node is ready: an abort must not have killed them.
    if (p.force) for (const m of p.modules) host.procs.purge(m);
    let changed: Change[] = [];
    try {
      if (p.load) changed = host.table.commit(p.load);
    } catch (err) {
      // A module deferred to COMMIT threw; the table has put its previous versions back (docs/design.md §6). The coordinator rolls back the nodes where it did not throw.
      host.log.warn({ err, reload: msg.reload }, "commit failed; the previous versions run again");
      host.toCoordinator({ type: "failed", reload: msg.reload, node: host.node, error: toWireError(err, "eval_failed"), atCommit: true });
      return;
    }
    this.path.file(p.bundles);
    this.firstLoads(changed);
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
        const versions = new Map(changed.map((c) => [c.name, c.to]));
        for (const c of changed) stale.push(...leftRunning(versions, c.name));
        const scanMs = performance.now() - t1;
        const ok = patched.targets.filter((t) => t.status === "Ok").length;
        if (stale.length > 0) host.log.debug({ reload: msg.reload, stale }, "closures still run old code");
        host.toCoordinator({ type: "closures", reload: msg.reload, node: host.node, patched: ok, stale, patchMs: patched.ms, scanMs });
      });
    });
  }

  abort(msg: Extract<ControlMessage, { type: "abort" }>): void {
    const p = this.take(msg.reload);
    if (p?.load) this.host.table.abort(p.load);
  }

  /** Evaluates `bundles` (importees first) through prepare and commit, and tells the coordinator what now runs here. */
  private load(bundles: Bundle[], force: boolean): void {
    if (bundles.length === 0) return;
    this.firstLoads(this.host.table.commit(this.host.table.prepare(bundles, { force })));
  }

  /** The coordinator's record of what runs where (`history`, the reload report) learns of modules evaluated here for the first time. */
  private firstLoads(changed: Change[]): void {
    const modules = changed.filter((c) => c.from === undefined).map((c) => c.name);
    if (modules.length) this.host.toCoordinator({ type: "loaded", node: this.host.node, modules });
  }

  private take(reload: number): Prepared | undefined {
    const p = this.prepared.get(reload);
    this.prepared.delete(reload);
    if (this.prepared.size === 0 && this.idleWaiters.length) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
    return p;
  }

  /** Resolves once no reload is prepared here: a module first loaded between PREPARE and COMMIT would miss the commit's version. */
  private idle(module: string): Promise<void> {
    if (this.prepared.size === 0) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.idleWaiters = this.idleWaiters.filter((w) => w !== done);
        reject(
          new ClusterError(
            "timeout",
            `${module} is not loaded on node ${this.host.node} yet, and a reload prepared here was neither committed nor aborted within ${FIRST_USE_WAIT_MS} ms. Try again once it has ended.`,
            { module },
          ),
        );
      }, FIRST_USE_WAIT_MS);
      const done = (): void => {
        clearTimeout(timer);
        resolve();
      };
      this.idleWaiters.push(done);
    });
  }
}
