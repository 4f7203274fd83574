import { existsSync, readFileSync, readdirSync, watch, type FSWatcher } from "node:fs";
import * as path from "node:path";
import type { Logger } from "../../wire/log";
import { LOCK_FILES, RestartNotice, changedParts, dependencyState, jsonContent, type DependencyState } from "./restartNotice";

/**
 * What `up` reads once and cannot swap: the npm dependencies (package.json,
 * lock files, node_modules) and cluster.config.json. Says once when a change
 * of them needs a restart, and once when they are back as `up` started them.
 */
export class RestartWatch {
  private depsWatcher?: FSWatcher;
  /** node_modules and each scope folder in it */
  private modulesWatchers: FSWatcher[] = [];
  private configWatcher?: FSWatcher;
  private closed = false;

  constructor(private readonly opts: { projectDir: string; configPath: string; log: Logger }) {}

  start(): void {
    this.watchDependencies();
    this.watchConfig();
  }

  /** Stops every watch. Idempotent. */
  close(): void {
    this.closed = true;
    this.depsWatcher?.close();
    for (const w of this.modulesWatchers) w.close();
    this.modulesWatchers = [];
    this.configWatcher?.close();
  }

  /**
   * npm packages are loaded once per node and never swapped, so a change of
   * package.json's dependencies, a lock file or node_modules' top level needs
   * the nodes restarted: say so, once for all three (`npm install` touches
   * each, in several fs events).
   */
  private watchDependencies(): void {
    const dir = this.opts.projectDir;
    const start = dependencyState(dir);
    const key = (s: DependencyState): string => JSON.stringify(s);
    let latest = start;
    let parts: string[] = [];
    const notice = new RestartNotice(
      start ? key(start) : "",
      () => {
        parts = start && latest ? changedParts(start, latest) : ["package.json"];
        this.opts.log.warn(
          { files: parts },
          `dependencies changed (${parts.join(", ")}): npm packages are not hot-swapped; \`devcluster restart\` restarts the nodes with them, keeping their processes (state and pids)`,
        );
      },
      () => this.opts.log.info({ files: parts }, `dependencies back as up started them (${parts.join(", ")}): no restart needed`),
    );
    const check = (): void => {
      const now = dependencyState(dir);
      if (now) latest = now;
      notice.seen(now && key(now));
    };
    const watched = new Set(["package.json", "node_modules", ...LOCK_FILES]);
    const modulesDir = path.join(dir, "node_modules");
    // node_modules' top level and each scope folder in it: a package added to a scope (`@types/node`) changes only
    // the scope's folder. Watched again whenever node_modules or a scope is made or removed (`rm -rf node_modules &&
    // npm install`), and looked at once more then: what was made before the watch was armed has no event of its own.
    const watchModules = (): void => {
      for (const w of this.modulesWatchers) w.close();
      this.modulesWatchers = [];
      if (this.closed || !existsSync(modulesDir)) return;
      const scopes = (): string[] => {
        try {
          return readdirSync(modulesDir).filter((n) => n.startsWith("@"));
        } catch {
          return [];
        }
      };
      for (const d of [modulesDir, ...scopes().map((n) => path.join(modulesDir, n))]) {
        try {
          const w = watch(d, (_event, file) => {
            if (d === modulesDir && String(file).startsWith("@")) watchModules();
            else check();
          });
          w.on("error", () => undefined);
          this.modulesWatchers.push(w);
        } catch {
          // gone again between the listing and the watch
        }
      }
      check();
    };
    this.depsWatcher = watch(dir, (_event, file) => {
      if (file === null || !watched.has(String(file))) return;
      if (String(file) === "node_modules") watchModules();
      else check();
    });
    this.depsWatcher.on("error", () => undefined);
    watchModules();
  }

  /** The cluster's shape (nodes, entry, src) is read once at `up`: say that an edit of it needs a restart. */
  private watchConfig(): void {
    const file = this.opts.configPath;
    const read = (): string | undefined => {
      try {
        return jsonContent(readFileSync(file, "utf8"));
      } catch {
        return undefined;
      }
    };
    const notice = new RestartNotice(read() ?? "", () =>
      this.opts.log.warn({ file }, "cluster.config.json changed: nodes, entry and src are read at start; restart `devcluster up` to apply it"),
    );
    this.configWatcher = watch(file, () => notice.seen(read()));
    this.configWatcher.on("error", () => undefined);
  }
}
