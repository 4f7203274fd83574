import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { ClusterError } from "../../wire/errors";
import { MODULE_EXTENSIONS } from "../save/moduleFiles";
import { problem, schemaProblems, type ConfigProblem, type SchemaConfig } from "./configSchema";

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

export type { ConfigProblem } from "./configSchema";

/** The file name `devcluster init` writes and commands look for. */
export const CONFIG_FILE = "cluster.config.json";

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

  // The schema says what the file may hold; what it cannot say (the folders and files named, unique
  // node names) is checked here, for the fields the schema let through.
  const problems = schemaProblems(raw);
  const atFault = (field: string): boolean => problems.some((p) => p.field === field);
  if (atFault("")) refuse(shown, problems, raw);
  const config = raw as SchemaConfig;
  const projectDir = path.dirname(abs);
  const srcDir = path.resolve(projectDir, String(config.src));
  const srcFound = !atFault("src") && isDirectory(srcDir);
  if (!atFault("src") && !srcFound) {
    problems.push(
      problem(
        "src",
        `is ${JSON.stringify(config.src)}, but ${srcDir} ${fs.existsSync(srcDir) ? "is not a folder" : "does not exist"}. Create it or fix the path.`,
      ),
    );
  }
  // Whether the entry file exists can only be told once the source folder is known.
  if (srcFound && !atFault("entry")) {
    const entryFile = path.join(srcDir, ...config.entry.split("/"));
    if (!MODULE_EXTENSIONS.some((ext) => fs.existsSync(entryFile + ext))) {
      problems.push(
        problem(
          "entry",
          `is ${JSON.stringify(config.entry)}, but ${path.join(config.src, config.entry)}.ts does not exist. Create it (it exports start(ctx)) or fix the name.`,
        ),
      );
    }
  }
  const nodes = atFault("nodes") ? [] : nodeSpecs(config.nodes, problems);

  if (problems.length > 0) refuse(shown, problems, raw);
  return {
    name: config.name,
    configPath: abs,
    projectDir,
    srcDir,
    entry: config.entry,
    nodes,
    coordinator: config.coordinator,
    observer: config.observer,
    reload: config.reload,
  };
}

/** Throws every problem at once, one per line when there are several. */
function refuse(shown: string, problems: ConfigProblem[], raw: unknown): never {
  inFileOrder(problems, raw);
  const first = problems[0]!;
  if (problems.length === 1) throw new ConfigError(`${shown}: ${first.message}`, first.field, problems);
  throw new ConfigError(`${shown}: ${problems.length} problems:\n${problems.map((p) => `  ${p.message}`).join("\n")}`, first.field, problems);
}

/** A count `n` becomes `n1`..`nn`; names the schema let through must also differ in more than case, as they name OS processes and logs. */
function nodeSpecs(nodes: SchemaConfig["nodes"], problems: ConfigProblem[]): NodeSpec[] {
  if (typeof nodes === "number") return Array.from({ length: nodes }, (_, i) => ({ name: `n${i + 1}`, env: {} }));
  const seen = new Map<string, number>();
  const specs: NodeSpec[] = [];
  nodes.forEach((node, i) => {
    const at = `nodes[${i}].name`;
    // A node the schema refused may not even be an object.
    if (typeof node?.name !== "string" || problems.some((p) => p.field === at)) return;
    const first = seen.get(node.name.toLowerCase());
    if (first !== undefined) problems.push(problem(at, `is ${JSON.stringify(node.name)}, already the name of nodes[${first}]; node names must be unique`));
    else seen.set(node.name.toLowerCase(), i);
    specs.push({ name: node.name, env: { ...node.env } });
  });
  return specs;
}

/**
 * Problems in the order the file reads, so the message can be fixed top to bottom; a missing
 * key comes after the keys written beside it.
 */
function inFileOrder(problems: ConfigProblem[], raw: unknown): void {
  const position = (field: string): number[] => {
    const out: number[] = [];
    let v: unknown = raw;
    for (const [, key, index] of field.matchAll(/\.?([^.[\]]+)|\[(\d+)\]/g)) {
      const k = key ?? index!;
      const keys = isObject(v) ? Object.keys(v) : Array.isArray(v) ? v.map((_, i) => String(i)) : [];
      out.push(keys.includes(k) ? keys.indexOf(k) : keys.length);
      v = (v as Record<string, unknown> | undefined)?.[k];
    }
    return out;
  };
  const key = new Map(problems.map((p) => [p, position(p.field)]));
  problems.sort((a, b) => compare(key.get(a)!, key.get(b)!));
}

function compare(a: number[], b: number[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return a.length - b.length;
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
