import type { HotInstance } from "./hot";

/** One evaluated version of a module. */
export interface Instance {
  readonly name: string;
  readonly version: string;
  readonly exports: Record<string, unknown>;
  readonly hot: HotInstance;
  /**
   * Node keeps a CommonJS source map in a map that is weak on the `Module`
   * object; holding it here keeps stack traces of this version mapped for as
   * long as the version can run.
   */
  readonly module: object;
}

type Mode = "function" | "class" | "value" | "absent";

/** The facade's record of one export name, kept for the life of the module name. */
interface Slot {
  mode: Mode;
  /** What the trampoline calls: the current version's function, or a thrower explaining why there is none. */
  fn: Function;
  trampoline?: Function;
  family?: ClassFamily;
}

const ordinaryHasInstance = Function.prototype[Symbol.hasInstance];

/** Every version of one exported class, behind one stable Proxy. */
class ClassFamily {
  current: Function;
  readonly proxy: Function;
  /**
   * Prototypes of committed versions, patched on each reload. Weak, so a reload
   * costs O(versions that still have instances), not O(all reloads so far).
   */
  private prototypes: WeakRef<object>[] = [];
  private readonly memberPrototypes = new WeakSet<object>();
  private readonly members = new WeakSet<object>();
  /** `Symbol.hasInstance` of the proxy and of every version, so `instanceof` any of them accepts instances of all. */
  readonly hasInstance: (this: unknown, value: unknown) => boolean;

  constructor(first: Function) {
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
      if (p === live || this.memberPrototypes.has(p)) return true;
    }
    return false;
  }

  /**
   * `klass` just became current: give every earlier prototype its methods, so
   * existing instances run the new code, and make `instanceof` on any version
   * (raw or through the facade) accept instances of all of them.
   */
  commit(klass: Function): void {
    const proto = klass.prototype as object;
    // Seen before: a module re-exporting a class it did not define (from npm), which must not be touched.
    if (this.memberPrototypes.has(proto)) return;
    this.prototypes.push(new WeakRef(proto));
    this.memberPrototypes.add(proto);
    this.members.add(klass);
    if (!Object.prototype.hasOwnProperty.call(klass, Symbol.hasInstance)) {
      Object.defineProperty(klass, Symbol.hasInstance, { value: this.hasInstance, configurable: true });
    }
    const descriptors: Record<PropertyKey, PropertyDescriptor> = Object.getOwnPropertyDescriptors(proto);
    Reflect.deleteProperty(descriptors, "constructor");
    const parent = Object.getPrototypeOf(proto);
    this.prototypes = this.prototypes.filter((ref) => {
      const earlier = ref.deref();
      if (earlier === undefined) return false;
      if (earlier !== proto) {
        Object.defineProperties(earlier, descriptors);
        // Only when the base class changed: setPrototypeOf deoptimizes every object using that prototype.
        if (Object.getPrototypeOf(earlier) !== parent) Object.setPrototypeOf(earlier, parent);
      }
      return true;
    });
  }
}

/** Source-defined classes only: built-ins such as Map print as `function Map() { [native code] }`, so they are never patched. */
function isClass(fn: Function): boolean {
  return Function.prototype.toString.call(fn).startsWith("class");
}

/**
 * One module name in the table: its current and old version, and the facade
 * importers hold. The facade is created once and never replaced; retargeting it
 * is O(exports) and happens only at prepare and commit, so a call through it
 * costs one property read and an apply.
 */
export class ModuleEntry {
  /** What `require("devcluster:project/<name>")` returns, for every version. */
  readonly facade: Record<string, unknown> = {};
  /** `hot.data`, shared by every version of this module. */
  readonly data: Record<string, unknown> = {};
  current?: Instance;
  old?: Instance;
  /** The instance the facade points at: `current`, or a prepared one while its batch evaluates. */
  private live?: Instance;
  private readonly slots = new Map<string, Slot>();

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
    this.old = this.current;
    this.current = instance;
    this.point(instance);
    for (const key of Object.keys(instance.exports)) {
      const slot = this.slots.get(key);
      if (slot?.mode === "class") slot.family!.commit(slot.family!.current);
    }
    return dropped;
  }

  private point(instance: Instance | undefined): void {
    this.live = instance;
    const exports = instance?.exports ?? {};
    const seen = new Set<string>();
    for (const key of Object.keys(exports)) {
      seen.add(key);
      const value = exports[key];
      const slot = this.slot(key);
      if (typeof value === "function" && isClass(value)) {
        slot.family ??= new ClassFamily(value);
        slot.family.current = value;
        slot.fn = this.notAFunction(key, instance!.version);
        this.setMode(key, slot, "class");
      } else if (typeof value === "function") {
        slot.fn = value;
        const t = (slot.trampoline ??= trampoline(slot));
        if (t.name !== value.name) Object.defineProperty(t, "name", { value: value.name, configurable: true });
        if (t.length !== value.length) Object.defineProperty(t, "length", { value: value.length, configurable: true });
        this.setMode(key, slot, "function");
      } else {
        slot.fn = this.notAFunction(key, instance!.version);
        this.setMode(key, slot, "value");
      }
    }
    for (const [key, slot] of this.slots) {
      if (seen.has(key)) continue;
      slot.fn = this.notExported(key, instance?.version);
      this.setMode(key, slot, "absent");
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

/** A function that forever calls whatever `slot.fn` is now, keeping `this`, arguments, `new` and the result. */
function trampoline(slot: Slot): Function {
  return function (this: unknown) {
    // eslint-disable-next-line prefer-rest-params -- `arguments` avoids allocating an array per call
    return new.target ? Reflect.construct(slot.fn, arguments, new.target) : Reflect.apply(slot.fn, this, arguments);
  };
}
