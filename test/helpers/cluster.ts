import { after, before } from "node:test";
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { once, type EventEmitter } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { Writable } from "node:stream";
import { DevServer, type SaveReport } from "../../cli/dev/devServer";

export const CLI = path.join(__dirname, "..", "..", "cli", "main.js");

/** A throwaway project folder; removed by `cleanup` (call it from `after`). */
export interface Project {
  dir: string;
  configPath: string;
  write(rel: string, text: string): void;
  cleanup(): void;
}

export function makeProject(files: Record<string, string>, config: Record<string, unknown> = {}): Project {
  const dir = mkdtempSync(path.join(tmpdir(), "devcluster-test-"));
  const write = (rel: string, text: string): void => {
    const file = path.join(dir, rel);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
  };
  write("cluster.config.json", JSON.stringify({ name: "test", src: "src", entry: "app", nodes: 2, ...config }, null, 2));
  for (const [rel, text] of Object.entries(files)) write(rel, text);
  return { dir, configPath: path.join(dir, "cluster.config.json"), write, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Collects NDJSON log lines and lets a test wait for one. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  private waiters: { re: RegExp; resolve(line: string): void }[] = [];
  private partial = "";

  override _write(chunk: Buffer, _enc: string, cb: () => void): void {
    const text = this.partial + chunk.toString();
    const parts = text.split("\n");
    this.partial = parts.pop() ?? "";
    for (const line of parts) {
      this.lines.push(line);
      if (process.env.TEST_LOGS) require("node:fs").appendFileSync(process.env.TEST_LOGS, line + "\n");
      this.waiters = this.waiters.filter((w) => (w.re.test(line) ? (w.resolve(line), false) : true));
    }
    cb();
  }

  /** The first line (already seen or still to come) matching `re`. */
  waitFor(re: RegExp, timeoutMs = 15_000): Promise<string> {
    const seen = this.lines.find((l) => re.test(l));
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no log line matching ${re} within ${timeoutMs} ms; last lines:\n${this.lines.slice(-15).join("\n")}`)),
        timeoutMs,
      );
      this.waiters.push({ re, resolve: (l) => (clearTimeout(timer), resolve(l)) });
    });
  }
}

/** Starts `up` in this process (real node processes, real ZeroMQ) and waits until every node ran its entry. */
export async function startCluster(project: Project, opts: { quietMs?: number } = {}): Promise<{ server: DevServer; logs: LogCapture }> {
  const logs = new LogCapture();
  const server = await DevServer.start({ configPath: project.configPath, logFormat: "json", out: logs, quietMs: opts.quietMs });
  try {
    await server.ready(30_000);
  } catch (err) {
    await server.close();
    throw new Error(`${(err as Error).message}; logs:\n${logs.lines.slice(-30).join("\n")}`);
  }
  return { server, logs };
}

/** The next event whose payload passes `pred`, or a rejection after the deadline. */
export function nextEvent<T>(emitter: EventEmitter, event: string, pred: (v: T) => boolean = () => true, timeoutMs = 15_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no ${event} event within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (v: T): void => {
      if (!pred(v)) return;
      clearTimeout(timer);
      emitter.off(event, on);
      resolve(v);
    };
    emitter.on(event, on);
  });
}

export function nextSave(server: DevServer, timeoutMs = 15_000): Promise<SaveReport> {
  return nextEvent<SaveReport>(server, "saved", () => true, timeoutMs);
}

/** Runs the devcluster CLI as a user would, in `cwd`. */
export function cli(args: string[], cwd: string, timeoutMs = 30_000): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, timeout: timeoutMs }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === "number" ? (err as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** `devcluster up` as a child process, with its output collected. */
/** SIGTERM, and SIGKILL if it has not exited after `graceMs`; resolves once it has exited. */
export async function stopChild(child: ChildProcess, graceMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, "exit");
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}

export function cliUp(cwd: string, args: string[] = []): { child: ChildProcess; logs: LogCapture; stop(): Promise<void> } {
  const logs = new LogCapture();
  const child = spawn(process.execPath, [CLI, "up", "--log-format", "json", ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout!.pipe(logs);
  child.stderr!.on("data", (d: Buffer) => logs.write(d));
  return {
    child,
    logs,
    stop: () => stopChild(child, 10_000),
  };
}

/** Whether an OS process is still alive (signal 0). */
export function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * A real `devcluster up --log-format json` child on a throwaway project for a describe block, started in
 * `before` and stopped (with the project removed) in `after`. The returned object is filled in by `before`.
 */
export function cliClusterPerSuite(
  files: () => Record<string, string>,
  config: Record<string, unknown> = { nodes: 2 },
): { project: Project; up: ReturnType<typeof cliUp> } {
  const ctx = {} as { project: Project; up: ReturnType<typeof cliUp> };
  before(async () => {
    ctx.project = makeProject(files(), config);
    ctx.up = cliUp(ctx.project.dir);
    await ctx.up.logs.waitFor(/cluster test ready/, 30_000);
  });
  after(async () => {
    await ctx.up?.stop();
    ctx.project?.cleanup();
  });
  return ctx;
}
