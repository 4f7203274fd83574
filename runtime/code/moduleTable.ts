import type { HotInstance } from "./hot";
import { ClassFamily, isClass, isFamilyProxy, routedFunctions, named, trampoline, type MigrationProblem, type Target } from "./classFamily";
import { ModuleClasses } from "./moduleClasses";

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
  /** Exports that are a `let` or `var` the module assigns again: importers read the binding as it is now, function or not. */
  readonly bindings?: ReadonlySet<string>;
}

type Mode = "function" | "class" | "value" | "binding" | "reexport" | "absent";

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

/** Own trampolines (see {@link ModuleEntry.ownFunction}) -> the function they stand for in their version. */
const ownRaw = new WeakMap<Function, Function>();
const rawViews = new WeakMap<Instance, Record<string, unknown>>();

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
  /** Its own exported classes across versions: method trampolines, instances, `#private` members, migration. */
  private readonly classes: ModuleClasses;

  constructor(readonly name: string) {
    // esbuild's `__toESM` reads this to treat the facade as an ES module namespace.
    Object.defineProperty(this.facade, "__esModule", { value: true });
    this.classes = new ModuleClasses({
      name,
      family: (key) => this.slots.get(key)?.family,
      exportsClass: (key) => this.slots.get(key)?.mode === "class",
    });
  }

  /** What the last commit could not migrate; the loader logs and clears it. */
  get problems(): MigrationProblem[] {
    return this.classes.problems;
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
    this.classes.commit(instance, this.old?.version);
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
    if (current) this.classes.commit(current, undefined);
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
    routedFunctions.add(raw);
    return t;
  }

  /** Called by the bundle right after it defines its exported class `klass` (export name `key`): see {@link ModuleClasses.define}. */
  defineClass(instance: Instance, key: string, klass: Function): void {
    this.classes.define(instance, key, klass);
  }

  /** Called by each constructor of exported class `key` (instrument.ts), so a commit can reach the instances made before it. */
  track(key: string, obj: object, instance: Instance): void {
    this.classes.track(key, obj, instance);
  }

  /** The `#private` member `key` as every version of the module shares it: see {@link ModuleClasses.privateMember}. */
  privateMember<T extends WeakMap<object, unknown> | WeakSet<object>>(key: string, fresh: T): T {
    return this.classes.privateMember(key, fresh);
  }

  private point(instance: Instance | undefined): void {
    this.live = instance;
    const exports = instance?.exports ?? {};
    const seen = new Set<string>();
    for (const key of Object.keys(exports)) {
      seen.add(key);
      const exported = exports[key];
      let value = exported;
      if (typeof value === "function") value = ownRaw.get(value) ?? value;
      const slot = this.slot(key);
      if (instance!.bindings?.has(key)) {
        slot.fn = this.binding(key);
        this.setMode(key, slot, "binding");
      } else if (isFamilyProxy(value)) {
        // Another module's class proxy (a barrel's `export { Widget } from`) is passed on as it is, so `new Widget()` constructs the class.
        slot.fn = this.notAFunction(key, instance!.version);
        this.setMode(key, slot, "value");
      } else if (typeof value === "function" && isClass(value)) {
        slot.family ??= new ClassFamily(value, `${this.name}.${key}`);
        slot.family.current = value;
        slot.fn = this.notAFunction(key, instance!.version);
        this.setMode(key, slot, "class");
      } else if (typeof value === "function") {
        slot.fn = value;
        const t = (slot.trampoline ??= trampoline(slot));
        named(t, value);
        mirror(t, exported as Function);
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
      case "binding": {
        // A `let` the module reassigns, read as it is now (an ES live binding). A function in it is handed out as the
        // slot's trampoline, which calls whatever the binding holds at each call: a listener registered with it follows
        // both the module's reassignments and later versions.
        const get = (): unknown => {
          const v = this.live?.exports[key];
          if (typeof v !== "function" || isClass(v) || isFamilyProxy(v)) return v;
          return named((slot.trampoline ??= trampoline(slot)), v);
        };
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

  /** What a held trampoline of `key` calls once `key` is a live binding: the function bound now. */
  private binding(key: string): Function {
    const entry = this;
    return function (this: unknown) {
      const fn = entry.live?.exports[key];
      if (typeof fn !== "function") throw new TypeError(`${entry.name}.${key} holds ${typeof fn}, not a function, now.`);
      // eslint-disable-next-line prefer-rest-params -- `arguments` avoids allocating an array per call
      return new.target ? Reflect.construct(fn, arguments, new.target) : Reflect.apply(fn, this, arguments);
    };
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

/**
 * Shows on trampoline `t` the properties of the exported function
 * (`health.path = "/health"`), whenever the module sets them: the function is
 * the trampoline's prototype, so a read the trampoline does not answer itself
 * (its name, length, call, bind do) reaches the function as it is now.
 */
function mirror(t: Function, holder: Function): void {
  if (Object.getPrototypeOf(t) === holder) return;
  try {
    Object.setPrototypeOf(t, holder);
  } catch {
    // A cycle (a module re-exporting its own trampoline under another name): the trampoline keeps Function.prototype.
  }
}

/** What a slot re-exported from `source` calls: the source's current `key`. */
function forward(source: ModuleEntry, key: string): Function {
  return function (this: unknown) {
    const fn = source.facade[key] as Function;
    // eslint-disable-next-line prefer-rest-params -- `arguments` avoids allocating an array per call
    return new.target ? Reflect.construct(fn, arguments, new.target) : Reflect.apply(fn, this, arguments);
  };
}
