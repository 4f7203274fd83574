import { mkdirSync } from "node:fs";
import * as path from "node:path";
import * as readline from "node:readline";
import * as repl from "node:repl";
import { PassThrough } from "node:stream";
import { inspect } from "node:util";
import { ClusterClient, notRunning } from "../dev/client";
import { ShellContext, type Helper } from "./helpers";
import { Evaluator, describeError } from "./eval";
import { readRunning, stateDir } from "../project/stateDir";
import { SHELL_TOUCH_MS } from "../../wire/protocol";

/**
 * The client connection of a shell: re-created when the coordinator comes
 * back on a new endpoint, so a shell outlives a restarted `up`.
 */
export class Connection {
  private client?: ClusterClient;

  constructor(readonly projectDir: string) {}

  /** The current client; throws `not_running` while no cluster runs. */
  get(): ClusterClient {
    const running = readRunning(this.projectDir);
    if (!running) {
      this.drop();
      throw notRunning(this.projectDir);
    }
    if (!this.client || this.client.running.endpoint !== running.endpoint || this.client.running.pid !== running.pid) {
      this.drop();
      this.client = ClusterClient.connect(this.projectDir);
    }
    return this.client;
  }

  /** "up", "down" or "moved" since the last look, for the shell to announce. */
  watch(onChange: (what: "gone" | "back", endpoint?: string) => void, everyMs = 1000): NodeJS.Timeout {
    let last = readRunning(this.projectDir)?.endpoint;
    const timer = setInterval(() => {
      const now = readRunning(this.projectDir)?.endpoint;
      if (now === last) return;
      last = now;
      onChange(now ? "back" : "gone", now);
    }, everyMs);
    timer.unref();
    return timer;
  }

  /**
   * Resolves once no request is out: a promise a line did not await
   * (`const p = call(...)`) is still being asked of the cluster when the
   * input ends, and closing then would answer it `disconnected`. Each request
   * has its own deadline, so this wait has one too; a coordinator that goes
   * away meanwhile will answer none, and they fail at once.
   */
  async settled(): Promise<void> {
    while (this.client && this.client.waiting > 0) {
      if (readRunning(this.projectDir)?.pid !== this.client.running.pid) return this.drop();
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  drop(): void {
    this.client?.close();
    this.client = undefined;
  }
}

export { describeError } from "./eval";

function helpText(helpers: Helper[], commands: Record<string, { help?: string }>): string {
  const width = Math.max(...helpers.map((h) => h.usage.length));
  const lines = ['Helpers (a pid may be a pid, "<n1.42>" or a registered name; await works):'];
  for (const h of helpers) lines.push(`  ${h.usage.padEnd(width)}  ${h.help}\n  ${" ".repeat(width)}  e.g. ${h.example}`);
  lines.push("", "Commands:");
  for (const name of Object.keys(commands).sort()) lines.push(`  .${name.padEnd(8)} ${commands[name]?.help ?? ""}`);
  return lines.join("\n");
}

export interface ShellOptions {
  node?: string;
  input?: NodeJS.ReadableStream;
  output?: NodeJS.WritableStream;
  /** force readline's terminal mode (tab completion) on pipes */
  terminal?: boolean;
  /** where errors and notices go when the input is piped (a script): stderr */
  errors?: NodeJS.WritableStream;
}

/**
 * `devcluster shell`: a REPL attached to the running cluster. Resolves when
 * the user leaves it, with the exit code: a shell reading a pipe or a file
 * (a script) exits 1 if any line failed, a person at a terminal exits 0.
 */
export async function startShell(projectDir: string, opts: ShellOptions = {}): Promise<number> {
  const conn = new Connection(projectDir);
  const first = conn.get(); // no cluster: fail now, with the reason, rather than at the first line
  const input = opts.input ?? process.stdin;
  const output = opts.output ?? process.stdout;
  const terminal = opts.terminal ?? Boolean((output as NodeJS.WriteStream).isTTY);
  const colors = terminal && Boolean((output as NodeJS.WriteStream).isTTY);
  const piped = !(input as NodeJS.ReadStream).isTTY;
  // A script (`shell < file`, `echo ... | shell`): answers on stdout, errors on stderr, and nothing else (no banner,
  // no prompts), so its output can be read by another program.
  const quiet = piped && !terminal;
  const errors = quiet ? (opts.errors ?? process.stderr) : output;
  let failed = false;
  let evaluating = false;
  const waiting: string[] = [];

  let server!: repl.REPLServer;
  /**
   * A line that comes between answers (a trace event, a notice): in a terminal
   * it goes above the prompt, which is drawn again with what was typed so far.
   */
  const above = (text: string, stream: NodeJS.WritableStream = output): void => {
    const prompting = terminal && server !== undefined && !evaluating && waiting.length === 0;
    if (!prompting) {
      stream.write(text + "\n");
      return;
    }
    const rl = server as unknown as { prevRows?: number };
    if (rl.prevRows) readline.moveCursor(output, 0, -rl.prevRows);
    readline.cursorTo(output, 0);
    readline.clearScreenDown(output);
    stream.write(text + "\n");
    rl.prevRows = 0;
    server.displayPrompt(true);
  };
  const say = (text: string): void => above(text, errors);
  const ctx = new ShellContext(
    () => conn.get(),
    opts.node,
    (line) => above(line),
  );
  const helpers = ctx.helpers();
  const evaluator = new Evaluator(
    {
      // node:repl shows its prompt as soon as it starts: the real one comes after the banner
      prompt: "",
      input,
      output,
      terminal,
      useColors: colors,
      ignoreUndefined: true,
      // The inline preview evaluates what is typed to show a result early: here that would send requests to the cluster.
      preview: false,
      writer: (v: unknown) => inspect(v, { depth: 6, colors, breakLength: 100 }),
    },
    (err) => {
      failed = true;
      say(`error outside any line: ${describeError(err)}`);
    },
  );
  server = evaluator.server;
  // "close", not "exit": node:repl holds "exit" back while it awaits a line, also one Ctrl-C abandoned. Listened to
  // from the start: a short file on stdin is read and closed while the history is still being set up.
  const closed = new Promise<void>((resolve) => server.once("close", () => resolve()));
  // Watched from before the banner: a cluster that stops right after it is announced too.
  const toucher = setInterval(() => void ctx.touch().catch(() => undefined), SHELL_TOUCH_MS);
  toucher.unref();
  const watcher = conn.watch((what, endpoint) =>
    say(
      what === "gone"
        ? `the coordinator went away (no cluster running in ${projectDir}); waiting for \`devcluster up\`...`
        : `reconnected: the cluster is back at ${endpoint}`,
    ),
  );
  // The banner is printed once the terminal is set up (raw mode), and before the first prompt.
  if (!quiet) {
    output.write(
      `attached to cluster ${first.running.cluster} at ${first.running.endpoint}${opts.node ? ` (default node ${opts.node})` : ""}. Type .help for helpers, .exit to leave.\n`,
    );
    server.setPrompt(`${first.running.cluster}> `);
  } else {
    // node:repl prompts after every answer, and with "... " inside an unfinished statement: a script's reader wants neither.
    server.displayPrompt = (): void => {
      server.resume();
    };
  }
  // .clear gives a fresh context: the helpers are put back, only the user's variables go.
  const scope = ctx.scope();
  Object.assign(server.context, scope);
  server.on("reset", (context: object) => Object.assign(context, scope));
  const onRejection = (err: unknown): void => {
    failed = true;
    say(`unhandled rejection: ${describeError(err)}`);
  };
  process.on("unhandledRejection", onRejection);

  // Lines run one after another, also when pasted or piped in faster than they finish: node:repl
  // handles a line as soon as it is read, so lines wait here until the one before has its answer.
  const handleLine = server.listeners("line") as ((line: string) => void)[];
  server.removeAllListeners("line");
  let drained: (() => void) | undefined;
  const pump = (): void => {
    while (!evaluating && waiting.length > 0) {
      const line = waiting.shift()!;
      for (const f of handleLine) f.call(server, line);
    }
    if (!evaluating && waiting.length === 0) drained?.();
  };
  server.on("line", (line: string) => {
    waiting.push(line);
    pump();
  });

  // A returned Promise is awaited before printing, and an error is an answer, never the end of the shell.
  (server as { eval: repl.REPLEval }).eval = ((cmd: string, _context: object, file: string, cb: (err: Error | null, result?: unknown) => void) => {
    evaluating = true;
    void evaluator.run(cmd, file).then((o) => {
      evaluating = false;
      switch (o.kind) {
        case "incomplete":
          cb(o.error);
          break;
        case "value":
          cb(null, o.value);
          break;
        case "error":
          failed = true;
          errors.write(`${describeError(o.error)}\n`);
          cb(null);
          break;
        case "interrupted":
          failed = true;
          errors.write("interrupted: the line was abandoned (what it asked of the cluster may still happen)\n");
          cb(null);
          break;
      }
      pump();
    });
  }) as repl.REPLEval;
  // A shell reading a pipe gets Ctrl-C as a signal: it abandons the running line; with none, the shell ends as usual.
  const onSigint = (): void => {
    if (!evaluator.interrupt()) process.exit(130);
  };
  if (!terminal) process.on("SIGINT", onSigint);

  server.defineCommand("help", {
    help: "List the helpers with an example each, and these commands",
    action() {
      output.write(helpText(helpers, server.commands as Record<string, { help?: string }>) + "\n");
      this.displayPrompt();
    },
  });

  // Tab completes helper names, and inside a string: node names, registered names, module names.
  const baseCompleter = server.completer.bind(server) as (line: string, cb: (err: Error | null, r: [string[], string]) => void) => void;
  (server as unknown as { completer: typeof baseCompleter }).completer = (line, cb) => {
    const str = /(["'`])([^"'`]*)$/.exec(line);
    if (str) {
      const prefix = str[2]!;
      ctx.completions().then(
        ({ nodes, names, modules }) => cb(null, [[...new Set([...nodes, ...names, ...modules])].filter((c) => c.startsWith(prefix)), prefix]),
        () => cb(null, [[], prefix]),
      );
      return;
    }
    const word = /(^|[^.\w$])([A-Za-z_$][\w$]*)$/.exec(line);
    const hits = word ? helpers.map((h) => h.name).filter((n) => n.startsWith(word[2]!)) : [];
    if (word && hits.length) return cb(null, [hits, word[2]!]);
    baseCompleter(line, cb);
  };

  mkdirSync(stateDir(projectDir), { recursive: true, mode: 0o700 });
  await new Promise<void>((resolve) =>
    server.setupHistory(path.join(stateDir(projectDir), "shell_history"), (err) => {
      if (err) errors.write(`(history not saved: ${err.message})\n`);
      resolve();
    }),
  );

  server.displayPrompt();

  await closed;
  // Input that ended (a pipe, Ctrl-D after a paste) still gets its answers.
  if (evaluating || waiting.length > 0) await new Promise<void>((resolve) => (drained = resolve));
  await conn.settled();
  // what those requests' promises do with their answers (an unhandled rejection is reported) comes before the end
  await new Promise((resolve) => setImmediate(resolve));
  clearInterval(watcher);
  clearInterval(toucher);
  process.off("unhandledRejection", onRejection);
  process.off("SIGINT", onSigint);
  try {
    await ctx.close();
  } finally {
    conn.drop();
  }
  return piped && failed ? 1 : 0;
}

/**
 * `devcluster shell --eval`: one expression (or statements), evaluated as a
 * line of the interactive shell is, in the same kind of context (helpers,
 * Node's globals, require): its value on stdout, or its error on stderr and
 * exit code 1.
 */
export async function evalOnce(projectDir: string, code: string, opts: { json?: boolean; node?: string; render: (value: unknown) => string }): Promise<number> {
  const conn = new Connection(projectDir);
  const ctx = new ShellContext(() => conn.get(), opts.node);
  // A REPL that reads nothing: the context and the evaluation are the interactive shell's; console.log goes to stdout.
  const input = new PassThrough();
  let background: unknown;
  const evaluator = new Evaluator(
    { prompt: "", input, output: process.stdout, terminal: false, ignoreUndefined: true, preview: false },
    (err) => (background ??= err),
  );
  Object.assign(evaluator.server.context, ctx.scope());
  try {
    conn.get();
    const o = await evaluator.run(code + "\n", "eval");
    if (o.kind === "value") {
      process.stdout.write(opts.render(o.value) + "\n");
      return 0;
    }
    const err = o.kind === "incomplete" ? o.error.err : o.kind === "error" ? o.error : new Error("interrupted");
    process.stderr.write(describeError(err) + "\n");
    return 1;
  } catch (err) {
    process.stderr.write(describeError(err) + "\n");
    return 1;
  } finally {
    evaluator.server.close();
    input.end();
    await ctx.close();
    conn.drop();
  }
}
