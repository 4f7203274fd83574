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

export function encodeValue(value: unknown): Buffer {
  return serialize(tagPids(value, new Set()));
}

/** Throws on bytes that are not a V8 serialization; callers treat that as a bad frame. */
export function decodeValue(bytes: Buffer): unknown {
  return untagPids(deserialize(bytes));
}
