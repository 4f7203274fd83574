/**
 * Exported classes across versions (docs/design.md §4.2): one stable proxy per
 * class name, methods behind trampolines, the instances of every version, and
 * what a new version adds to them (its fields, its `migrate` hook).
 */

/**
 * A class's migration hook: an instance method under this symbol, run at
 * COMMIT on every instance made before the save, after the new version's
 * fields were added to it. Exported from "devcluster" as `migrate`.
 */
export const MIGRATE: unique symbol = Symbol.for("devcluster.migrate");

/** family proxy -> its family, to see the class behind a proxy. */
const families = new WeakMap<object, ClassFamily>();

/**
 * The current class behind a family proxy, else `value` itself. Private
 * members do not see through a proxy (`this.#items` in a static method called
 * as `Registry.add()`, where `this` is the proxy), so esbuild's private
 * helpers get the class instead.
 */
export function classBehind(value: unknown): unknown {
  if (typeof value !== "function") return value;
  return families.get(value)?.current ?? value;
}

/** True for the proxy of an exported class: a module re-exporting it (a barrel) passes it on as it is. */
export function isFamilyProxy(value: unknown): boolean {
  return typeof value === "function" && families.has(value);
}

/** What a trampoline calls: a slot, or one method of a class family. */
export interface Target {
  fn: Function;
}

/** The version a class method was defined in, so a method trampoline can be pointed back at it on a revert. */
interface ClassVersion {
  /** Own methods of the prototype, as defined. */
  methods: Map<PropertyKey, Function>;
  /** Everything else on the prototype (accessors, data), copied as it is. */
  others: Record<PropertyKey, PropertyDescriptor>;
}

const ordinaryHasInstance = Function.prototype[Symbol.hasInstance];

/**
 * Every version of one exported class, behind one stable Proxy. Each method of
 * a version the module defined is replaced on its prototype by a trampoline, one
 * per method name for the life of the family, so a method held apart from its
 * object (`this.tock.bind(this)`, `const f = obj.m`) calls the current version
 * too (docs/design.md §4.2).
 */
export class ClassFamily {
  current: Function;
  readonly proxy: Function;
  /**
   * Prototypes of committed versions, patched on each reload. Weak, so a reload
   * costs O(versions that still have instances), not O(all reloads so far).
   */
  private prototypes: WeakRef<object>[] = [];
  /** The prototypes of versions the module defined, with their methods as defined. */
  private readonly versions = new WeakMap<object, ClassVersion>();
  private readonly members = new WeakSet<object>();
  /** One trampoline per method name, pointed at the current version's method. */
  private readonly methods = new Map<PropertyKey, Target & { trampoline: Function }>();
  /** `Symbol.hasInstance` of the proxy and of every version, so `instanceof` any of them accepts instances of all. */
  readonly hasInstance: (this: unknown, value: unknown) => boolean;

  constructor(
    first: Function,
    private readonly label: string,
  ) {
    this.current = first;
    const family = this;
    // Bound once so every version and the proxy share one checker.
    this.hasInstance = function (this: unknown, value: unknown): boolean {
      if (!family.members.has(this as object)) return ordinaryHasInstance.call(this, value);
      return family.isInstance(value);
    };
    // The proxy keeps the first version as target only because a Proxy needs one;
    // every trap that matters reads `family.current`. `prototype` is
    // non-configurable on a class, so the proxy must report the first version's,
    // which is fine: that prototype receives every later version's methods.
    this.proxy = new Proxy(first, {
      construct: (_t, args, newTarget) => Reflect.construct(family.current, args, newTarget === family.proxy ? family.current : newTarget),
      apply: (_t, thisArg, args) => Reflect.apply(family.current, thisArg, args),
      get: (target, key, receiver) => {
        if (key === Symbol.hasInstance) return family.hasInstance;
        if (key === "prototype") return Reflect.get(target, key);
        return Reflect.get(family.current, key, receiver === family.proxy ? family.current : receiver);
      },
      set: (_t, key, value, receiver) => Reflect.set(family.current, key, value, receiver === family.proxy ? family.current : receiver),
      has: (_t, key) => key in family.current,
    });
    this.members.add(this.proxy);
    families.set(this.proxy, this);
  }

  private isInstance(value: unknown): boolean {
    if (value === null || (typeof value !== "object" && typeof value !== "function")) return false;
    const live = this.current.prototype as object;
    for (let p = Object.getPrototypeOf(value); p !== null; p = Object.getPrototypeOf(p)) {
      if (p === live || this.versions.has(p)) return true;
    }
    return false;
  }

  /**
   * `klass` just became current: point every method trampoline at its methods,
   * give every earlier prototype its shape, so existing instances run the new
   * code, and make `instanceof` on any version (raw or through the facade)
   * accept instances of all of them. Committing a version seen before (a
   * revert) points everything back at it. A class the module did not define
   * (`owned` false: re-exported from npm) is never touched: other code of the
   * node uses it.
   */
  commit(klass: Function, owned: boolean): void {
    if (!owned) return;
    const proto = klass.prototype as object;
    const version = this.versions.get(proto) ?? this.adopt(klass, proto);
    // A method the new version dropped keeps its last body for the instances made before, as Erlang's old code runs
    // until purged: a closure V8 could not patch (a timer chain calling `this.heartbeat()` after a rename) goes on
    // running its old code, which the reload's report names, instead of dying on a TypeError. New instances lack it.
    for (const [key, m] of this.methods) m.fn = version.methods.get(key) ?? m.fn;
    const parent = Object.getPrototypeOf(proto);
    this.prototypes = this.prototypes.filter((ref) => {
      const earlier = ref.deref();
      if (earlier === undefined) return false;
      if (earlier !== proto) {
        for (const [key, m] of this.methods) {
          if (version.methods.has(key)) {
            Object.defineProperty(earlier, key, { value: m.trampoline, writable: true, enumerable: false, configurable: true });
          }
        }
        Object.defineProperties(earlier, version.others);
        // Only when the base class changed: setPrototypeOf deoptimizes every object using that prototype.
        if (Object.getPrototypeOf(earlier) !== parent) Object.setPrototypeOf(earlier, parent);
      }
      return true;
    });
  }

  /** First commit of a version: records its methods and puts the family's trampolines in their place. */
  private adopt(klass: Function, proto: object): ClassVersion {
    const version: ClassVersion = { methods: new Map(), others: {} };
    for (const key of Reflect.ownKeys(proto)) {
      if (key === "constructor") continue;
      const d = Object.getOwnPropertyDescriptor(proto, key)!;
      if (typeof d.value !== "function" || isClass(d.value as Function)) {
        version.others[key] = d;
        continue;
      }
      const fn = methodRaw.get(d.value as Function) ?? (d.value as Function);
      version.methods.set(key, fn);
      let m = this.methods.get(key);
      if (!m) {
        const target: Target = { fn };
        m = Object.assign(target, { trampoline: named(trampoline(target), fn) });
        this.methods.set(key, m);
      }
      Object.defineProperty(proto, key, { ...d, value: m.trampoline });
    }
    this.versions.set(proto, version);
    this.prototypes.push(new WeakRef(proto));
    this.members.add(klass);
    if (!Object.prototype.hasOwnProperty.call(klass, Symbol.hasInstance)) {
      Object.defineProperty(klass, Symbol.hasInstance, { value: this.hasInstance, configurable: true });
    }
    return version;
  }

  /** What the family's trampoline for method `key` calls now (undefined: no version had it). */
  method(key: PropertyKey): Function | undefined {
    return this.methods.get(key)?.fn;
  }
}

/** Source-defined classes only: built-ins such as Map print as `function Map() { [native code] }`, so they are never patched. */
export function isClass(fn: Function): boolean {
  return Function.prototype.toString.call(fn).startsWith("class");
}

/** Per-version method trampolines (see `ModuleEntry.defineClass`) -> the method as defined. */
export const methodRaw = new WeakMap<Function, Function>();

/**
 * The functions as defined behind the table's trampolines (an exported class's
 * methods, an exported function declaration): once their version is replaced,
 * what reaches them is routed to the current version (an old-version process
 * excepted, which the report names through codeChange), so an old text among
 * them is not old code that runs. The search for what still runs old code
 * (liveEdit.ts) runs inside the node on the heap's functions and reads this set
 * through the global symbol, having no other way to reach it.
 */
export const routedFunctions = new WeakSet<Function>();
(globalThis as Record<symbol, unknown>)[Symbol.for("devcluster.routed")] = routedFunctions;

/** A function that forever calls whatever `target.fn` is now, keeping `this`, arguments, `new` and the result. */
export function trampoline(target: Target): Function {
  return function (this: unknown) {
    const fn = target.fn;
    // eslint-disable-next-line prefer-rest-params -- `arguments` avoids allocating an array per call
    return new.target ? Reflect.construct(fn, arguments, new.target) : Reflect.apply(fn, this, arguments);
  };
}

/** Gives `t` the name and length of `like`, so stacks and `fn.length` read as the user's function. */
export function named(t: Function, like: Function): Function {
  if (t.name !== like.name) Object.defineProperty(t, "name", { value: like.name, configurable: true });
  if (t.length !== like.length) Object.defineProperty(t, "length", { value: like.length, configurable: true });
  return t;
}

/** Each exported class -> what adds its instance fields to an instance that lacks them (instrument.ts puts it in a static block). */
const fieldAdders = new WeakMap<Function, (this: object) => void>();

/** Called by the bundle from each exported class's static block (instrument.ts). */
export function registerFields(klass: Function, add: (this: object) => void): void {
  fieldAdders.set(klass, add);
}

/**
 * A public field added to an instance that lacks it, as the class's
 * constructor adds it: defined ([[Define]]) for a class field, set (`assign`,
 * a setter on the prototype runs) for `this.n = 0` in a constructor.
 */
export function addField(obj: object, key: PropertyKey, init: () => unknown, assign = false): void {
  if (Object.prototype.hasOwnProperty.call(obj, key)) return;
  if (assign) (obj as Record<PropertyKey, unknown>)[key] = init();
  else Object.defineProperty(obj, key, { value: init(), writable: true, enumerable: true, configurable: true });
}

/** A lowered `#private` field (a WeakMap) or private method brand (a WeakSet) added to an instance that lacks it. */
export function addPrivateField(obj: object, member: WeakMap<object, unknown> | WeakSet<object>, init?: () => unknown): void {
  if (member.has(obj)) return;
  if (member instanceof WeakSet) member.add(obj);
  else member.set(obj, init?.());
}

/**
 * The instances of one exported class, made by any of its versions, as weak
 * references, each with the module version that made it. Recorded in every
 * constructor through a private field the loader adds (instrument.ts). Measured
 * on this machine (2 cores, loaded): 1,000,000 constructions of a two-field
 * class made 1,000 per event-loop turn cost 17-37 ms plain and 160-240 ms
 * recorded (0.15-0.2 µs each); made all in one turn, 2 µs each, since V8 keeps
 * every WeakRef's target alive to the end of the turn. The inspector's
 * `Runtime.queryObjects`, which costs nothing per construction, took 170 ms per
 * query on an 18 MB heap (1.9 s with 2,000,000 objects), a pause of the node at
 * every commit that adds a field.
 */
export class LiveInstances {
  private refs: WeakRef<object>[] = [];
  private madeBy: string[] = [];
  private kept = 0;

  add(obj: object, version: string): void {
    this.refs.push(new WeakRef(obj));
    this.madeBy.push(version);
    // Dead references go when the list has doubled since the last sweep: amortized O(1) per instance.
    if (this.refs.length > 2 * this.kept + 64) this.sweep();
  }

  /** The instances alive now that a version other than `version` made. */
  madeBefore(version: string): object[] {
    this.sweep();
    const out: object[] = [];
    for (let i = 0; i < this.refs.length; i++) {
      if (this.madeBy[i] !== version) out.push(this.refs[i]!.deref()!);
    }
    return out;
  }

  private sweep(): void {
    const refs: WeakRef<object>[] = [];
    const madeBy: string[] = [];
    for (let i = 0; i < this.refs.length; i++) {
      if (this.refs[i]!.deref() === undefined) continue;
      refs.push(this.refs[i]!);
      madeBy.push(this.madeBy[i]!);
    }
    this.refs = refs;
    this.madeBy = madeBy;
    this.kept = refs.length;
  }
}

/** Instances a commit could not migrate: the first error, and how many of how many failed. */
export interface MigrationProblem {
  /** `module.Export` */
  label: string;
  failed: number;
  total: number;
  err: unknown;
}

/**
 * Brings instances made by earlier versions to `klass`, the version just
 * committed (docs/design.md §4.2): the instance fields it declares that an
 * instance lacks are added, in declaration order, with their initializers run
 * on that instance; then its `[migrate](fromVersion)` hook, when it has one,
 * runs on each (not on a revert, `from` undefined). One instance failing does
 * not stop the others.
 */
export function migrateInstances(klass: Function, instances: readonly object[], from: string | undefined, label: string): MigrationProblem | undefined {
  const add = fieldAdders.get(klass);
  const hook = from === undefined ? undefined : (Object.getOwnPropertyDescriptor(klass.prototype as object, MIGRATE)?.value as unknown);
  if (!add && typeof hook !== "function") return undefined;
  let failed = 0;
  let first: unknown;
  for (const obj of instances) {
    try {
      add?.call(obj);
      if (typeof hook === "function") hook.call(obj, from);
    } catch (err) {
      if (failed++ === 0) first = err;
    }
  }
  return failed > 0 ? { label, failed, total: instances.length, err: first } : undefined;
}
