import * as domain from "node:domain";
import * as repl from "node:repl";
import { inspect } from "node:util";

/** How one line (or one --eval expression) ended. Every line ends exactly once. */
export type Outcome =
  | { kind: "value"; value: unknown }
  | { kind: "error"; error: unknown }
  /** Ctrl-C abandoned it; what it asked the cluster may still happen */
  | { kind: "interrupted" }
  /** the text is not complete yet (an open brace): the REPL asks for more */
  | { kind: "incomplete"; error: repl.Recoverable };

interface Running {
  settle(o: Outcome): void;
  /** node:repl itself awaits this line (top-level await): only its own interrupt lets go of it */
  replAwaits: boolean;
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === "object" && typeof (v as { then?: unknown }).then === "function";
}

const INTERRUPTED = "ERR_SCRIPT_EXECUTION_INTERRUPTED";

/**
 * A node:repl server whose evaluation always completes.
 *
 * node:repl's own eval is kept: it is what gives top-level await with
 * declarations that persist across lines (`const pid = await spawn(...)`),
 * object literals, and multi-line input; without a JavaScript parser among our
 * dependencies a rewrite of that would be a worse, different REPL. Its one
 * flaw for us is where errors go: a line that throws, or whose await rejects,
 * is handed to the REPL's domain ('error') and its callback is never called.
 * So the shell owns that domain: its error handler is the end of the line
 * that is running (lines run one at a time, so there is exactly one), and
 * errors that the domain catches from earlier lines' callbacks (a timer that
 * throws: `domainThrown`) are reported as such and end nothing.
 */
export class Evaluator {
  readonly server: repl.REPLServer;
  private readonly baseEval: repl.REPLEval;
  private readonly replSigint?: (...args: unknown[]) => void;
  private current?: Running;
  /** interrupts asked of node:repl for lines already abandoned here: their errors are expected and dropped */
  private staleInterrupts = 0;

  constructor(
    options: repl.ReplOptions,
    private readonly onBackgroundError: (err: unknown) => void,
  ) {
    const dom = domain.create();
    // breakEvalOnSigint: in a terminal, while node:repl awaits a line it holds back every key but Ctrl-C, and only this
    // lets Ctrl-C through. Without a terminal Ctrl-C is a signal, and the SIGINT watchdog this option starts for each
    // line would put back Node's default handler (the end of the process): there it stays off.
    this.server = repl.start({ ...options, breakEvalOnSigint: options.terminal === true, domain: dom } as repl.ReplOptions);
    if ((this.server as unknown as { _domain?: unknown })._domain !== dom) throw new Error("node:repl did not take the shell's domain");
    dom.removeAllListeners("error");
    dom.on("error", (err: unknown) => this.onDomainError(err));
    this.baseEval = this.server.eval;
    // Ctrl-C is ours: a pending line is abandoned; at an idle prompt node:repl does what it always does.
    this.replSigint = this.server.listeners("SIGINT")[0] as ((...args: unknown[]) => void) | undefined;
    this.server.removeAllListeners("SIGINT");
    this.server.on("SIGINT", () => {
      if (!this.interrupt()) this.replSigint?.call(this.server);
    });
  }

  /** Whether a line is running. */
  get busy(): boolean {
    return this.current !== undefined;
  }

  /** Evaluates `code` in the REPL's context; a returned promise is awaited. */
  run(code: string, file = "shell"): Promise<Outcome> {
    if (this.current) return Promise.resolve({ kind: "error", error: new Error("internal: a line is already running") });
    return new Promise<Outcome>((resolve) => {
      let settled = false;
      let answered = false;
      const line: Running = {
        replAwaits: false,
        settle: (o) => {
          if (settled) return;
          settled = true;
          if (this.current === line) this.current = undefined;
          resolve(o);
        },
      };
      this.current = line;
      try {
        this.baseEval.call(this.server, code, this.server.context, file, (err: Error | null, result?: unknown) => {
          answered = true;
          if (err instanceof repl.Recoverable) return line.settle({ kind: "incomplete", error: err });
          if (err) return line.settle({ kind: "error", error: err });
          if (isThenable(result)) {
            Promise.resolve(result).then(
              (value) => line.settle({ kind: "value", value }),
              (error: unknown) => line.settle({ kind: "error", error }),
            );
            return;
          }
          line.settle({ kind: "value", value: result });
        });
      } catch (error) {
        line.settle({ kind: "error", error });
      }
      if (!answered && !settled) line.replAwaits = true;
    });
  }

  /** Abandons the running line, if there is one (Ctrl-C). */
  interrupt(): boolean {
    const line = this.current;
    if (!line) return false;
    if (line.replAwaits && this.replSigint) {
      // node:repl rejects its await with ERR_SCRIPT_EXECUTION_INTERRUPTED and takes keys again; that error belongs to no line now.
      this.staleInterrupts++;
      this.replSigint.call(this.server);
    }
    line.settle({ kind: "interrupted" });
    return true;
  }

  private onDomainError(err: unknown): void {
    const e = err as { domainThrown?: boolean; domain?: unknown; code?: unknown } | null;
    if (e && typeof e === "object" && e.code === INTERRUPTED && this.staleInterrupts > 0) {
      this.staleInterrupts--;
      return;
    }
    if (e && typeof e === "object" && e.domainThrown) {
      delete e.domain;
      delete e.domainThrown;
      return this.onBackgroundError(err);
    }
    if (!this.current) return this.onBackgroundError(err);
    this.current.settle({ kind: "error", error: err });
  }
}

/** An error reads like an Erlang shell's answer: `code: message` (or `Name: message`), then the user's own .ts frames. */
export function describeError(err: unknown): string {
  const e = err as { code?: unknown; message?: unknown; name?: unknown; stack?: unknown } | null;
  let head: string;
  if (e && typeof e === "object" && typeof e.code === "string" && e.code !== "error") head = `${e.code}: ${e.message}`;
  else if (e && typeof e === "object" && typeof e.message === "string" && typeof e.name === "string") {
    // code "error" is what a node reports for a user's error that had no code of its own
    head = `${typeof e.code === "string" ? "Error" : e.name}: ${e.message}`;
  } else return `thrown: ${inspect(err)}`;
  return [head, ...userFrames(typeof e.stack === "string" ? e.stack : "")].join("\n");
}

/**
 * The frames of a stack that point at the project's own TypeScript: a node
 * reports a user's error with source-mapped frames. Node internals, compiled
 * .js (devcluster's dist/ runtime, node_modules) and the REPL's own frames
 * say nothing about the user's code and are left out.
 */
export function userFrames(stack: string): string[] {
  return stack
    .split("\n")
    .filter((l) => /^\s+at\s/.test(l))
    .filter((l) => /\.tsx?:\d+(:\d+)?\)?\s*$/.test(l) && !/\bnode:|[/\\](dist|node_modules)[/\\]/.test(l))
    .map((l) => `    ${l.trim()}`);
}
