import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import * as path from "node:path";
import { createInterface } from "node:readline";
import type { Logger } from "../../wire/log";

export interface LaunchSpec {
  name: string;
  env: Record<string, string>;
}

export interface LauncherOptions {
  nodes: LaunchSpec[];
  /** environment every node gets: coordinator endpoint, key file, source folder */
  env: Record<string, string>;
  log: Logger;
  /** each line a node writes (pino JSON on stdout, anything on stderr) */
  onLine(node: string, line: string, stream: "stdout" | "stderr"): void;
  /** grace period between SIGTERM and SIGKILL at stop */
  stopTimeoutMs?: number;
}

interface Child {
  spec: LaunchSpec;
  proc?: ChildProcess;
  startedAt: number;
  restarts: number;
  timer?: NodeJS.Timeout;
  /** stopped on purpose by {@link Launcher.restart}: its exit is no crash, so no backoff */
  restarting?: boolean;
  /** environment for its next start only (the snapshot to restore, which is used once) */
  once?: Record<string, string>;
}

/** dist/runtime/node/main.js, from this file's dist/cli/dev/ */
export const NODE_MAIN = path.join(__dirname, "..", "..", "runtime", "node", "main.js");

/**
 * Starts the local nodes as child processes and restarts one that dies, with
 * backoff as pm2 does, so a node crash-looping on a bad entry does not spin.
 * Each child holds a pipe on its stdin: if `up` dies, however abruptly, the
 * pipe closes and the nodes exit, so nothing is left behind.
 */
export class Launcher extends EventEmitter {
  private readonly children = new Map<string, Child>();
  private stopping = false;

  constructor(private readonly opts: LauncherOptions) {
    super();
    for (const spec of opts.nodes) this.children.set(spec.name, { spec, startedAt: 0, restarts: 0 });
  }

  start(): void {
    for (const child of this.children.values()) this.launch(child);
  }

  pids(): Record<string, number | undefined> {
    return Object.fromEntries([...this.children].map(([n, c]) => [n, c.proc?.pid]));
  }

  private launch(child: Child): void {
    const { name } = child.spec;
    // DEVCLUSTER_NODE_ARGS="--inspect=0 --cpu-prof" passes flags to every node's `node` (a debugger, a profile).
    const nodeArgs = (process.env.DEVCLUSTER_NODE_ARGS ?? "").split(/\s+/).filter(Boolean);
    const proc = spawn(process.execPath, [...nodeArgs, NODE_MAIN], {
      env: { ...process.env, ...child.spec.env, ...this.opts.env, ...child.once, DEVCLUSTER_NODE: name, DEVCLUSTER_STDIN_LIFELINE: "1" },
      stdio: ["pipe", "pipe", "pipe"],
    });
    child.proc = proc;
    child.once = undefined;
    child.startedAt = Date.now();
    for (const stream of ["stdout", "stderr"] as const) {
      createInterface({ input: proc[stream]!, crlfDelay: Infinity }).on("line", (line) => this.opts.onLine(name, line, stream));
    }
    proc.on("error", (err) => this.opts.log.error({ member: name, err }, `${name}: node process error`));
    proc.on("exit", (code, signal) => {
      child.proc = undefined;
      this.emit("exit", name, code, signal);
      if (this.stopping || child.restarting) return;
      // A node that ran a while before dying starts over at the shortest delay.
      if (Date.now() - child.startedAt > 10_000) child.restarts = 0;
      const delay = Math.min(100 * 2 ** child.restarts, 5000);
      child.restarts++;
      this.opts.log.warn({ member: name, code, signal, restartInMs: delay }, `${name} exited; restarting`);
      child.timer = setTimeout(() => {
        child.timer = undefined;
        if (!this.stopping) this.launch(child);
      }, delay);
    });
    this.emit("spawn", name, proc.pid);
  }

  /** Kills one node's OS process (for tests and the shell); the restart policy brings it back. */
  kill(name: string, signal: NodeJS.Signals = "SIGKILL"): boolean {
    return this.children.get(name)?.proc?.kill(signal) ?? false;
  }

  /**
   * `devcluster restart`: stops one node (SIGTERM, SIGKILL after the grace
   * period) and starts it again at once. Not a crash: no backoff delay. The
   * new one joins and gets the current code; `once` is its environment for
   * that start (the snapshot its processes come back from).
   */
  async restart(name: string, once?: Record<string, string>): Promise<void> {
    const child = this.children.get(name);
    if (!child || this.stopping) return;
    this.startWith(name, once);
    if (child.timer) {
      clearTimeout(child.timer);
      child.timer = undefined;
    }
    const proc = child.proc;
    if (proc && proc.exitCode === null && proc.signalCode === null) {
      child.restarting = true;
      await new Promise<void>((resolve) => {
        const hard = setTimeout(() => proc.kill("SIGKILL"), this.opts.stopTimeoutMs ?? 3000);
        proc.once("exit", () => {
          clearTimeout(hard);
          resolve();
        });
        proc.kill("SIGTERM");
      });
      child.restarting = false;
    }
    if (!this.stopping) this.launch(child);
  }

  /** Environment for `name`'s next start only (`up` restoring a kept snapshot). */
  startWith(name: string, once: Record<string, string> | undefined): void {
    const child = this.children.get(name);
    if (child && once && Object.keys(once).length) child.once = once;
  }

  /** SIGTERM every node, SIGKILL what is still alive after the grace period. */
  async stop(): Promise<void> {
    this.stopping = true;
    const waits: Promise<void>[] = [];
    for (const child of this.children.values()) {
      if (child.timer) clearTimeout(child.timer);
      const proc = child.proc;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) continue;
      waits.push(
        new Promise<void>((resolve) => {
          const hard = setTimeout(() => proc.kill("SIGKILL"), this.opts.stopTimeoutMs ?? 3000);
          proc.once("exit", () => {
            clearTimeout(hard);
            resolve();
          });
          proc.kill("SIGTERM");
        }),
      );
    }
    await Promise.all(waits);
  }
}
