import { spawn, type ChildProcess } from "node:child_process";
import { EventEmitter } from "node:events";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { ClusterError } from "../../wire/errors";

/** One error tsc found, located as editors read it. */
export interface TypeDiagnostic {
  /** relative to the project folder, as tsc prints it */
  file: string;
  line: number;
  column: number;
  /** TS2322 */
  code: string;
  text: string;
}

/** `src/a.ts:3:7 error TS2322: Type 'string' is not assignable to type 'number'.` */
export const formatTypeDiagnostic = (d: TypeDiagnostic): string => `${d.file}:${d.line}:${d.column} error ${d.code}: ${d.text}`;

const ERROR_LINE = /^(.+?)\((\d+),(\d+)\): error (TS\d+): (.*)$/;
const CYCLE_START = /(Starting compilation in watch mode|File change detected\. Starting incremental compilation)/;
const CYCLE_END = /Found (\d+) errors?\b.*Watching for file changes/;

/** tsc of the project's own typescript (its node_modules), as `npx tsc` would run it. */
export function projectTsc(projectDir: string): string {
  try {
    return require.resolve("typescript/lib/tsc.js", { paths: [projectDir] });
  } catch {
    throw new ClusterError("badarg", `--typecheck runs the project's TypeScript, and ${projectDir} has none: npm install --save-dev typescript@5`);
  }
}

/**
 * `up --typecheck`: the project's `tsc --noEmit --watch` in a child process,
 * beside the watcher and never on the reload path (esbuild does not check
 * types; tsc's incremental watch re-checks only what a save affects). Each
 * finished check is a "checked" event with its errors. `settled(t)` is for
 * `--typecheck=strict`: the errors of the first check that began after a save.
 */
export class TypeChecker extends EventEmitter {
  private child?: ChildProcess;
  private current: TypeDiagnostic[] = [];
  private last: TypeDiagnostic[] | undefined;
  private checking = false;
  private cycleStartedAt = -Infinity;
  private closed = false;

  constructor(private readonly projectDir: string) {
    super();
  }

  start(): void {
    const tsc = projectTsc(this.projectDir);
    const child = spawn(process.execPath, [tsc, "--noEmit", "--watch", "--preserveWatchOutput", "--pretty", "false", "-p", this.projectDir], {
      cwd: this.projectDir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    this.child = child;
    createInterface({ input: child.stdout!, crlfDelay: Infinity }).on("line", (line) => this.line(line));
    createInterface({ input: child.stderr!, crlfDelay: Infinity }).on("line", (line) => this.emit("output", line));
    child.on("exit", (code, signal) => {
      if (!this.closed) this.emit("exit", code, signal);
    });
  }

  /** The errors of the last finished check (none before the first). */
  errors(): TypeDiagnostic[] {
    return this.last ?? [];
  }

  private line(line: string): void {
    if (CYCLE_START.test(line)) {
      this.checking = true;
      this.current = [];
      this.cycleStartedAt = performance.now();
      this.emit("checking");
      return;
    }
    const err = ERROR_LINE.exec(line);
    if (err) {
      this.current.push({ file: err[1]!, line: Number(err[2]), column: Number(err[3]), code: err[4]!, text: err[5]! });
      return;
    }
    if (CYCLE_END.test(line)) {
      this.checking = false;
      this.last = this.current;
      this.emit("checked", this.last);
      return;
    }
    // A message chain's further lines are indented under its error.
    const prev = this.current[this.current.length - 1];
    if (prev && /^\s+\S/.test(line)) prev.text += ` ${line.trim()}`;
    else if (line.trim() && !/^\s*$/.test(line)) this.emit("output", line);
  }

  /**
   * The errors of the project once tsc has seen a save made at `since`
   * (`performance.now()`): after the first check that began after it, or, when
   * none begins within `graceMs` (tsc saw the change before our watcher did, or
   * the file is not in its program), after the check under way.
   */
  settled(since: number, graceMs = 1500): Promise<TypeDiagnostic[]> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(grace);
        this.off("checked", onChecked);
        this.off("exit", done);
        resolve(this.errors());
      };
      const onChecked = (): void => {
        if (this.cycleStartedAt >= since || graceOver) done();
      };
      let graceOver = false;
      const grace = setTimeout(() => {
        graceOver = true;
        if (!this.checking && this.last) done();
      }, graceMs);
      if (this.last && !this.checking && this.cycleStartedAt >= since) return done();
      this.on("checked", onChecked);
      this.once("exit", done);
    });
  }

  close(): void {
    this.closed = true;
    this.child?.kill();
  }
}
