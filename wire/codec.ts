import { deserialize, serialize } from "node:v8";
import { Pid } from "./pid";

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

/**
 * Whether JSON carries the value exactly: plain objects and arrays of
 * strings, finite numbers (not -0), booleans and null, no cycles, nothing
 * undefined. Most messages are like that, and JSON encodes and decodes a
 * small message several times faster than V8's serializer (which costs a
 * few microseconds per call whatever the size), so those take JSON.
 */
function isPlainJson(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case "string":
    case "boolean":
      return true;
    case "number":
      return Number.isFinite(value) && !Object.is(value, -0);
    case "object": {
      if (value === null) return true;
      if (depth > 32) return false;
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) if (!(i in value) || !isPlainJson(value[i], depth + 1)) return false;
        return true;
      }
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) return false;
      for (const key in value) {
        if (key === "__proto__" || !isPlainJson((value as Record<string, unknown>)[key], depth + 1)) return false;
      }
      return true;
    }
    default:
      return false;
  }
}

/** V8's serialization starts with its version tag; JSON text never does. */
const V8_TAG = 0xff;

export function encodeValue(value: unknown): Buffer {
  if (isPlainJson(value, 0)) return Buffer.from(JSON.stringify(value));
  return serialize(tagPids(value, new Set()));
}

/** Throws on bytes that are neither; callers treat that as a bad frame. */
export function decodeValue(bytes: Buffer): unknown {
  if (bytes[0] !== V8_TAG) return JSON.parse(bytes.toString("utf8")) as unknown;
  return untagPids(deserialize(bytes));
}
