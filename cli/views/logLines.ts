import { prettyFactory } from "pino-pretty";
import { inspect } from "node:util";
import { isUserFrame } from "../../runtime/process/reasons";

/**
 * One line of a node's log (or the coordinator's, as node "up"), as `up`
 * keeps it: a pino record, or a line the node's user code wrote to stdout or
 * stderr wrapped in one (`stream` says which), so every line has a node, a
 * level and a time.
 */
export interface LogRecord {
  node: string;
  level: number;
  time: number;
  msg: string;
  /** set on lines user code printed (console.log, process.stdout.write) */
  stream?: "stdout" | "stderr";
  [key: string]: unknown;
}

export const LEVELS: Record<string, number> = { trace: 10, debug: 20, info: 30, warn: 40, error: 50, fatal: 60 };

const COLOURS = [36, 35, 33, 32, 34, 91, 96, 95, 93, 92, 94];

interface LoggedError {
  type?: string;
  code?: string;
  message: string;
  stack?: string;
  source?: string;
}

function loggedError(v: unknown): LoggedError | undefined {
  return v !== null && typeof v === "object" && typeof (v as { message?: unknown }).message === "string" ? (v as LoggedError) : undefined;
}

/** `file.ts:4:34` of a frame, to tell whether the message already names where it happened. */
function location(frame: string): string | undefined {
  const m = /([^/\\(]+):(\d+):(\d+)\)?$/.exec(frame.trim());
  return m ? `${m[1]}:${m[2]}:${m[3]}` : undefined;
}

/**
 * Log records as people read them, one prefix and colour per node. An error
 * is `msg: code: message` on the record's line; beneath it only the user's
 * frames and the source line of the first, and nothing when the message
 * already says where it happened (a load error is one line per node).
 */
export class LogFormatter {
  private readonly pretty: (obj: object) => string;
  private readonly colourOf = new Map<string, number>();
  private readonly width: number;

  constructor(
    names: string[],
    private readonly colour = false,
  ) {
    this.pretty = prettyFactory({ colorize: colour, ignore: "pid,hostname,node,stream", translateTime: "HH:MM:ss.l", singleLine: true });
    names.forEach((n, i) => this.colourOf.set(n, COLOURS[i % COLOURS.length]!));
    this.width = Math.max(...names.map((n) => n.length), 5);
  }

  prefix(node: string): string {
    const label = node.padEnd(this.width);
    if (!this.colour) return `${label} | `;
    const c = this.colourOf.get(node) ?? 37;
    return `\u001b[${c}m${label}\u001b[0m | `;
  }

  /** The record's text, every line of it prefixed with its node. */
  format(rec: LogRecord): string {
    const prefix = this.prefix(rec.node);
    return this.lines(rec)
      .map((l) => prefix + l)
      .join("\n");
  }

  private lines(rec: LogRecord): string[] {
    // What user code printed reads as it printed it.
    if (rec.stream) return [rec.msg];
    const { err: rawErr, ...rest } = rec;
    const err = loggedError(rawErr);
    const extra: string[] = [];
    let obj: Record<string, unknown> = err ? rest : rec;
    // up's own lines below warn, and at any level the reports of a save or reload in words (a transaction's line, with
    // `source` and `ok` among its fields: cli/dev/transactionLog.ts; a compile error's, with `held`), are sentences
    // written for people ("n2 joined"): their fields hold the same facts for tools (--log-format json, logs --json),
    // and printed beside them only repeated the line (issue 22). up's other warnings and errors ("send failed" to n3)
    // keep theirs.
    const sentence = rec.level < LEVELS.warn! || ("source" in rec && "ok" in rec) || "held" in rec;
    if (rec.node === "up" && sentence && !err) obj = { level: rec.level, time: rec.time, msg: rec.msg };
    if (err) {
      const label = err.code ?? err.type ?? "Error";
      if (!String(rest.msg).includes(err.message)) obj.msg = `${rest.msg}: ${label}: ${err.message}`;
      const frames = (err.stack ?? "").split("\n").filter((l) => /^\s+at /.test(l) && isUserFrame(l));
      const named = frames.some((f) => {
        const at = location(f);
        return at !== undefined && `${String(obj.msg)} ${err.message}`.includes(at);
      });
      if (!named) extra.push(...frames.map((f) => "    " + f.trim()), ...(err.source ? err.source.split("\n") : []));
    }
    const text = this.pretty(obj).replace(/\n$/, "");
    return [...text.split("\n"), ...extra];
  }
}

/** What the shell's logs() returns: the lines as `up` shows them, or the records with --json. */
export class LogLines {
  constructor(
    readonly records: LogRecord[],
    readonly names: string[],
  ) {}
  [inspect.custom](_depth: number, options: { colors?: boolean }): string {
    if (this.records.length === 0) return "(no log lines)";
    const f = new LogFormatter(this.names, Boolean(options.colors));
    return this.records.map((r) => f.format(r)).join("\n");
  }
  toJSON(): unknown {
    return this.records;
  }
}
