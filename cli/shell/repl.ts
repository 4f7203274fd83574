import { mkdirSync } from "node:fs";
import * as path from "node:path";
import * as repl from "node:repl";
import { inspect } from "node:util";
import { ClusterClient, notRunning } from "../dev/client";
import { ShellContext, type Helper } from "./helpers";
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

  drop(): void {
    this.client?.close();
    this.client = undefined;
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && typeof v === "object" && typeof (v as { then?: unknown }).then === "function";
}

/** An error from what the user typed reads like an answer: its code and message, no stack. */
export function describeError(err: unknown): string {
  const e = err as Error & { code?: unknown };
  if (e && typeof e === "object" && typeof e.code === "string") return `${e.code}: ${e.message}`;
  if (e instanceof Error) return `${e.name}: ${e.message}`;
  return `thrown: ${inspect(err)}`;
}

function helpText(helpers: Helper[], commands: Record<string, { help?: string }>): string {
  const width = Math.max(...helpers.map((h) => h.usage.length));
  const lines = ["Helpers (a pid may be a pid, \"<n1.42>\" or a registered name; await works):"];
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
}

/** `devcluster shell`: a REPL attached to the running cluster. Resolves when the user leaves it. */
export async function startShell(projectDir: string, opts: ShellOptions = {}): Promise<void> {
  const conn = new Connection(projectDir);
  const first = conn.get(); // no cluster: fail now, with the reason, rather than at the first line
  const ctx = new ShellContext(() => conn.get(), opts.node);
  const helpers = ctx.helpers();
  const output = opts.output ?? process.stdout;
  const terminal = opts.terminal ?? Boolean((output as NodeJS.WriteStream).isTTY);
  const colors = terminal && Boolean((output as NodeJS.WriteStream).isTTY);

  const server = repl.start({
    prompt: `${first.running.cluster}> `,
    input: opts.input ?? process.stdin,
    output,
    terminal,
    useColors: colors,
    ignoreUndefined: true,
    // The inline preview evaluates what is typed to show a result early: here that would send requests to the cluster.
    preview: false,
    writer: (v: unknown) => inspect(v, { depth: 6, colors, breakLength: 100 }),
  });
  Object.assign(server.context, ctx.scope());

  const say = (text: string): void => {
    output.write(`\n${text}\n`);
    server.displayPrompt(true);
  };

  // A returned Promise is awaited before printing, and an error is an answer, never the end of the shell.
  // Lines run one after another, also when pasted or piped in faster than they finish.
  const baseEval = server.eval;
  let queue: Promise<void> = Promise.resolve();
  (server as { eval: repl.REPLEval }).eval = ((cmd: string, context: object, file: string, cb: (err: Error | null, result?: unknown) => void) => {
    queue = queue.then(
      () =>
        new Promise<void>((done) => {
          const finish = (err: Error | null, result?: unknown): void => {
            done();
            cb(err, result);
          };
          const answer = (e: unknown): void => {
            if (e instanceof repl.Recoverable) return finish(e);
            output.write(`${describeError(e)}\n`);
            finish(null);
          };
          try {
            baseEval.call(server, cmd, context, file, (err: Error | null, result?: unknown) => {
              if (err) return answer(err);
              if (isThenable(result)) return void Promise.resolve(result).then((v) => finish(null, v), answer);
              finish(null, result);
            });
          } catch (err) {
            answer(err);
          }
        }),
    );
  }) as repl.REPLEval;

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
      if (err) output.write(`(history not saved: ${err.message})\n`);
      resolve();
    }),
  );

  const toucher = setInterval(() => void ctx.touch().catch(() => undefined), SHELL_TOUCH_MS);
  toucher.unref();
  const watcher = conn.watch((what, endpoint) =>
    say(what === "gone" ? `the coordinator went away (no cluster running in ${projectDir}); waiting for \`devcluster up\`...` : `reconnected: the cluster is back at ${endpoint}`),
  );

  output.write(`attached to cluster ${first.running.cluster} at ${first.running.endpoint}${opts.node ? ` (default node ${opts.node})` : ""}. Type .help for helpers, .exit to leave.\n`);
  server.displayPrompt();

  await new Promise<void>((resolve) => server.once("exit", () => resolve()));
  // Input that ended (a pipe, Ctrl-D after a paste) still gets its answers.
  for (let last: Promise<void> | undefined; last !== queue; ) await (last = queue);
  clearInterval(watcher);
  clearInterval(toucher);
  try {
    await ctx.close();
  } finally {
    conn.drop();
  }
}
