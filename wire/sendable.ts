import { Pid } from "./pid";

/**
 * Checks, before anything leaves the sender, that a message can travel
 * between nodes: what V8's structured clone carries (Map, Set, Date, RegExp,
 * BigInt, Error, ArrayBuffer, Buffer and typed arrays, plain objects and
 * arrays) plus pids. V8's own error ("function () {} could not be cloned")
 * names no field, and a class instance would silently arrive as a plain
 * object without its methods; this walk names the field and refuses both.
 *
 * Local sends pass by reference (see README, "Message values") but are
 * checked too, so code that works on one node works across nodes.
 */
export class NotSendable extends Error {
  readonly code = "not_serializable";
  constructor(
    readonly path: string,
    what: string,
  ) {
    super(`${path} is ${what}; messages carry plain objects, arrays, Map, Set, Date, BigInt, Buffer, typed arrays and pids. Send data, not live objects.`);
    this.name = "NotSendable";
  }
}

function describeKind(value: object): string {
  const ctor = (value as { constructor?: { name?: unknown } }).constructor;
  const name = typeof ctor?.name === "string" && ctor.name ? ctor.name : "an object with a custom prototype";
  return `a ${name} (a class instance)`;
}

function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function walk(value: unknown, path: string, seen: Set<object>): void {
  switch (typeof value) {
    case "function":
      throw new NotSendable(path, "a function");
    case "symbol":
      throw new NotSendable(path, "a symbol");
    case "object":
      break;
    default:
      return;
  }
  if (value === null || seen.has(value)) return;
  if (value instanceof Pid || value instanceof Date || value instanceof RegExp || ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return;
  seen.add(value);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) walk(value[i], `${path}[${i}]`, seen);
    return;
  }
  if (value instanceof Map) {
    let i = 0;
    for (const [k, v] of value) {
      walk(k, `${path}.keys[${i}]`, seen);
      walk(v, `${path}.get(${typeof k === "string" ? JSON.stringify(k) : i})`, seen);
      i++;
    }
    return;
  }
  if (value instanceof Set) {
    let i = 0;
    for (const v of value) walk(v, `${path}.values[${i++}]`, seen);
    return;
  }
  if (value instanceof Error) {
    walk({ ...value }, path, seen);
    return;
  }
  if (!isPlain(value)) throw new NotSendable(path, describeKind(value));
  for (const key of Object.keys(value))
    walk(
      (value as Record<string, unknown>)[key],
      // an empty root: the value is a whole message whose fields name themselves (msg, args)
      path === "" ? key : /^[A-Za-z_$][\w$]*$/.test(key) ? `${path}.${key}` : `${path}[${JSON.stringify(key)}]`,
      seen,
    );
}

/** Throws {@link NotSendable} (code `not_serializable`) naming the first field that cannot travel. */
export function checkSendable(value: unknown, path = "msg"): void {
  if (value === null || (typeof value !== "object" && typeof value !== "function" && typeof value !== "symbol")) return;
  walk(value, path, new Set());
}
