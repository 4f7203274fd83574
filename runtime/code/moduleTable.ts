import type { HotInstance } from "./hot";

/** One evaluated version of a module. */
export interface Instance {
  readonly name: string;
  readonly version: string;
  /** Filled when its top level has run. */
  exports: Record<string, unknown>;
  readonly hot: HotInstance;
  /**
   * Node keeps a CommonJS source map in a map that is weak on the `Module`
   * object; holding it here keeps stack traces of this version mapped for as
   * long as the version can run.
   */
  readonly module: object;
  /**
   * The bundle's code. A class whose source text is not in it was not defined by
   * this module (an npm class it re-exports) and is never patched. Absent: every
   * class counts as its own.
   */
  readonly code?: string;
  /** Entries this version re-exports whole (`export * from`), recorded while it evaluated. */
  readonly stars?: readonly ModuleEntry[];
  /** Set once a newer version replaced this one: its own references to its exported functions then follow the current version. */
  replaced?: boolean;
}

type Mode = "function" | "class" | "value" | "reexport" | "absent";

/** The facade's record of one export name, kept for the life of the module name. */
interface Slot {
  mode: Mode;
  /** What the trampoline calls: the current version's function, or a thrower explaining why there is none. */
  fn: Function;
  trampoline?: Function;
  family?: ClassFamily;
  /** mode "reexport": the entry whose facade provides the name (`export * from`). */
  source?: ModuleEntry;
}

/** What a trampoline calls: a slot, or one method of a class family. */
interface Target {
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
class ClassFamily {
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
    for (const [key, m] of this.methods) m.fn = version.methods.get(key) ?? this.removed(key);
    const parent = Object.getPrototypeOf(proto);
    this.prototypes = this.prototypes.filter((ref) => {
      const earlier = ref.deref();
      if (earlier === undefined) return false;
      if (earlier !== proto) {
        for (const [key, m] of this.methods) {
          if (version.methods.has(key)) {
            Object.defineProperty(earlier, key, { value: m.trampoline, writable: true, enumerable: false, configurable: true });
          } else if (Object.getOwnPropertyDescriptor(earlier, key)?.value === m.trampoline) {
            Reflect.deleteProperty(earlier, key);
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

  private removed(key: PropertyKey): Function {
    const label = this.label;
    return function () {
      throw new TypeError(`${label}.prototype.${String(key)} was removed in the current version; a reference to the old method was kept.`);
    };
  }
}

/** Source-defined classes only: built-ins such as Map print as `function Map() { [native code] }`, so they are never patched. */
function isClass(fn: Function): boolean {
  return Function.prototype.toString.call(fn).startsWith("class");
}

/** Own trampolines (see {@link ModuleEntry.ownFunction}) -> the function they stand for in their version. */
const ownRaw = new WeakMap<Function, Function>();
const rawViews = new WeakMap<Instance, Record<string, unknown>>();
/** Per-version method trampolines (see {@link ModuleEntry.defineClass}) -> the method as defined. */
const methodRaw = new WeakMap<Function, Function>();

/**
 * The exports of exactly this version: its own trampolines replaced by the
 * functions they stand for, so a process still on the old version runs the old
 * code (docs/design.md §4.6). Values stay live getters. Built once per instance.
 */
export function rawExports(instance: Instance): Record<string, unknown> {
  let view = rawViews.get(instance);
  if (view) return view;
  const exports = instance.exports;
  view = {};
  for (const key of Object.keys(exports)) {
    const value = exports[key];
    const raw = typeof value === "function" ? ownRaw.get(value) : undefined;
    if (raw) Object.defineProperty(view, key, { value: raw, enumerable: true });
    else Object.defineProperty(view, key, { get: () => exports[key], enumerable: true });
  }
  rawViews.set(instance, view);
  return view;
}

/**
 * One module name in the table: its current and old version, and the facade
 * importers hold. The facade is created once and never replaced; retargeting it
 * is O(exports) and happens only at prepare and commit, so a call through it
 * costs one property read and an apply.
 */
export class ModuleEntry {
  /**
   * What `require("devcluster:project/<name>")` returns, for every version, and
   * what `import * as m` gets: it gains and loses names with each version
   * (docs/design.md §4.1).
   */
  readonly facade: Record<string, unknown> = {};
  /** `hot.data`, shared by every version of this module. */
  readonly data: Record<string, unknown> = {};
  current?: Instance;
  old?: Instance;
  /** The instance the facade points at: `current`, or a prepared one while its batch evaluates. */
  private live?: Instance;
  private readonly slots = new Map<string, Slot>();
  /** Entries that re-export this one whole (`export * from`): their names follow this one's. */
  private readonly dependents = new Set<ModuleEntry>();
  private pointing = false;

  constructor(readonly name: string) {
    // esbuild's `__toESM` reads this to treat the facade as an ES module namespace.
    Object.defineProperty(this.facade, "__esModule", { value: true });
  }

  /**
   * Points the facade at a prepared instance so later modules of the same
   * batch import it. Nothing else sees the change: prepare is synchronous and
   * {@link unstage} runs before it returns.
   */
  stage(instance: Instance): void {
    this.point(instance);
  }

  /** Points the facade back at the current version. */
  unstage(): void {
    if (this.live !== this.current) this.point(this.current);
  }

  /** old := current, current := `instance`; patches classes. Returns the instance that fell out of the table, if any. */
  install(instance: Instance): Instance | undefined {
    const dropped = this.old;
    if (this.current && this.current !== instance) this.current.replaced = true;
    this.old = this.current;
    this.current = instance;
    instance.replaced = false;
    this.point(instance);
    this.commitClasses(instance);
    return dropped;
  }

  /**
   * Undoes {@link install}s of one failed commit: `current` and `old` become
   * what they were, the facade and every class family point at `current`
   * again. `current` may be a fresh evaluation of the same version.
   */
  revert(current: Instance | undefined, old: Instance | undefined): void {
    this.current = current;
    this.old = old;
    if (current) current.replaced = false;
    this.point(current);
    if (current) this.commitClasses(current);
  }

  /**
   * The function a module's own code sees for its exported function
   * declaration `key` (the loader rebinds the local name to it before the top
   * level runs): `raw` while `instance` is current or still being prepared,
   * then whatever the facade's `key` is, so `setInterval(tick)` inside the
   * module follows later versions (docs/design.md §4.2).
   */
  ownFunction(instance: Instance, key: string, raw: Function): Function {
    const target: Target = {
      get fn(): Function {
        if (!instance.replaced) return raw;
        const now = entry.facade[key];
        return typeof now === "function" ? now : entry.slot(key).fn;
      },
    };
    const entry = this;
    const t = named(trampoline(target), raw);
    // `Tick.prototype.x = ...` at top level and `new Tick()` must see one prototype.
    if (Object.prototype.hasOwnProperty.call(raw, "prototype")) {
      Object.defineProperty(t, "prototype", { value: (raw as { prototype: unknown }).prototype, writable: true });
    }
    ownRaw.set(t, raw);
    return t;
  }

  /**
   * Called by the bundle right after it defines its exported class `klass`
   * (export name `key`), before any of its top-level code runs: each method
   * becomes a trampoline that calls this version's method until `instance` is
   * replaced, then the family's current one. So a method bound at load
   * (`setInterval(this.tock.bind(this))` in a constructor) follows later versions too.
   */
  defineClass(instance: Instance, key: string, klass: Function): void {
    const proto = klass.prototype as object | undefined;
    if (!proto) return;
    const entry = this;
    for (const name of Reflect.ownKeys(proto)) {
      if (name === "constructor") continue;
      const d = Object.getOwnPropertyDescriptor(proto, name)!;
      if (typeof d.value !== "function" || isClass(d.value as Function)) continue;
      const raw = d.value as Function;
      const target: Target = {
        get fn(): Function {
          if (!instance.replaced) return raw;
          return entry.slots.get(key)?.family?.method(name) ?? raw;
        },
      };
      const t = named(trampoline(target), raw);
      methodRaw.set(t, raw);
      Object.defineProperty(proto, name, { ...d, value: t });
    }
  }

  private commitClasses(instance: Instance): void {
    for (const key of Object.keys(instance.exports)) {
      const slot = this.slots.get(key);
      if (slot?.mode === "class") slot.family!.commit(slot.family!.current, owns(instance, slot.family!.current));
    }
  }

  private point(instance: Instance | undefined): void {
    this.live = instance;
    const exports = instance?.exports ?? {};
    const seen = new Set<string>();
    for (const key of Object.keys(exports)) {
      seen.add(key);
      let value = exports[key];
      if (typeof value === "function") value = ownRaw.get(value) ?? value;
      const slot = this.slot(key);
      if (typeof value === "function" && isClass(value)) {
        slot.family ??= new ClassFamily(value, `${this.name}.${key}`);
        slot.family.current = value;
        slot.fn = this.notAFunction(key, instance!.version);
        this.setMode(key, slot, "class");
      } else if (typeof value === "function") {
        slot.fn = value;
        const t = (slot.trampoline ??= trampoline(slot));
        named(t, value);
        this.setMode(key, slot, "function");
      } else {
        slot.fn = this.notAFunction(key, instance!.version);
        this.setMode(key, slot, "value");
      }
    }
    // `export * from`: the names the source has now, after the module's own (ES: own names shadow star names; the first star wins).
    for (const source of instance?.stars ?? []) {
      source.dependents.add(this);
      for (const key of Object.keys(source.facade)) {
        if (key === "default" || seen.has(key)) continue;
        seen.add(key);
        const slot = this.slot(key);
        slot.fn = forward(source, key);
        slot.source = source;
        slot.mode = "absent"; // always redefine: the source may differ from last time
        this.setMode(key, slot, "reexport");
      }
    }
    for (const [key, slot] of this.slots) {
      if (seen.has(key)) continue;
      slot.fn = this.notExported(key, instance?.version);
      this.setMode(key, slot, "absent");
    }
    if (this.pointing) return;
    this.pointing = true;
    try {
      for (const d of this.dependents) d.point(d.live);
    } finally {
      this.pointing = false;
    }
  }

  private slot(key: string): Slot {
    let slot = this.slots.get(key);
    if (!slot) {
      slot = { mode: "absent", fn: this.notExported(key, undefined) };
      this.slots.set(key, slot);
    }
    return slot;
  }

  private setMode(key: string, slot: Slot, mode: Mode): void {
    if (slot.mode === mode) return;
    slot.mode = mode;
    switch (mode) {
      case "function":
        Object.defineProperty(this.facade, key, { value: slot.trampoline, enumerable: true, configurable: true });
        break;
      case "class":
        Object.defineProperty(this.facade, key, { value: slot.family!.proxy, enumerable: true, configurable: true });
        break;
      case "value": {
        // A getter, not a copy: esbuild exports `let` bindings as live getters and importers expect the live value.
        const get = (): unknown => this.live?.exports[key];
        Object.defineProperty(this.facade, key, { get, enumerable: true, configurable: true });
        break;
      }
      case "reexport": {
        // The source's own facade value: its trampoline or class proxy, the same object for both importers.
        const source = slot.source!;
        const get = (): unknown => source.facade[key];
        Object.defineProperty(this.facade, key, { get, enumerable: true, configurable: true });
        break;
      }
      case "absent":
        delete this.facade[key];
        break;
      default: {
        const unhandled: never = mode;
        return unhandled;
      }
    }
  }

  private notExported(key: string, version: string | undefined): Function {
    const name = this.name;
    return function () {
      throw new TypeError(
        version === undefined
          ? `${name}.${key} was called before ${name} was loaded. Import order: the module that calls it must load after ${name}.`
          : `${name} no longer exports ${key} (version ${version}). A reference to the old export was kept; export ${key} again or drop the reference.`,
      );
    };
  }

  private notAFunction(key: string, version: string): Function {
    const name = this.name;
    return function () {
      throw new TypeError(`${name}.${key} is no longer a plain function in version ${version}; a reference to the old one was kept.`);
    };
  }
}

/** True when `instance` defined `klass` itself (its source text is in the bundle), rather than re-exporting it from npm. */
function owns(instance: Instance, klass: Function): boolean {
  return instance.code === undefined || instance.code.includes(Function.prototype.toString.call(klass));
}

/** What a slot re-exported from `source` calls: the source's current `key`. */
function forward(source: ModuleEntry, key: string): Function {
  return function (this: unknown) {
    const fn = source.facade[key] as Function;
    // eslint-disable-next-line prefer-rest-params -- `arguments` avoids allocating an array per call
    return new.target ? Reflect.construct(fn, arguments, new.target) : Reflect.apply(fn, this, arguments);
  };
}

/** A function that forever calls whatever `target.fn` is now, keeping `this`, arguments, `new` and the result. */
function trampoline(target: Target): Function {
  return function (this: unknown) {
    const fn = target.fn;
    // eslint-disable-next-line prefer-rest-params -- `arguments` avoids allocating an array per call
    return new.target ? Reflect.construct(fn, arguments, new.target) : Reflect.apply(fn, this, arguments);
  };
}

/** Gives `t` the name and length of `like`, so stacks and `fn.length` read as the user's function. */
function named(t: Function, like: Function): Function {
  if (t.name !== like.name) Object.defineProperty(t, "name", { value: like.name, configurable: true });
  if (t.length !== like.length) Object.defineProperty(t, "length", { value: like.length, configurable: true });
  return t;
}
