import assert from "node:assert/strict";
import fc from "fast-check";
import { Pid } from "../../wire/pid";

/** The message grammar of docs/design.md §5 as fast-check arbitraries, shared by the codec unit test and the test between real nodes. */
const pid = fc.tuple(fc.constantFrom("n1", "n2", "node-7"), fc.nat()).map(([n, id]) => new Pid(n, id));
const buffer = fc.uint8Array({ maxLength: 32 }).map((a) => Buffer.from(a));
const leaf = fc.oneof(
  fc.anything({
    withMap: true,
    withSet: true,
    withDate: true,
    withBigInt: true,
    withTypedArray: true,
    withNullPrototype: false,
    withBoxedValues: false,
    withSparseArray: false,
    maxDepth: 2,
  }),
  pid,
  buffer,
);
/** Message values as docs/design.md §5 lists them, pids and Buffers mixed into nested objects, arrays, Maps and Sets. */
export const message = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small", withCrossShrink: true }, leaf, tie("array"), tie("object"), tie("map"), tie("set")),
  array: fc.array(tie("value"), { maxLength: 4 }),
  object: fc.dictionary(
    fc.string({ maxLength: 6 }).filter((k) => k !== "__proto__"),
    tie("value"),
    { maxKeys: 4, noNullPrototype: true },
  ),
  map: fc.array(fc.tuple(fc.oneof(fc.string(), pid), tie("value")), { maxLength: 3 }).map((e) => new Map(e)),
  set: fc.array(tie("value"), { maxLength: 3 }).map((v) => new Set(v)),
})).value;

/**
 * deepStrictEqual compares Dates by getTime() with !==, so two Invalid Dates
 * never compare equal (NaN !== NaN) though the codec carries them exactly
 * (fast-check found `{ "": new Date(NaN) }`, seed 440). Compare them as a marker.
 */
function comparable(v: unknown, seen = new Map<object, unknown>()): unknown {
  if (v instanceof Date) return Number.isNaN(v.getTime()) ? { invalidDate: true } : v;
  if (v === null || typeof v !== "object" || ArrayBuffer.isView(v) || v instanceof Pid) return v;
  if (seen.has(v)) return seen.get(v);
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    seen.set(v, out);
    for (const x of v) out.push(comparable(x, seen));
    return out;
  }
  if (v instanceof Map) {
    const out = new Map();
    seen.set(v, out);
    for (const [k, x] of v) out.set(comparable(k, seen), comparable(x, seen));
    return out;
  }
  if (v instanceof Set) {
    const out = new Set();
    seen.set(v, out);
    for (const x of v) out.add(comparable(x, seen));
    return out;
  }
  if (Object.getPrototypeOf(v) !== Object.prototype) return v;
  const out: Record<string, unknown> = {};
  seen.set(v, out);
  // defineProperty, not assignment: a key "__proto__" must stay an own key (fast-check makes them)
  for (const [k, x] of Object.entries(v)) Object.defineProperty(out, k, { value: comparable(x, seen), enumerable: true, writable: true, configurable: true });
  return out;
}

export function assertSameValue(actual: unknown, expected: unknown): void {
  assert.deepStrictEqual(comparable(actual), comparable(expected));
}
