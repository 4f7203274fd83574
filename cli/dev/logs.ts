import { EventEmitter } from "node:events";
import { chmodSync, createWriteStream, type WriteStream } from "node:fs";
import * as path from "node:path";
import pino from "pino";
import type { Logger } from "../../wire/log";
import { ClusterError } from "../../wire/errors";
import { createOwned, ensureOwnedDir } from "../../wire/ownedFiles";
import { LEVELS, LogFormatter, type LogRecord } from "../views/logLines";

export type LogFormat = "pretty" | "json";
export type { LogRecord } from "../views/logLines";

/**
 * A line a node wrote, as a record: its own pino lines as they are, anything
 * else (console.log, a stray write, Node's own messages on stderr) wrapped
 * with the node's name, so `--log-format json` is JSON on every line.
 */
export function toRecord(node: string, line: string, stream: "stdout" | "stderr" = "stdout"): LogRecord {
  if (line.startsWith("{")) {
    try {
      const obj = JSON.parse(line) as Partial<LogRecord>;
      // A user's own JSON line is output like any other: only a pino line of this node is a log record.
      if (obj && typeof obj.level === "number" && typeof obj.time === "number" && obj.node === node) return obj as LogRecord;
    } catch {
      // not JSON after all: user output
    }
  }
  return { level: stream === "stderr" ? LEVELS.warn! : LEVELS.info!, time: Date.now(), node, stream, msg: line };
}

/** The name of a level ("warn") or its number, as a number; throws badarg for anything else. */
export function levelNumber(level: string | number | undefined): number {
  if (level === undefined) return 0;
  if (typeof level === "number") return level;
  const n = LEVELS[level.toLowerCase()];
  if (n === undefined) throw new ClusterError("badarg", `unknown log level ${level} (levels: ${Object.keys(LEVELS).join(", ")})`);
  return n;
}

export interface LogQuery {
  /** one node (or "up", the coordinator); every node when absent */
  node?: string;
  /** the last n lines; default 50 */
  lines?: number;
  /** at least this level: a name (warn) or a number */
  level?: string;
  /** only lines after this sequence number (what a previous answer's `next` said) */
  after?: number;
  /** with `after`: wait up to this long for a line, for `logs -f` */
  waitMs?: number;
}

export interface LogAnswer {
  lines: LogRecord[];
  /** pass as `after` to get only later lines */
  next: number;
  /** every name that has a log: "up" and the nodes of the config */
  names: string[];
  /** the cluster is stopping: no more lines will come */
  closed?: boolean;
}

/** Lines kept in memory per node: what `logs` and the shell's logs() can show without reading the files. */
export const RECENT_LINES = 1000;

/**
 * Each node's recent log lines, in memory (bounded) and in a file per node
 * under `.devcluster/logs/` (mode 0600, in the 0700 state folder: logs show
 * state and messages), for `devcluster logs` and the shell's logs().
 */
export class LogStore extends EventEmitter {
  private readonly recent = new Map<string, { seq: number; rec: LogRecord }[]>();
  private readonly files = new Map<string, WriteStream>();
  private seq = 0;
  private closed = false;

  private dir?: string;

  constructor(
    readonly names: string[],
    private readonly limit = RECENT_LINES,
  ) {
    super();
    this.setMaxListeners(0);
  }

  /** From now on each node's lines also go to `<dir>/<node>.log`, starting with those kept so far. */
  openFiles(dir: string): void {
    // Checked first (ours, no link, not writable by others), so the narrowing below changes our own folders only.
    ensureOwnedDir(path.dirname(dir), "the state folder");
    ensureOwnedDir(dir, "the log folder");
    chmodSync(path.dirname(dir), 0o700);
    chmodSync(dir, 0o700);
    this.dir = dir;
    for (const [node, list] of this.recent) for (const { rec } of list) this.file(node)?.write(JSON.stringify(rec) + "\n");
  }

  add(rec: LogRecord): void {
    // A node that joined (`devcluster node`) has a log from its first line on.
    if (!this.names.includes(rec.node)) this.names.push(rec.node);
    const seq = ++this.seq;
    let list = this.recent.get(rec.node);
    if (!list) this.recent.set(rec.node, (list = []));
    list.push({ seq, rec });
    // Trim in steps, not per line: shift() on every line would copy the whole array.
    if (list.length > this.limit + 100) list.splice(0, list.length - this.limit);
    this.file(rec.node)?.write(JSON.stringify(rec) + "\n");
    this.emit("line", seq);
  }

  /** The file of one node's lines, opened (truncated) at its first line of this `up`. */
  private file(node: string): WriteStream | undefined {
    if (!this.dir || this.closed) return undefined;
    let f = this.files.get(node);
    if (!f) {
      const file = path.join(this.dir, `${node.replace(/[^\w.-]/g, "_")}.log`);
      // A new file (0600) renamed over the last run's: a link planted at that name is replaced, never written through.
      let fd: number;
      try {
        fd = createOwned(file);
      } catch {
        return undefined; // the lines stay in memory for `logs`; a log line is no place to fail
      }
      f = createWriteStream(file, { fd });
      f.on("error", () => undefined);
      this.files.set(node, f);
    }
    return f;
  }

  private select(q: LogQuery): LogAnswer {
    if (q.node !== undefined && !this.names.includes(q.node)) {
      throw new ClusterError("badarg", `no log for ${q.node} (logs: ${this.names.join(", ")})`);
    }
    const min = levelNumber(q.level);
    const after = q.after ?? 0;
    const lists = q.node !== undefined ? [this.recent.get(q.node) ?? []] : [...this.recent.values()];
    const all = lists.flatMap((l) => l.filter((e) => e.seq > after && e.rec.level >= min)).sort((a, b) => a.seq - b.seq);
    const picked = q.after !== undefined ? all : all.slice(Math.max(0, all.length - Math.max(0, q.lines ?? 50)));
    return { lines: picked.map((e) => e.rec), next: this.seq, names: this.names, ...(this.closed ? { closed: true } : {}) };
  }

  /** The last lines, or (with `after` and `waitMs`) the lines after a point, waiting for one if there is none yet. */
  async query(q: LogQuery): Promise<LogAnswer> {
    const now = this.select(q);
    if (q.after === undefined || !q.waitMs || now.lines.length > 0 || this.closed) return now;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.off("line", onLine);
        this.off("end", done);
        resolve();
      };
      const onLine = (): void => {
        if (this.select(q).lines.length > 0) done();
      };
      const timer = setTimeout(done, Math.min(q.waitMs!, 30_000));
      timer.unref();
      this.on("line", onLine);
      this.once("end", done);
    });
    return this.select(q);
  }

  /** The cluster is stopping: followers get what is left and are told no more comes. */
  end(): void {
    this.closed = true;
    this.emit("end");
  }

  async close(): Promise<void> {
    this.end();
    await Promise.all([...this.files.values()].map((f) => new Promise<void>((resolve) => f.end(resolve))));
    this.files.clear();
  }
}

/**
 * Renders the nodes' lines in the `up` terminal: one prefix and colour per
 * node, or NDJSON with the node's name on every line for tools. Every line
 * also goes to the store, when there is one.
 */
export class LogRenderer {
  private readonly formatter: LogFormatter;

  constructor(
    private readonly format: LogFormat,
    names: string[],
    private readonly out: NodeJS.WritableStream = process.stdout,
    colour = format === "pretty" && Boolean((out as NodeJS.WriteStream).isTTY),
    readonly store?: LogStore,
  ) {
    this.formatter = new LogFormatter(names, colour);
  }

  /** One line from a node (or from the coordinator, as "up"). */
  line(node: string, line: string, stream: "stdout" | "stderr" = "stdout"): void {
    const rec = toRecord(node, line, stream);
    this.store?.add(rec);
    if (this.format === "json") this.out.write(rec.stream ? JSON.stringify(rec) + "\n" : line.endsWith("\n") ? line : line + "\n");
    else this.out.write(this.formatter.format(rec) + "\n");
  }
}

/** The coordinator logs through the same renderer as its nodes. */
export function coordinatorLogger(renderer: LogRenderer, level = process.env.DEVCLUSTER_LOG_LEVEL ?? "info"): Logger {
  return pino({ level, base: { pid: process.pid, node: "up" } }, { write: (line: string) => renderer.line("up", line.replace(/\n$/, "")) });
}
