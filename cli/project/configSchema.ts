import * as fs from "node:fs";
import * as path from "node:path";
import Ajv, { type ErrorObject, type ValidateFunction } from "ajv";

/**
 * The file editors complete `cluster.config.json` from (package `exports`), and the one
 * that decides what loads: what the schema refuses is refused, its defaults are filled in.
 */
const SCHEMA_FILE = path.join(__dirname, "../../../cluster.config.schema.json");

export interface ConfigProblem {
  /** the JSON path, "" for the whole file */
  field: string;
  message: string;
}

/** `cluster.config.json` as the schema lets it through, defaults filled in. */
export interface SchemaConfig {
  $schema?: string;
  name: string;
  src: string;
  entry: string;
  nodes: number | { name: string; env?: Record<string, string> }[];
  coordinator: { host: string; port: number };
  observer: { host: string; port: number };
  reload: { timeoutMs: number; allOrNothing: boolean };
}

/** A part of the schema; only what the wording below reads. */
export interface SchemaNode {
  properties?: Record<string, SchemaNode>;
  items?: SchemaNode;
  additionalProperties?: boolean | SchemaNode;
  oneOf?: SchemaNode[];
  minimum?: number;
  maximum?: number;
  minItems?: number;
  maxItems?: number;
}

/**
 * Checks `raw` against the schema, filling in its defaults (so `raw` is a {@link SchemaConfig}
 * when nothing is returned), and words each field at fault as a person would fix it.
 * One problem per field; several errors at one field (too short and no match) are one fix.
 *
 * @example
 *   schemaProblems({ name: "demo", src: "src", entry: "app", nodes: 65 })
 *   // -> [{ field: "nodes", message: '"nodes" must be a whole number from 1 to 64, or a list of nodes (got 65)' }]
 */
export function schemaProblems(raw: unknown): ConfigProblem[] {
  const { validate, places } = compiled();
  if (validate(raw)) return [];
  const problems = new Map<string, ConfigProblem>();
  for (const e of relevant(validate.errors ?? [])) {
    const p = word(e, raw, places);
    if (!problems.has(p.field)) problems.set(p.field, p);
  }
  return [...problems.values()];
}

/** `"nodes[1].name" must be ...`; a problem with the whole file names no field. */
export function problem(field: string, what: string): ConfigProblem {
  return { field, message: `${field ? `"${field}" ` : ""}${what}` };
}

/** A value as the user wrote it, cut short: `(got ${describe(v)})`. */
function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  const s = JSON.stringify(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

let cache: { validate: ValidateFunction<SchemaConfig>; places: Map<string, SchemaNode> } | undefined;

/** Compiled on first use (loading Ajv and compiling: 40-90 ms measured): commands that never read the config do not pay for it. */
function compiled(): { validate: ValidateFunction<SchemaConfig>; places: Map<string, SchemaNode> } {
  if (cache) return cache;
  const schema = readSchema();
  // allErrors: one run names every fix. strict: a keyword Ajv does not know is a schema bug, not a silent pass.
  const ajv = new Ajv({ allErrors: true, useDefaults: true, strict: true });
  cache = { validate: ajv.compile<SchemaConfig>(schema), places: schemaPlaces(schema) };
  return cache;
}

/** The schema as shipped, read fresh (Ajv's defaults never write into it). */
export function readSchema(): SchemaNode {
  return JSON.parse(fs.readFileSync(SCHEMA_FILE, "utf8")) as SchemaNode;
}

/**
 * A `oneOf` that fails reports every branch: "nodes" given as a list would also hear that it is
 * not a number. Keep the branch whose type the value has and drop the rest; when no branch has
 * the value's type, the `oneOf` error alone speaks for the field.
 */
function relevant(errors: ErrorObject[]): ErrorObject[] {
  let out = errors;
  for (const one of errors.filter((e) => e.keyword === "oneOf")) {
    const wrongType = new Set(
      errors
        .filter((e) => e.keyword === "type" && e.instancePath === one.instancePath && e.schemaPath.startsWith(`${one.schemaPath}/`))
        .map((e) => e.schemaPath.slice(0, e.schemaPath.lastIndexOf("/") + 1)),
    );
    const branches = out.filter((e) => e.schemaPath.startsWith(`${one.schemaPath}/`));
    const dropped = branches.filter((e) => [...wrongType].some((prefix) => e.schemaPath.startsWith(prefix)));
    const kept = branches.length > dropped.length;
    out = out.filter((e) => !dropped.includes(e) && !(kept && e === one));
  }
  return out;
}

function word(e: ErrorObject, raw: unknown, places: Map<string, SchemaNode>): ConfigProblem {
  let label = placeOf(e.schemaPath);
  let value: unknown = raw;
  let field = "";
  for (const s of e.instancePath.split("/").slice(1)) {
    const key = s.replace(/~1/g, "/").replace(/~0/g, "~");
    field += Array.isArray(value) ? `[${key}]` : field ? `.${key}` : key;
    value = (value as Record<string, unknown>)[key];
  }
  const child = (key: string): string => (field ? `${field}.${key}` : key);
  if (e.keyword === "additionalProperties") {
    const key = String(e.params.additionalProperty);
    const known = Object.keys(places.get(label)?.properties ?? {});
    const near = closest(key, known);
    return problem(
      child(key),
      `is not a known setting${near ? ` (did you mean "${near}"?)` : ""}; known settings${field ? ` of "${field}"` : ""}: ${known.join(", ")}`,
    );
  }
  if (e.keyword === "required") {
    const key = String(e.params.missingProperty);
    [field, label, value] = [child(key), label ? `${label}.${key}` : key, undefined];
  }
  const say = WORDING[label];
  return problem(field, say ? say(value, places.get(label) ?? {}) : `${e.message ?? "is not valid"} (got ${describe(value)})`);
}

/**
 * `#/properties/nodes/oneOf/1/items/properties/env/additionalProperties/type` -> `nodes[].env.*`:
 * where in the schema a check failed, named as {@link WORDING} names it (the keyword dropped).
 */
function placeOf(schemaPath: string): string {
  // Ajv writes the path as a URI fragment: `$schema` is `%24schema`.
  const parts = schemaPath
    .split("/")
    .slice(1, -1)
    .map((s) => decodeURIComponent(s).replace(/~1/g, "/").replace(/~0/g, "~"));
  let label = "";
  for (let i = 0; i < parts.length; i++) {
    if (parts[i] === "properties") label = join(label, parts[++i]!);
    else if (parts[i] === "items") label += "[]";
    else if (parts[i] === "additionalProperties") label = join(label, "*");
    else if (parts[i] === "oneOf") i++;
  }
  return label;
}

/** Every place of the schema a value can sit, by the name {@link placeOf} gives it; a `oneOf` keeps its branches under one name. */
export function schemaPlaces(schema: SchemaNode, label = "", out = new Map<string, SchemaNode>()): Map<string, SchemaNode> {
  if (!out.has(label)) out.set(label, schema);
  for (const [k, sub] of Object.entries(schema.properties ?? {})) schemaPlaces(sub, join(label, k), out);
  if (schema.items) schemaPlaces(schema.items, `${label}[]`, out);
  if (typeof schema.additionalProperties === "object") schemaPlaces(schema.additionalProperties, join(label, "*"), out);
  for (const branch of schema.oneOf ?? []) schemaPlaces(branch, label, out);
  return out;
}

function join(label: string, key: string): string {
  return label ? `${label}.${key}` : key;
}

/** "1 to 64", read from the schema so the message cannot drift from the check. */
function range(s: SchemaNode | undefined): string {
  return `${s?.minimum ?? s?.minItems} to ${s?.maximum ?? s?.maxItems}`;
}

/** The fix for a value at one place of the schema; `at` is that place (its bounds, its branches). */
type Wording = (value: unknown, at: SchemaNode) => string;

const got = (v: unknown): string => `(got ${describe(v)})`;
const hostWording: Wording = (v) => `must be a host name or IP address ${got(v)}`;
const portWording: Wording = (v, at) => `must be a whole number from ${range(at)}, 0 meaning any free port ${got(v)}`;

/**
 * What each place of the schema asks for, said with an example of the fix. Every place has an
 * entry (test/unit/config.test.ts checks), so a new field in the schema comes with its wording.
 */
export const WORDING: Record<string, Wording> = {
  "": (v) => `must hold a JSON object ${got(v)}`,
  $schema: (v) => `must be a string ${got(v)}`,
  name: (v) => `must be a non-empty string naming the cluster ${got(v)}`,
  src: (v) => `must be the source folder, relative to the config file, e.g. "src" ${got(v)}`,
  entry: (v) => `must be a module name: a path under "src" without extension, e.g. "app" or "chat/app" ${got(v)}`,
  nodes: (v, at) => {
    const [count, list] = at.oneOf ?? [];
    return typeof v === "number"
      ? `must be a whole number from ${range(count)}, or a list of nodes ${got(v)}`
      : `must be a node count from ${range(count)} or a list of ${range(list)} nodes like [{ "name": "n1" }] ${got(v)}`;
  },
  "nodes[]": (v) => `must be an object like { "name": "n1" } ${got(v)}`,
  "nodes[].name": (v) => `must be a string of letters, digits, _ or - starting with a letter ${got(v)}`,
  "nodes[].env": (v) => `must be an object of environment variables, e.g. { "PORT": "3001" } ${got(v)}`,
  "nodes[].env.*": (v) => `must be a string ${got(v)}; environment values are text, so write ${JSON.stringify(String(v))}`,
  coordinator: (v) => `must be an object like { "host": "127.0.0.1", "port": 0 } ${got(v)}`,
  "coordinator.host": (v, at) =>
    typeof v === "string" && isWildcardHost(v)
      ? `is ${v}, which is every address of this machine: nodes are told where to connect, so name one address the other machines reach (e.g. 10.0.0.1), or 127.0.0.1 for this machine only`
      : hostWording(v, at),
  "coordinator.port": portWording,
  observer: (v) => `must be an object like { "port": 4000 } ${got(v)}`,
  "observer.host": hostWording,
  "observer.port": portWording,
  reload: (v) => `must be an object like { "timeoutMs": 1000, "allOrNothing": false } ${got(v)}`,
  "reload.timeoutMs": (v, at) => `must be a whole number of milliseconds from ${range(at)} ${got(v)}`,
  "reload.allOrNothing": (v) => `must be true or false ${got(v)}`,
};

/** 0.0.0.0 and ::: binding to them works, but they cannot be handed to a node as the place to connect. */
function isWildcardHost(host: string): boolean {
  const h = host.trim().replace(/^\[|\]$/g, "");
  return h === "0.0.0.0" || h === "::" || h === "*";
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
