import { addField, addPrivateField, classBehind, registerFields } from "./classFamily";
import type { Instance, ModuleEntry } from "./moduleTable";

type Helper = (a: unknown, b: unknown, c: unknown, d: unknown) => unknown;

/**
 * What the instrumented bundle of `instance` calls for its classes
 * (instrument.ts, docs/design.md §4.2): `track` records each instance of an
 * exported class, `fields` registers how to add a class's fields to an old
 * instance, `field` and `privateField` add one, `priv` hands out the WeakMap
 * or WeakSet every version shares for a lowered `#private` member, and
 * esbuild's private helpers see the class behind a family's proxy.
 */
export function classHelpers(entry: ModuleEntry, instance: Instance) {
  return {
    track: (obj: object, key: string) => entry.track(key, obj, instance),
    fields: registerFields,
    field: addField,
    privateField: addPrivateField,
    priv: <T extends WeakMap<object, unknown> | WeakSet<object>>(key: string, fresh: T): T => entry.privateMember(key, fresh),
    // A family's proxy stands for its class (`this` in a static method called as `Registry.add()`); private members only see the class.
    __privateGet: unproxied(0),
    __privateSet: unproxied(0),
    __privateAdd: unproxied(0),
    __privateMethod: unproxied(0),
    __privateIn: unproxied(1),
  };
}

/**
 * esbuild's private helper with the class behind a family proxy in argument
 * `at`, in place of the proxy. Fixed arity, helper looked up once: a rest
 * parameter doubled the cost of a private read (23 -> 50-65 ns), this adds 2-13 ns.
 */
function unproxied(at: 0 | 1) {
  return (esbuild: () => Helper): Helper => {
    let helper: Helper | undefined;
    return at === 0 ? (a, b, c, d) => (helper ??= esbuild())(classBehind(a), b, c, d) : (a, b, c, d) => (helper ??= esbuild())(a, classBehind(b), c, d);
  };
}
