import { EventEmitter } from "node:events";
import { existsSync, readFileSync, watch, type FSWatcher } from "node:fs";
import * as path from "node:path";
import { performance } from "node:perf_hooks";
import type { Logger } from "../../wire/log";
import { ClusterError } from "../../wire/errors";
import { loadOrCreateKeys } from "../../wire/security";
import { CompileError, Compiler, type CompiledModule } from "./compiler";
import { loadConfig, type ClusterConfig } from "../project/config";
import { Coordinator, type ReloadReport } from "./coordinator";
import { Launcher } from "./launcher";
import { LogRenderer, coordinatorLogger, type LogFormat } from "./logs";
import { clearRunning, keysFile, readRunning, writeRunning } from "../project/stateDir";
import { Watcher, type ChangeBatch } from "./watcher";
import { reloadLogLine } from "../views/reloadReport";
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
}

/** A reload that came from saved files, timed phase by phase from the first fs event. */
export interface SaveReport {
  files: string[];
  report?: ReloadReport;
  error?: CompileError;
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
  coordinator!: Coordinator;
  launcher!: Launcher;
  /** the observer page (cli/observer), served while `up` runs */
  observer?: ObserverServer;
  private watcher?: Watcher;
  private depsWatcher?: FSWatcher;
  private configWatcher?: FSWatcher;
  private closing?: Promise<void>;
  private saves: Promise<unknown> = Promise.resolve();
  private readonly startedAt = performance.now();

  private constructor(private readonly opts: DevServerOptions) {
    super();
    this.config = loadConfig(opts.configPath);
    this.renderer = new LogRenderer(opts.logFormat ?? "pretty", ["up", ...this.config.nodes.map((n) => n.name)], opts.out);
    this.log = coordinatorLogger(this.renderer);
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
    const running = readRunning(config.projectDir);
    if (running) {
      throw new ClusterError("already_running", `a cluster is already running in ${config.projectDir} (pid ${running.pid}); stop it with \`devcluster stop\``);
    }
    const keys = loadOrCreateKeys(keysFile(config.projectDir));
    const modules = await this.compiler.compileAll();
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
    });
    const endpoint = await this.coordinator.start(modules);
    writeRunning(config.projectDir, { cluster: config.name, endpoint, pid: process.pid, configPath: config.configPath, startedAt: new Date().toISOString() });
    this.coordinator.on("ready", () => {
      this.log.info(
        { nodes: nodeNames, ms: Math.round(performance.now() - this.startedAt) },
        `cluster ${config.name} ready: ${nodeNames.length} nodes running ${config.entry}`,
      );
      this.emit("ready");
    });
    this.coordinator.on("stop", () => this.emit("stop"));
    if (this.opts.observer !== false) {
      this.observer = await ObserverServer.start({ coordinator: this.coordinator, ...config.observer });
      writeObserverAddress(config.projectDir, this.observer.url);
      this.log.info({ observer: this.observer.url }, `observer: ${this.observer.url}`);
    }
    this.launcher = new Launcher({
      nodes: config.nodes,
      env: {
        DEVCLUSTER_COORDINATOR: endpoint,
        DEVCLUSTER_KEYS: keysFile(config.projectDir),
        DEVCLUSTER_SRC: config.srcDir,
        DEVCLUSTER_PROJECT: config.projectDir,
      },
      log: this.log,
      onLine: (node, line) => this.renderer.line(node, line),
    });
    this.launcher.on("exit", (name: string) => this.coordinator.nodeDown(name));
    this.launcher.start();
    if (this.opts.watch !== false) {
      this.watcher = new Watcher({ srcDir: config.srcDir, quietMs: this.opts.quietMs });
      this.watcher.on("batch", (batch) => {
        // Saves go one after another: a reload never overtakes the one before it.
        this.saves = this.saves.then(() => this.onBatch(batch)).catch((err: unknown) => this.log.error({ err }, "reload failed"));
      });
      await this.watcher.start();
      this.watchDependencies();
      this.watchConfig();
    }
  }

  /** npm packages are loaded once per node and never swapped, so a dependency change needs a restart: say so. */
  private watchDependencies(): void {
    const pkg = path.join(this.config.projectDir, "package.json");
    if (!existsSync(pkg)) return;
    const deps = (): string => {
      try {
        const p = JSON.parse(readFileSync(pkg, "utf8")) as Record<string, unknown>;
        return JSON.stringify([p.dependencies, p.devDependencies, p.optionalDependencies]);
      } catch {
        return "unreadable";
      }
    };
    let last = deps();
    this.depsWatcher = watch(pkg, () => {
      const now = deps();
      if (now === last) return;
      last = now;
      this.log.warn({ file: pkg }, "dependencies changed: npm packages are not hot-swapped; restart `devcluster up` to load them");
    });
    this.depsWatcher.on("error", () => undefined);
  }

  /** The cluster's shape (nodes, entry, src) is read once at `up`: say that an edit of it needs a restart. */
  private watchConfig(): void {
    const file = this.config.configPath;
    let last = readFileSync(file, "utf8");
    this.configWatcher = watch(file, () => {
      let now: string;
      try {
        now = readFileSync(file, "utf8");
      } catch {
        return;
      }
      if (now === last) return;
      last = now;
      this.log.warn({ file }, "cluster.config.json changed: nodes, entry and src are read at start; restart `devcluster up` to apply it");
    });
    this.configWatcher.on("error", () => undefined);
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

  private async onBatch(batch: ChangeBatch): Promise<void> {
    const flushedAt = performance.now();
    for (const file of batch.removed) {
      this.log.warn({ file }, "module file deleted; nodes keep running the version they have");
    }
    if (batch.changed.length === 0) return;
    let modules: CompiledModule[];
    try {
      modules = await this.compiler.compile(batch.changed);
    } catch (err) {
      if (!(err instanceof CompileError)) throw err;
      this.log.error({ code: err.code }, err.message);
      this.observer?.observer.compileFailed(batch.changed, err);
      this.emit("saved", {
        files: batch.changed,
        error: err,
        watchMs: flushedAt - batch.firstEventAt,
        compileMs: performance.now() - flushedAt,
        firstEventAt: batch.firstEventAt,
        doneAt: performance.now(),
      } satisfies SaveReport);
      return;
    }
    const compiledAt = performance.now();
    // A save that changed nothing in the output (whitespace in a comment, a touch) is not a reload.
    const changed = modules.filter((m) => this.coordinator.store.get(m.name)?.version !== m.version);
    if (changed.length === 0) return;
    const report = await this.reportReload(changed);
    this.emit("saved", {
      files: batch.changed,
      report,
      watchMs: flushedAt - batch.firstEventAt,
      compileMs: compiledAt - flushedAt,
      firstEventAt: batch.firstEventAt,
      doneAt: performance.now(),
    } satisfies SaveReport);
  }

  private async reportReload(modules: CompiledModule[]): Promise<ReloadReport> {
    const report = await this.coordinator.reload(modules);
    if (report.ok)
      this.log.info({ modules: report.modules, ms: Number(report.ms.toFixed(2)), skewMs: Number((report.skewMs ?? 0).toFixed(2)) }, reloadLogLine(report));
    // What to do next depends on where the change came from: here, a saved file.
    else
      this.log.error(
        { modules: report.modules },
        `${reloadLogLine(report)}. ${report.failedIn === "commit" ? "Check those nodes (devcluster status)." : "Fix the file and save again."}`,
      );
    return report;
  }

  /** Stops the watcher, the nodes and the coordinator, in reverse order of start. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.depsWatcher?.close();
      this.configWatcher?.close();
      await this.watcher?.close();
      await this.launcher?.stop();
      await this.observer?.close();
      if (this.observer) clearObserverAddress(this.config.projectDir);
      await this.coordinator?.close();
      clearRunning(this.config.projectDir);
    })();
    return this.closing;
  }
}
