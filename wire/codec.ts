import { deserialize, serialize } from "node:v8";
import { Pid } from "./pid";
import { NotSendable, checkSendable } from "./sendable";

/**
 * Values cross node boundaries as V8's structured clone (Map, Set, Date,
 * BigInt, typed arrays, Buffer survive), with pids carried as a tagged plain
 * object since structured clone drops class prototypes.
 */
const PID_TAG = "\u0000pid";

/** Copy-on-write: a value without pids is passed to V8 untouched. */
function tagPids(value: unknown, seen: Set<object>): unknown {
  if (value === null || typeof value !== "object") return value;
  if (value instanceof Pid) return { [PID_TAG]: [value.node, value.id] };
  if (ArrayBuffer.isView(value) || value instanceof Date || value instanceof RegExp) return value;
  if (seen.has(value)) return value;
  seen.add(value);
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const t = tagPids(value[i], seen);
      if (t !== value[i]) (out ??= value.slice())[i] = t;
    }
    return out ?? value;
  }
  if (value instanceof Map) {
    let changed = false;
    const entries = [...value].map(([k, v]) => {
      const tk = tagPids(k, seen);
      const tv = tagPids(v, seen);
      if (tk !== k || tv !== v) changed = true;
      return [tk, tv] as const;
    });
    return changed ? new Map(entries) : value;
  }
  if (value instanceof Set) {
    let changed = false;
    const items = [...value].map((v) => {
      const t = tagPids(v, seen);
      if (t !== v) changed = true;
      return t;
    });
    return changed ? new Set(items) : value;
  }
  let out: Record<string, unknown> | undefined;
  for (const key of Object.keys(value)) {
    const v = (value as Record<string, unknown>)[key];
    const t = tagPids(v, seen);
    if (t !== v) (out ??= { ...(value as Record<string, unknown>) })[key] = t;
  }
  return out ?? value;
}

function untagPids(value: unknown): unknown {
  if (value === null || typeof value !== "object") return value;
  if (ArrayBuffer.isView(value) || value instanceof Date || value instanceof RegExp) return value;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) value[i] = untagPids(value[i]);
    return value;
  }
  if (value instanceof Map) {
    const entries = [...value].map(([k, v]) => [untagPids(k), untagPids(v)] as const);
    value.clear();
    for (const [k, v] of entries) value.set(k, v);
    return value;
  }
  if (value instanceof Set) {
    const items = [...value].map(untagPids);
    value.clear();
    for (const v of items) value.add(v);
    return value;
  }
  const rec = value as Record<string, unknown>;
  const tag = rec[PID_TAG];
  if (Array.isArray(tag) && tag.length === 2 && typeof tag[0] === "string" && typeof tag[1] === "number") {
    return new Pid(tag[0], tag[1]);
  }
  for (const key of Object.keys(rec)) rec[key] = untagPids(rec[key]);
  return value;
}

/** V8's serialization starts with its version tag; JSON text never does. */
const V8_TAG = 0xff;

/** A tagged pid as JSON.stringify writes it: a JSON frame without this text has no pid to untag. */
const PID_TAG_JSON = Buffer.from(JSON.stringify(PID_TAG).slice(1, -1));

/** Thrown inside the walk: a function or symbol, with the field path gathered on the way out (innermost last). */
class Unsendable {
  readonly segments: (string | number)[] = [];
  constructor(readonly what: string) {}
}

/** Thrown inside the walk: a value JSON does not carry (Map, Date, a class instance, a cycle...): the general path takes it. */
const GENERAL = Symbol("general");

/** Set by {@link plain} when JSON would not carry a value exactly (-0, NaN, undefined, a hole, a BigInt, `__proto__`). */
let notJson = false;

/**
 * The one walk of a message on its way out: checks that it can travel (a
 * function or symbol throws), tells whether JSON carries it exactly, and tags
 * its pids (copy-on-write), so a message of plain data with pids in it (a
 * call's `from`, a reply holding pids) still travels as JSON. Before, a
 * message was walked three times: the sender check, the JSON-or-V8 choice and
 * the pid tagging. Anything else (Map, Set, Date, typed arrays, class
 * instances, deep or cyclic values) throws GENERAL and takes the general path.
 */
function plain(value: unknown, depth: number): unknown {
  switch (typeof value) {
    case "string":
    case "boolean":
      return value;
    case "number":
      if (!Number.isFinite(value) || Object.is(value, -0)) notJson = true;
      return value;
    case "undefined":
    case "bigint":
      notJson = true;
      return value;
    case "function":
      throw new Unsendable("a function");
    case "symbol":
      throw new Unsendable("a symbol");
  }
  if (value === null) return value;
  if (depth > 32) throw GENERAL;
  if (value instanceof Pid) return { [PID_TAG]: [value.node, value.id] };
  if (Array.isArray(value)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      if (!(i in value)) {
        notJson = true;
        continue;
      }
      const v: unknown = value[i];
      const t = plainAt(v, depth + 1, i);
      if (t !== v) (out ??= value.slice())[i] = t;
    }
    return out ?? value;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) throw GENERAL;
  let out: Record<string, unknown> | undefined;
  for (const key in value) {
    if (key === "__proto__") notJson = true;
    const v = (value as Record<string, unknown>)[key];
    const t = plainAt(v, depth + 1, key);
    if (t !== v) (out ??= { ...(value as Record<string, unknown>) })[key] = t;
  }
  return out ?? value;
}

/** {@link plain} of one element or field, which a NotSendable thrown inside names on its way out. */
function plainAt(value: unknown, depth: number, at: string | number): unknown {
  try {
    return plain(value, depth);
  } catch (err) {
    if (err instanceof Unsendable) err.segments.push(at);
    throw err;
  }
}

/** `msg.to[2]`, as the sender check names fields; the root segment is the message's own field name. */
function pathOf(segments: (string | number)[]): string {
  let path = "";
  for (const s of segments.reverse()) {
    if (typeof s === "number") path += `[${s}]`;
    else if (path === "") path = s;
    else path += /^[A-Za-z_$][\w$]*$/.test(s) ? `.${s}` : `[${JSON.stringify(s)}]`;
  }
  return path;
}

/**
 * `checked`: the value is a message from user code, which must be able to
 * travel (wire/sendable.ts): a function, symbol or class instance throws
 * NotSendable naming the field, in the same walk that encodes it.
 */
export function encodeValue(value: unknown, checked = false): Buffer {
  const out = encodeText(value, checked);
  return typeof out === "string" ? Buffer.from(out) : out;
}

/**
 * As {@link encodeValue}, with a JSON message left as its text: a batching
 * Outbox joins the texts of many into one JSON array (one buffer, and one
 * JSON.parse at the receiver, instead of one of each per message).
 */
export function encodeText(value: unknown, checked = false): string | Buffer {
  notJson = false;
  try {
    const tagged = plain(value, 0);
    if (!notJson) return JSON.stringify(tagged);
    return serialize(tagged);
  } catch (err) {
    if (err instanceof Unsendable) {
      if (checked) throw new NotSendable(pathOf(err.segments), err.what);
    } else if (err !== GENERAL) throw err;
  }
  if (checked) checkSendable(value, "");
  return serialize(tagPids(value, new Set()));
}

/**
 * The first byte of a frame holding many JSON messages as one array
 * (`\x01[m1,m2,...]`); a single message never starts with it (JSON text of an
 * object, or V8's 0xff version tag).
 */
export const JSON_BATCH_TAG = 0x01;

/** The messages of a JSON batch frame; throws on one that is not, and the caller drops the frame whole. */
export function decodeJsonBatch(bytes: Buffer): unknown[] {
  const values = JSON.parse(bytes.toString("utf8", 1)) as unknown;
  if (!Array.isArray(values)) throw new Error("a JSON batch that is not an array");
  return bytes.includes(PID_TAG_JSON) ? values.map(untagPids) : values;
}

/** Throws on bytes that are neither; callers treat that as a bad frame. */
export function decodeValue(bytes: Buffer): unknown {
  if (bytes[0] !== V8_TAG) {
    const value = JSON.parse(bytes.toString("utf8")) as unknown;
    return bytes.includes(PID_TAG_JSON) ? untagPids(value) : value;
  }
  return untagPids(deserialize(bytes));
}
