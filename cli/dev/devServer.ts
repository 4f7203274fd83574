import { EventEmitter } from "node:events";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import type { Logger } from "../../wire/log";
import { ClusterError } from "../../wire/errors";
import { loadOrCreateKeys } from "../../wire/security";
import { CompileError, Compiler, type CompiledModule } from "../save/compiler";
import { loadConfig, type ClusterConfig } from "../project/config";
import { Coordinator, type ReloadReport, type TransactionInfo } from "./coordinator";
import { Launcher } from "./launcher";
import { LogRenderer, LogStore, coordinatorLogger, type LogFormat } from "./logs";
import { acquireLock, clearRunning, keysFile, processStart, readRunning, releaseLock, runningFile, stateDir, writeRunning } from "../project/stateDir";
import { PendingSaves } from "../save/pendingSaves";
import { backText, compileErrorText, heldFiles, saveClauses, type HeldFile } from "../save/saveOutcome";
import { Watcher, mergeBatches, type ChangeBatch } from "../save/watcher";
import { logTransaction } from "./transactionLog";
import { BuildWarnings } from "./buildWarnings";
import { RestartWatch } from "./restartWatch";
import { keepAll, keptSnapshots, restartKeepingState, type KeptStateHost } from "./keptState";
import { DriftCheck } from "./diskDrift";
import { TypeGate } from "./typeGate";
import { ObserverServer } from "../observer/server";
import { clearObserverAddress, writeObserverAddress } from "../observer/address";

export interface DevServerOptions {
  configPath: string;
  logFormat?: LogFormat;
  /** where rendered logs go (default stdout) */
  out?: NodeJS.WritableStream;
  watch?: boolean;
  quietMs?: number;
  /** false: no observer page (benchmarks measuring the cluster without it) */
  observer?: boolean;
  /** `up --typecheck`: tsc beside the watcher, errors printed; "strict" also holds back saves while the project has type errors */
  typecheck?: boolean | "strict";
}

/** A reload that came from saved files, timed phase by phase from the first fs event. */
export interface SaveReport {
  files: string[];
  report?: ReloadReport;
  error?: CompileError;
  /** the saved files the nodes do not run yet (they do not compile, or wait for another), with why */
  held: HeldFile[];
  /** fs event of the first file to the batch being flushed */
  watchMs: number;
  compileMs: number;
  firstEventAt: number;
  doneAt: number;
}

/**
 * `devcluster up` as an object: config, compiler, coordinator, launcher and
 * watcher, wired in the order of a change's path and closed in reverse.
 * Emits "ready" (every node ran its entry), "saved" (SaveReport), "stop".
 */
export class DevServer extends EventEmitter {
  readonly config: ClusterConfig;
  readonly log: Logger;
  readonly compiler: Compiler;
  readonly renderer: LogRenderer;
  /** every node's recent lines, for `devcluster logs` and the shell's logs() */
  readonly logStore: LogStore;
  coordinator!: Coordinator;
  launcher!: Launcher;
  /** the observer page (cli/observer), served while `up` runs */
  observer?: ObserverServer;
  private watcher?: Watcher;
  /** what `status` says of modules whose file on disk is not what runs; remembers each module's compile until its files change */
  drift?: DriftCheck;
  /** saved files the nodes do not run yet (held, refused, not compiling), retried with every batch */
  pending!: PendingSaves;
  /** `--typecheck`: the project's tsc in watch mode, and in strict mode the saves it holds back */
  private typeGate?: TypeGate;
  /** package.json, lock files, node_modules and cluster.config.json: what needs a restart when it changes */
  private restartWatch?: RestartWatch;
  private closing?: Promise<void>;
  /** this `up` holds the project's lock (released last at close) */
  private locked = false;
  private saves: Promise<unknown> = Promise.resolve();
  /** what the save being reloaded adds to its transaction's line (bundled files saved, files held back) */
  private saveClauses: string[] = [];
  /** esbuild's warnings, each shown once per module (cli/dev/buildWarnings.ts) */
  private readonly warnings: BuildWarnings;
  /** batches that arrived while a save was in flight, merged into the next one */
  private waiting?: ChangeBatch;
  private readonly startedAt = performance.now();

  private constructor(private readonly opts: DevServerOptions) {
    super();
    this.config = loadConfig(opts.configPath);
    const names = ["up", ...this.config.nodes.map((n) => n.name)];
    this.logStore = new LogStore(names);
    this.renderer = new LogRenderer(opts.logFormat ?? "pretty", names, opts.out, undefined, this.logStore);
    this.log = coordinatorLogger(this.renderer);
    this.warnings = new BuildWarnings(this.log);
    this.compiler = new Compiler({ projectDir: this.config.projectDir, srcDir: this.config.srcDir });
  }

  /** Throws a ClusterError: config_invalid, compile_failed, already_running, bad_port. */
  static async start(opts: DevServerOptions): Promise<DevServer> {
    const server = new DevServer(opts);
    try {
      await server.boot();
    } catch (err) {
      await server.close();
      throw err;
    }
    return server;
  }

  private async boot(): Promise<void> {
    const { config } = this;
    // The lock first, atomically: of two `up`s started at the same moment exactly one gets past here.
    const holder = acquireLock(config.projectDir);
    if (holder) {
      throw new ClusterError(
        "already_running",
        `a cluster is already running in ${config.projectDir} (pid ${holder.pid} holds .devcluster/up.lock); stop it with \`devcluster stop\``,
      );
    }
    this.locked = true;
    const running = readRunning(config.projectDir);
    if (running) {
      throw new ClusterError("already_running", `a cluster is already running in ${config.projectDir} (pid ${running.pid}); stop it with \`devcluster stop\``);
    }
    const keys = loadOrCreateKeys(keysFile(config.projectDir));
    // Only now: the files of a cluster already running here must not be truncated by a refused `up`.
    this.logStore.openFiles(path.join(stateDir(config.projectDir), "logs"));
    // Taken before the compile, so the drift check can trust what it compiled (DriftCheck.seed).
    const compiledFrom = { files: this.compiler.listModules(), startedAt: Date.now(), tsconfig: this.compiler.tsconfig() };
    const modules = await this.compiler.compile(compiledFrom.files);
    this.warnings.show(modules);
    if (!modules.some((m) => m.name === config.entry)) {
      throw new ClusterError(
        "config_invalid",
        `entry module ${config.entry} is not in ${config.srcDir} (modules: ${modules.map((m) => m.name).join(", ") || "none"}); check "entry" in ${config.configPath}`,
      );
    }
    const nodeNames = config.nodes.map((n) => n.name);
    this.coordinator = new Coordinator({
      cluster: config.name,
      entry: config.entry,
      nodes: nodeNames,
      host: config.coordinator.host,
      port: config.coordinator.port,
      keys,
      log: this.log,
      compile: (names) => this.compiler.compile(names.map((n) => this.compiler.fileOf(n))),
      logs: this.logStore,
      disk: () => this.drift!.find(),
      restart: (node, fresh) => restartKeepingState(this.keptHost(), node, (once) => this.restartNode(node, once), fresh),
      keepState: () => keepAll(this.keptHost(), nodeNames),
      prepareTimeoutMs: config.reload.timeoutMs,
      allOrNothing: config.reload.allOrNothing,
    });
    this.drift = new DriftCheck(this.compiler, this.coordinator.store);
    this.drift.seed(modules, compiledFrom);
    this.pending = new PendingSaves({ compiler: this.compiler, store: this.coordinator.store, log: this.log });
    this.coordinator.on("reloaded", (report: ReloadReport, info: TransactionInfo) => {
      logTransaction(this.log, report, info, this.saveClauses);
      // What the nodes run changed, and with it the files outside src that they are built from.
      this.watchBundled();
    });
    const endpoint = await this.coordinator.start(modules);
    writeRunning(config.projectDir, {
      cluster: config.name,
      endpoint,
      pid: process.pid,
      configPath: config.configPath,
      startedAt: new Date().toISOString(),
      procStart: processStart(process.pid),
      ...keys,
    });
    this.coordinator.on("ready", () => {
      this.log.info(
        { nodes: nodeNames, ms: Math.round(performance.now() - this.startedAt) },
        `cluster ${config.name} ready: ${nodeNames.length} nodes running ${config.entry}`,
      );
      this.emit("ready");
    });
    this.coordinator.on("stop", () => this.emit("stop"));
    // A joined node's lines come over its control link; they are shown and kept as a local node's are.
    this.coordinator.on("nodeLog", (node: string, line: string, stream: "stdout" | "stderr") => this.renderer.line(node, line, stream));
    if (this.opts.observer !== false) {
      this.observer = await ObserverServer.start({ coordinator: this.coordinator, logs: this.logStore, projectDir: config.projectDir, ...config.observer });
      writeObserverAddress(config.projectDir, this.observer.url);
      this.log.info({ observer: this.observer.url }, `observer: ${this.observer.url}`);
    }
    this.launcher = new Launcher({
      nodes: config.nodes,
      env: {
        DEVCLUSTER_COORDINATOR: endpoint,
        // The pair this `up` runs with, not keys.json, which `keys rotate` may replace meanwhile: a restarted node still joins.
        DEVCLUSTER_KEYS: runningFile(config.projectDir),
        DEVCLUSTER_SRC: config.srcDir,
        DEVCLUSTER_PROJECT: config.projectDir,
        // Peer endpoints on the coordinator's address: nodes on other machines reach them there (loopback by default).
        DEVCLUSTER_HOST: config.coordinator.host,
      },
      log: this.log,
      onLine: (node, line, stream) => this.renderer.line(node, line, stream),
    });
    this.launcher.on("exit", (name: string) => this.coordinator.nodeDown(name));
    for (const [node, file] of keptSnapshots(config.projectDir, config.name, nodeNames, this.log)) this.launcher.startWith(node, { DEVCLUSTER_RESTORE: file });
    this.launcher.start();
    if (this.opts.watch !== false) {
      this.watcher = new Watcher({ srcDir: config.srcDir, quietMs: this.opts.quietMs });
      this.watcher.on("batch", (batch) => {
        // Saves go one after another: a reload never overtakes the one before it. What arrives while one is
        // in flight (the rest of a burst) is merged into one next batch, not one transaction per event.
        if (this.waiting) {
          this.waiting = mergeBatches(this.waiting, batch);
          return;
        }
        this.waiting = batch;
        this.saves = this.saves
          .then(() => {
            const next = this.waiting!;
            this.waiting = undefined;
            return this.onBatch(next);
          })
          .catch((err: unknown) => this.log.error({ err }, "reload failed"));
      });
      await this.watcher.start();
      this.watchBundled();
      if (this.opts.typecheck)
        this.typeGate = new TypeGate({
          projectDir: this.config.projectDir,
          log: this.log,
          strict: this.opts.typecheck === "strict",
          pending: this.pending,
          release: (held) => {
            this.saves = this.saves.then(() => this.onBatch(held, true)).catch((err: unknown) => this.log.error({ err }, "reload failed"));
          },
        });
      this.restartWatch = new RestartWatch({ projectDir: config.projectDir, configPath: config.configPath, log: this.log });
      this.restartWatch.start();
    }
  }

  /** Watches exactly the files outside src that a running or a dirty module is built from (`../shared/fmt.ts`). */
  private watchBundled(): void {
    this.watcher?.watchFiles(this.pending.watchedFiles());
  }

  /** `devcluster restart`: one node's OS process ends and starts again; resolves once it runs its entry with the current code. */
  private keptHost(): KeptStateHost {
    return { projectDir: this.config.projectDir, log: this.log, nodeRequest: (node, op, ms) => this.coordinator.nodeRequest(node, op, ms) };
  }

  private async restartNode(node: string, once: Record<string, string> = {}, timeoutMs = 30_000): Promise<void> {
    const started = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.coordinator.off("nodeStarted", on);
        reject(new ClusterError("timeout", `${node} did not run its entry within ${timeoutMs} ms of its restart; see devcluster logs ${node}`));
      }, timeoutMs);
      const on = (name: string): void => {
        if (name !== node) return;
        clearTimeout(timer);
        this.coordinator.off("nodeStarted", on);
        resolve();
      };
      this.coordinator.on("nodeStarted", on);
    });
    await this.launcher.restart(node, once);
    await started;
  }

  /** Resolves when every node has run its entry module. */
  ready(timeoutMs = 30_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new ClusterError("timeout", `cluster not ready within ${timeoutMs} ms`)), timeoutMs);
      this.once("ready", () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  private async onBatch(batch: ChangeBatch, typesChecked = false): Promise<void> {
    const flushedAt = performance.now();
    for (const file of batch.removed) {
      this.log.warn({ file }, "module file deleted; nodes keep running the version they have");
    }
    if (batch.changed.length === 0 && batch.assets.length === 0) return;
    if (this.opts.typecheck === "strict" && !typesChecked && (await this.typeGate!.holds(batch))) return;
    // Every file the nodes do not run yet is looked at again, and only a consistent set is sent (rule: what runs is what is on disk).
    const plan = await this.pending.plan(batch);
    this.watchBundled();
    const files = plan.files;
    const held = heldFiles(plan, this.config.projectDir);
    if (plan.error) {
      this.log.error({ code: plan.error.code, held }, compileErrorText(plan, this.config.projectDir));
      const sent = plan.send.map((m) => m.name);
      this.observer?.observer.compileFailed(files, plan.error, sent);
    }
    const back = backText(plan, this.config.projectDir);
    if (back) this.observer?.observer.savedBack(back, plan.back);
    if (back && plan.send.length === 0) this.log.info({ back: plan.back.map((b) => `${b.module}@${b.version}`) }, `${back}; nothing to send`);
    if (plan.send.length === 0) {
      if (!plan.error) return;
      this.emit("saved", {
        files,
        error: plan.error,
        held,
        watchMs: flushedAt - batch.firstEventAt,
        compileMs: performance.now() - flushedAt,
        firstEventAt: batch.firstEventAt,
        doneAt: performance.now(),
      } satisfies SaveReport);
      return;
    }
    // What the save's reload line adds (read by logTransaction, as the coordinator's "reloaded" event comes before the reload resolves).
    this.saveClauses = saveClauses(plan, batch, this.config.projectDir);
    const compiledAt = performance.now();
    this.warnings.show(plan.send);
    // A save that changed nothing in the output (whitespace in a comment, a touch) is not a reload: plan.send holds changed versions only.
    let report = await this.reportReload(plan.send);
    // Only modules carried over from earlier saves were refused: this save's own set goes without them.
    const retry = this.pending.settle(plan, report);
    if (retry) {
      report = await this.reportReload(retry);
      this.pending.settle({ ...plan, send: retry }, report);
    }
    this.saveClauses = [];
    this.watchBundled();
    this.emit("saved", {
      files,
      report,
      held,
      ...(plan.error ? { error: plan.error } : {}),
      watchMs: flushedAt - batch.firstEventAt,
      compileMs: compiledAt - flushedAt,
      firstEventAt: batch.firstEventAt,
      doneAt: performance.now(),
    } satisfies SaveReport);
  }

  private reportReload(modules: CompiledModule[]): Promise<ReloadReport> {
    return this.coordinator.reload(modules, { source: "save" });
  }

  /** Stops the watcher, the nodes and the coordinator, in reverse order of start. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.typeGate?.close();
      this.restartWatch?.close();
      await this.watcher?.close();
      // Nodes going away now are no news: no liveness warning, no failing send to them in the log.
      this.coordinator?.stopping();
      await this.launcher?.stop();
      // Followers (logs -f) hear that no more lines come before the endpoint goes away.
      this.logStore.end();
      await this.observer?.close();
      if (this.observer) clearObserverAddress(this.config.projectDir);
      await this.coordinator?.close();
      clearRunning(this.config.projectDir);
      await this.logStore.close();
      if (this.locked) releaseLock(this.config.projectDir);
    })();
    return this.closing;
  }
}
