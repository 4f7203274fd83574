import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { ClusterError } from "../../wire/errors";
import { MODULE_EXTENSIONS } from "../save/moduleFiles";

/** One node of the cluster as the config names it. */
export interface NodeSpec {
  /** `n1`, `web`: letters, digits, `_` or `-`, starting with a letter; unique in the cluster. */
  name: string;
  /** Extra environment variables for that node's OS process. */
  env: Record<string, string>;
}

/** `cluster.config.json`, validated, with paths made absolute and defaults filled in. */
export interface ClusterConfig {
  name: string;
  /** Absolute path of the config file. */
  configPath: string;
  /** The folder holding the config file. */
  projectDir: string;
  /** Absolute path of the source folder (`src` in the file, relative to it). */
  srcDir: string;
  /** Module name of the entry module, e.g. `app` or `chat/app`. */
  entry: string;
  /** A count `n` in the file becomes `n1`..`nn`. */
  nodes: NodeSpec[];
  /**
   * Where the coordinator binds, and where `up`'s nodes bind their peer endpoints: loopback by default; an
   * address other machines reach (10.0.0.1) lets nodes there join with `devcluster node --join`. Port 0 means any free port.
   */
  coordinator: { host: string; port: number };
  /** Where `up` serves the observer page: loopback unless the file names another host. Port 0 means any free port. */
  observer: { host: string; port: number };
  /** How a reload decides when a node is silent (docs/design.md §6). */
  reload: ReloadSettings;
}

export interface ReloadSettings {
  /** how long each phase waits for every node's answer before deciding, ms (default 1000) */
  timeoutMs: number;
  /** a node silent at the deadline aborts the reload (default false: the others commit, it catches up when back) */
  allOrNothing: boolean;
}

/**
 * The config file is missing, is not JSON, or breaks a rule: a `config_invalid`
 * ClusterError that also says which field (the JSON path, "" for the whole file),
 * which ClusterError has no slot for.
 */
export class ConfigError extends ClusterError {
  /** the first field at fault */
  readonly field: string;
  /** every field at fault with what was expected, in file order: the message lists them all, so one run shows every fix */
  readonly problems: ConfigProblem[];

  constructor(message: string, field: string, problems: ConfigProblem[] = [{ field, message }]) {
    super("config_invalid", message);
    this.name = "ConfigError";
    this.field = field;
    this.problems = problems;
  }
}

export interface ConfigProblem {
  /** the JSON path, "" for the whole file */
  field: string;
  message: string;
}

/** The file name `devcluster init` writes and commands look for. */
export const CONFIG_FILE = "cluster.config.json";
export const MAX_NODES = 64;

const TOP_LEVEL_KEYS = ["$schema", "name", "src", "entry", "nodes", "coordinator", "observer", "reload"] as const;
const RELOAD_KEYS = ["timeoutMs", "allOrNothing"] as const;
const NODE_KEYS = ["name", "env"] as const;
const COORDINATOR_KEYS = ["host", "port"] as const;
const NODE_NAME = /^[a-z][a-z0-9_-]*$/i;
/** `chat/room`: slash-separated path segments, no extension, no `.`/`..`. */
const MODULE_NAME = /^(?!.*(^|\/)\.\.?(\/|$))[^/\\]+(\/[^/\\]+)*$/;
const DEFAULT_HOST = "127.0.0.1";

/**
 * Reads and validates a `cluster.config.json`. Throws {@link ConfigError} naming
 * the file and every field at fault with what was expected (one per line when
 * there are several), so a config with three mistakes takes one run to fix:
 *
 * @example
 *   loadConfig("cluster.config.json") // -> { name, srcDir, entry, nodes: [{ name: "n1", env: {} }, …], … }
 *   // cluster.config.json: "nodes[1].name" must be a string of letters, digits, _ or - starting with a letter (got 5)
 */
export function loadConfig(configPath: string): ClusterConfig {
  const abs = path.resolve(configPath);
  const shown = displayPath(abs);
  const problems: ConfigProblem[] = [];
  const fail: Fail = (field, what) => {
    problems.push({ field, message: `${field ? `"${field}" ` : ""}${what}` });
    return undefined;
  };

  let text: string;
  try {
    text = fs.readFileSync(abs, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === "ENOENT") {
      throw new ConfigError(`${shown}: no such file. Run \`devcluster init\` in the project folder to create one.`, "");
    }
    throw new ConfigError(`${shown}: cannot read it (${code ?? String(err)})`, "");
  }
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);

  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(
      `${shown}:${jsonErrorPosition(text, err as Error)}: not valid JSON: ${(err as Error).message.replace(/ in JSON at position \d+.*$/s, "")}`,
      "",
    );
  }

  if (!isObject(raw)) throw new ConfigError(`${shown}: must hold a JSON object (got ${describe(raw)})`, "");
  rejectUnknownKeys(raw, TOP_LEVEL_KEYS, "", fail);

  if ("$schema" in raw && typeof raw.$schema !== "string") fail("$schema", `must be a string (got ${describe(raw.$schema)})`);

  const name = raw.name;
  if (typeof name !== "string" || name.trim() === "") fail("name", `must be a non-empty string naming the cluster (got ${describe(name)})`);

  const projectDir = path.dirname(abs);
  const src = raw.src;
  let srcDir: string | undefined;
  if (typeof src !== "string" || src === "") fail("src", `must be the source folder, relative to the config file, e.g. "src" (got ${describe(src)})`);
  else if (!isDirectory(path.resolve(projectDir, src))) {
    const dir = path.resolve(projectDir, src);
    fail("src", `is ${JSON.stringify(src)}, but ${dir} ${fs.existsSync(dir) ? "is not a folder" : "does not exist"}. Create it or fix the path.`);
  } else srcDir = path.resolve(projectDir, src);

  const entry = raw.entry;
  if (typeof entry !== "string" || !MODULE_NAME.test(entry) || /\.(ts|tsx|js|mjs|cjs)$/.test(entry)) {
    fail("entry", `must be a module name: a path under "src" without extension, e.g. "app" or "chat/app" (got ${describe(entry)})`);
  } else if (srcDir !== undefined) {
    // Whether the entry file exists can only be told once the source folder is known.
    const entryFile = path.join(srcDir, ...entry.split("/"));
    if (!MODULE_EXTENSIONS.some((ext) => fs.existsSync(entryFile + ext))) {
      fail(
        "entry",
        `is ${JSON.stringify(entry)}, but ${path.join(src as string, entry)}.ts does not exist. Create it (it exports start(ctx)) or fix the name.`,
      );
    }
  }

  const nodes = parseNodes(raw.nodes, fail);
  const coordinator = parseCoordinator(raw.coordinator, fail);
  const observer = parseObserver(raw.observer, fail);
  const reload = parseReload(raw.reload, fail);

  if (problems.length === 1) throw new ConfigError(`${shown}: ${problems[0]!.message}`, problems[0]!.field, problems);
  if (problems.length > 1) {
    throw new ConfigError(`${shown}: ${problems.length} problems:\n${problems.map((p) => `  ${p.message}`).join("\n")}`, problems[0]!.field, problems);
  }
  return { name: name as string, configPath: abs, projectDir, srcDir: srcDir!, entry: entry as string, nodes, coordinator, observer, reload };
}

/** Records a problem and carries on, so every field at fault is named at once. */
type Fail = (field: string, what: string) => undefined;

function parseNodes(nodes: unknown, fail: Fail): NodeSpec[] {
  if (typeof nodes === "number") {
    if (!Number.isInteger(nodes) || nodes < 1 || nodes > MAX_NODES) {
      fail("nodes", `must be a whole number from 1 to ${MAX_NODES}, or a list of nodes (got ${describe(nodes)})`);
      return [];
    }
    return Array.from({ length: nodes }, (_, i) => ({ name: `n${i + 1}`, env: {} }));
  }
  if (!Array.isArray(nodes) || nodes.length < 1 || nodes.length > MAX_NODES) {
    fail("nodes", `must be a node count from 1 to ${MAX_NODES} or a list of 1 to ${MAX_NODES} nodes like [{ "name": "n1" }] (got ${describe(nodes)})`);
    return [];
  }
  const seen = new Map<string, number>();
  const specs: NodeSpec[] = [];
  nodes.forEach((node: unknown, i) => {
    const at = `nodes[${i}]`;
    if (!isObject(node)) return fail(at, `must be an object like { "name": "n1" } (got ${describe(node)})`);
    rejectUnknownKeys(node, NODE_KEYS, at, fail);
    const name = node.name;
    if (typeof name !== "string" || !NODE_NAME.test(name)) {
      fail(`${at}.name`, `must be a string of letters, digits, _ or - starting with a letter (got ${describe(name)})`);
    } else {
      const first = seen.get(name.toLowerCase());
      if (first !== undefined) fail(`${at}.name`, `is ${JSON.stringify(name)}, already the name of nodes[${first}]; node names must be unique`);
      else seen.set(name.toLowerCase(), i);
    }
    const env: Record<string, string> = {};
    if ("env" in node) {
      if (!isObject(node.env)) fail(`${at}.env`, `must be an object of environment variables, e.g. { "PORT": "3001" } (got ${describe(node.env)})`);
      else {
        for (const [k, v] of Object.entries(node.env)) {
          if (typeof v !== "string")
            fail(`${at}.env.${k}`, `must be a string (got ${describe(v)}); environment values are text, so write ${JSON.stringify(String(v))}`);
          else env[k] = v;
        }
      }
    }
    if (typeof name === "string") specs.push({ name, env });
  });
  return specs;
}

function parseCoordinator(c: unknown, fail: Fail): { host: string; port: number } {
  const fallback = { host: DEFAULT_HOST, port: 0 };
  if (c === undefined) return fallback;
  if (!isObject(c)) return fail("coordinator", `must be an object like { "host": "127.0.0.1", "port": 0 } (got ${describe(c)})`) ?? fallback;
  rejectUnknownKeys(c, COORDINATOR_KEYS, "coordinator", fail);
  const host = c.host ?? DEFAULT_HOST;
  if (typeof host !== "string" || host === "") fail("coordinator.host", `must be a host name or IP address (got ${describe(host)})`);
  else if (isWildcardHost(host)) {
    fail(
      "coordinator.host",
      `is ${host}, which is every address of this machine: nodes are told where to connect, so name one address the other machines reach (e.g. 10.0.0.1), or 127.0.0.1 for this machine only`,
    );
  }
  const port = c.port ?? 0;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    fail("coordinator.port", `must be a whole number from 0 to 65535, 0 meaning any free port (got ${describe(port)})`);
  }
  return { host: host as string, port: port as number };
}

/** The observer page binds to loopback; another host is taken only when the file names it (the page still asks for its token). */
function parseObserver(o: unknown, fail: Fail): { host: string; port: number } {
  const loopback = { host: DEFAULT_HOST, port: 0 };
  if (o === undefined) return loopback;
  if (!isObject(o)) return fail("observer", `must be an object like { "port": 4000 } (got ${describe(o)})`) ?? loopback;
  rejectUnknownKeys(o, ["host", "port"], "observer", fail);
  const host = o.host ?? DEFAULT_HOST;
  if (typeof host !== "string" || host === "") fail("observer.host", `must be a host name or IP address (got ${describe(host)})`);
  const port = o.port ?? 0;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535) {
    fail("observer.port", `must be a whole number from 0 to 65535, 0 meaning any free port (got ${describe(port)})`);
  }
  return { host: host as string, port: port as number };
}

function parseReload(r: unknown, fail: Fail): ReloadSettings {
  const fallback: ReloadSettings = { timeoutMs: 1000, allOrNothing: false };
  if (r === undefined) return fallback;
  if (!isObject(r)) return fail("reload", `must be an object like { "timeoutMs": 1000, "allOrNothing": false } (got ${describe(r)})`) ?? fallback;
  rejectUnknownKeys(r, RELOAD_KEYS, "reload", fail);
  const timeoutMs = r.timeoutMs ?? fallback.timeoutMs;
  if (typeof timeoutMs !== "number" || !Number.isInteger(timeoutMs) || timeoutMs < 50 || timeoutMs > 600_000) {
    fail("reload.timeoutMs", `must be a whole number of milliseconds from 50 to 600000 (got ${describe(timeoutMs)})`);
  }
  const allOrNothing = r.allOrNothing ?? fallback.allOrNothing;
  if (typeof allOrNothing !== "boolean") fail("reload.allOrNothing", `must be true or false (got ${describe(allOrNothing)})`);
  return { timeoutMs: timeoutMs as number, allOrNothing: allOrNothing as boolean };
}

/** 0.0.0.0 and ::: binding to them works, but they cannot be handed to a node as the place to connect. */
function isWildcardHost(host: string): boolean {
  const h = host.trim().replace(/^\[|\]$/g, "");
  return h === "0.0.0.0" || h === "::" || h === "*";
}

/**
 * True for hosts that only this machine can reach: `localhost`, 127.0.0.0/8,
 * `::1` (also written in full, in brackets, or IPv4-mapped `::ffff:127.x.x.x`).
 */
export function isLoopbackHost(host: string): boolean {
  let h = host.trim().toLowerCase();
  if (h.startsWith("[") && h.endsWith("]")) h = h.slice(1, -1);
  if (h === "localhost" || h === "localhost.") return true;
  const family = net.isIP(h);
  return family !== 0 && LOOPBACK.check(h, family === 4 ? "ipv4" : "ipv6");
}

// BlockList also matches ::1 written in full and IPv4-mapped ::ffff:127.x.x.x.
const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet("127.0.0.0", 8, "ipv4");
LOOPBACK.addAddress("::1", "ipv6");

function rejectUnknownKeys(obj: Record<string, unknown>, known: readonly string[], at: string, fail: Fail): void {
  for (const key of Object.keys(obj)) {
    if (known.includes(key)) continue;
    const field = at ? `${at}.${key}` : key;
    const near = closest(key, known);
    fail(field, `is not a known setting${near ? ` (did you mean "${near}"?)` : ""}; known settings${at ? ` of "${at}"` : ""}: ${known.join(", ")}`);
  }
}

/** `at position 42` in V8's message -> `3:7`; the end of the text when V8 gives no position. */
function jsonErrorPosition(text: string, err: Error): string {
  const m = /at position (\d+)/.exec(err.message) ?? /\(line (\d+) column (\d+)\)/.exec(err.message);
  let offset = text.length;
  if (m && m.length === 3) return `${m[1]}:${m[2]}`;
  if (m) offset = Number(m[1]);
  const before = text.slice(0, offset).split("\n");
  return `${before.length}:${before[before.length - 1].length + 1}`;
}

function displayPath(abs: string): string {
  const rel = path.relative(process.cwd(), abs);
  return rel && !rel.startsWith("..") && !path.isAbsolute(rel) ? rel : abs;
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** The known key a typo most likely meant: the nearest within two edits. */
function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const k of known) {
    const d = editDistance(k.toLowerCase(), key.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diag = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] === b[j - 1] ? 0 : 1));
      diag = up;
    }
  }
  return row[b.length];
}
