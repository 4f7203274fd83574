/**
 * A module's own exported classes across its versions, for its {@link ModuleEntry}:
 * each method a trampoline to the current version, the instances every version
 * made, the lowered `#private` members they share, and their migration at commit.
 */
import {
  isClass,
  LiveInstances,
  methodRaw,
  migrateInstances,
  named,
  routedFunctions,
  trampoline,
  type ClassFamily,
  type MigrationProblem,
  type Target,
} from "./classFamily";

/** What {@link ModuleClasses} reads of one version of the module (moduleTable.ts `Instance`). */
export interface ClassVersion {
  readonly version: string;
  readonly exports: Record<string, unknown>;
  /** The bundle's code; absent: every class counts as its own. */
  readonly code?: string;
  /** Set once a newer version replaced this one. */
  readonly replaced?: boolean;
}

/** What {@link ModuleClasses} needs of the entry that owns it. */
export interface ClassHost {
  readonly name: string;
  /** The class family export `key` had, whatever `key` is now. */
  family(key: string): ClassFamily | undefined;
  /** True when export `key` is a class now. */
  exportsClass(key: string): boolean;
}

export class ModuleClasses {
  /** Classes this module's bundles defined (they handed them to {@link define}); any other class is not its own. */
  private readonly defined = new WeakSet<Function>();
  /** Export name -> the instances of that class, all versions. */
  private readonly instances = new Map<string, LiveInstances>();
  /** The WeakMap or WeakSet of each lowered `#private` member, shared by every version (see {@link privateMember}). */
  private readonly privates = new Map<string, WeakMap<object, unknown> | WeakSet<object>>();
  /** What the last commit could not migrate; the loader logs and clears it. */
  readonly problems: MigrationProblem[] = [];

  constructor(private readonly host: ClassHost) {}

  /**
   * Called by the bundle right after it defines its exported class `klass`
   * (export name `key`), before any of its top-level code runs: each method
   * becomes a trampoline that calls this version's method until `instance` is
   * replaced, then the family's current one. So a method bound at load
   * (`setInterval(this.tock.bind(this))` in a constructor) follows later versions too.
   */
  define(instance: ClassVersion, key: string, klass: Function): void {
    const proto = klass.prototype as object | undefined;
    if (!proto) return;
    this.defined.add(klass);
    const host = this.host;
    for (const name of Reflect.ownKeys(proto)) {
      if (name === "constructor") continue;
      const d = Object.getOwnPropertyDescriptor(proto, name)!;
      if (typeof d.value !== "function" || isClass(d.value as Function)) continue;
      const raw = d.value as Function;
      const target: Target = {
        get fn(): Function {
          if (!instance.replaced) return raw;
          return host.family(key)?.method(name) ?? raw;
        },
      };
      const t = named(trampoline(target), raw);
      methodRaw.set(t, raw);
      routedFunctions.add(raw);
      Object.defineProperty(proto, name, { ...d, value: t });
    }
  }

  /** Called by each constructor of exported class `key` (instrument.ts), so a commit can reach the instances made before it. */
  track(key: string, obj: object, instance: ClassVersion): void {
    let live = this.instances.get(key);
    if (!live) this.instances.set(key, (live = new LiveInstances()));
    live.add(obj, instance.version);
  }

  /**
   * The WeakMap (a `#field`) or WeakSet (the brand of `#methods`) esbuild made
   * for a lowered private member, as every version of the module shares it:
   * the first version's, so instances made before a save keep their private
   * state under the new methods. `key` names the member across versions (bundleShape.ts).
   */
  privateMember<T extends WeakMap<object, unknown> | WeakSet<object>>(key: string, fresh: T): T {
    const known = this.privates.get(key);
    if (known && Object.getPrototypeOf(known) === Object.getPrototypeOf(fresh)) return known as T;
    this.privates.set(key, fresh);
    return fresh;
  }

  /** Patches each class family for `instance`, then brings the instances made before it to its shape (fields, `migrate` hook). */
  commit(instance: ClassVersion, from: string | undefined): void {
    const done = new Set<Function>();
    for (const key of Object.keys(instance.exports)) {
      if (!this.host.exportsClass(key)) continue;
      const family = this.host.family(key)!;
      const klass = family.current;
      const owned = this.defined.has(klass) || owns(instance, klass);
      family.commit(klass, owned);
      const live = this.instances.get(key);
      if (!owned || !live || done.has(klass)) continue;
      done.add(klass);
      const problem = migrateInstances(klass, live.madeBefore(instance.version), from, `${this.host.name}.${key}`);
      if (problem) this.problems.push(problem);
    }
  }
}

/** True when `instance` defined `klass` itself (its source text is in the bundle), rather than re-exporting it from npm. */
function owns(instance: ClassVersion, klass: Function): boolean {
  return instance.code === undefined || instance.code.includes(Function.prototype.toString.call(klass));
}
