import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { CLI, makeProject, startCluster, type Project } from "./cluster";
import type { DevServer } from "../../cli/dev/devServer";
import { shellProject } from "./shellFixtures";

/**
 * A person at `devcluster shell`: types lines into its stdin and reads what
 * it prints. `expect` waits (with a deadline) for text printed since the last
 * expectation, so each check sees only the answer to what was just typed.
 */
export class ShellDriver {
  readonly child: ChildProcess;
  /** reading a pipe, as a script does: no banner, no prompts, errors on stderr */
  readonly piped: boolean;
  private out = "";
  private err = "";
  private mark = 0;
  private waiters: (() => void)[] = [];

  /** `command` lets a test run the shell under `script` for a real terminal. */
  constructor(cwd: string, args: string[] = [], command?: { file: string; args: string[]; stdin?: number }) {
    this.piped = command?.file !== "script";
    const file = command?.file ?? process.execPath;
    const argv = command?.args ?? [CLI, "shell", ...args];
    this.child = spawn(file, argv, { cwd, stdio: [command?.stdin ?? "pipe", "pipe", "pipe"], env: { ...process.env, NO_COLOR: "1" } });
    const take = (d: Buffer): void => {
      // A terminal session redraws with escape sequences; what a person reads is the text.
      this.out += d
        .toString()
        .replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "")
        .replace(/\r/g, "");
      for (const w of this.waiters.splice(0)) w();
    };
    this.child.stdout!.on("data", take);
    this.child.stderr!.on("data", (d: Buffer) => {
      this.err += d.toString();
      take(d);
    });
  }

  /** The shell in a real terminal: `script` gives it a pty (its exit code is the shell's). */
  static inTerminal(cwd: string, args: string[] = []): ShellDriver {
    return new ShellDriver(cwd, args, { file: "script", args: ["-qfec", [process.execPath, CLI, "shell", ...args].join(" "), "/dev/null"] });
  }

  /** The exit code, once the shell has ended by itself (a deadline, not a sleep). */
  async exitCode(timeoutMs = 15_000): Promise<number | null> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return this.child.exitCode;
    const timer = setTimeout(() => this.child.kill("SIGKILL"), timeoutMs);
    const [code] = (await once(this.child, "exit")) as [number | null];
    clearTimeout(timer);
    if (code === null) throw new Error(`the shell did not exit within ${timeoutMs} ms; it printed:\n${this.out}`);
    return code;
  }

  /** stdout and stderr, in the order they came */
  get output(): string {
    return this.out;
  }

  /** stderr alone */
  get errors(): string {
    return this.err;
  }

  /**
   * Once the shell is attached: its banner in a terminal; piped, where the
   * shell prints none, the answer to a line typed to find out.
   */
  async ready(): Promise<void> {
    if (!this.piped) {
      await this.expect(/attached to cluster \w+/);
      return;
    }
    this.line('"attached"');
    await this.expect(/'attached'\n/);
  }

  type(text: string): void {
    this.child.stdin!.write(text);
  }

  line(text: string): void {
    this.type(text + "\n");
  }

  async expect(re: RegExp, timeoutMs = 15_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const fresh = this.out.slice(this.mark);
      const m = re.exec(fresh);
      if (m) {
        this.mark += m.index + m[0].length;
        return m[0];
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`the shell did not print ${re} within ${timeoutMs} ms; it printed:\n${fresh}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /**
   * Presses Tab until `re` shows: readline lists candidates on a Tab that
   * follows a Tab, and the first one's (asynchronous) completion shows nothing
   * when the candidates share no longer prefix, so there is nothing to wait on
   * between the two but the listing itself.
   */
  async tabUntil(re: RegExp, timeoutMs = 10_000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.type("\t");
      try {
        return await this.expect(re, Math.min(500, Math.max(1, deadline - Date.now())));
      } catch (err) {
        if (Date.now() >= deadline) throw err;
      }
    }
  }

  async close(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = once(this.child, "exit");
    this.child.stdin?.end();
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** Polls `check` until it holds, failing with `what` after the deadline (for states no event announces). */
export async function waitUntil(check: () => Promise<boolean>, what: string, timeoutMs = 10_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Messages handled so far by the process registered as `name` on `node`. */
export async function handledBy(server: DevServer, node: string, name: string): Promise<number> {
  const ps = (await server.coordinator.nodeRequest(node, { op: "ps" })) as { names: string[]; handled: number }[];
  return ps.find((p) => p.names.includes(name))?.handled ?? 0;
}

/**
 * A one-node cluster of the shell fixture with a shell attached, for tests
 * that stop or restart the cluster itself; everything is stopped and removed
 * afterwards, also when the test fails. A test that starts a new cluster puts
 * it in `ctx.server` so it is closed too.
 */
export async function withShellCluster(fn: (ctx: { project: Project; server: DevServer; sh: ShellDriver }) => Promise<void>): Promise<void> {
  const project = makeProject(shellProject(), { nodes: 1 });
  const ctx = { project } as { project: Project; server: DevServer; sh: ShellDriver };
  try {
    ({ server: ctx.server } = await startCluster(project));
    ctx.sh = new ShellDriver(project.dir);
    await ctx.sh.ready();
    await fn(ctx);
  } finally {
    await ctx.sh?.close();
    await ctx.server?.close();
    project.cleanup();
  }
}
