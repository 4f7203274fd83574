import type { Bundle } from "../../wire/protocol";
import type { CompiledModule } from "../save/compiler";

/**
 * The coordinator's record of what every node runs: each module's current
 * bundle, and the versions it had before (so a module can be rolled back).
 * A node that joins or restarts is given everything here before its entry starts.
 */
export class CodeStore {
  private readonly current = new Map<string, CompiledModule>();
  private readonly history = new Map<string, CompiledModule[]>();
  private order: string[] = [];

  /** Records a committed set (importees first, as the compiler orders them). */
  commit(modules: CompiledModule[]): void {
    for (const m of modules) {
      const prev = this.current.get(m.name);
      if (prev?.version === m.version) continue;
      if (prev) {
        const h = this.history.get(m.name) ?? [];
        h.push(prev);
        if (h.length > 20) h.shift();
        this.history.set(m.name, h);
      } else {
        this.order.push(m.name);
      }
      this.current.set(m.name, m);
    }
    this.order = topological(this.order, (name) => this.current.get(name)?.imports ?? []);
  }

  get(name: string): CompiledModule | undefined {
    return this.current.get(name);
  }

  has(name: string): boolean {
    return this.current.has(name);
  }

  names(): string[] {
    return [...this.order];
  }

  versions(): Record<string, string> {
    return Object.fromEntries(this.order.map((n) => [n, this.current.get(n)!.version]));
  }

  previous(name: string): CompiledModule | undefined {
    const h = this.history.get(name);
    return h?.[h.length - 1];
  }

  /** After a rolled-back set committed: each module's previous version is current again, and leaves the history. */
  rollback(modules: CompiledModule[]): void {
    for (const m of modules) {
      const h = this.history.get(m.name);
      if (h?.[h.length - 1]?.version === m.version) h.pop();
      this.current.set(m.name, m);
    }
  }

  /** Every current bundle, importees before importers. */
  bundles(): Bundle[] {
    return this.order.map((n) => toBundle(this.current.get(n)!));
  }
}

/** The shape travels with its version: a rollback, a catch-up and a joining node's welcome carry it as a save does. */
export function toBundle(m: CompiledModule): Bundle {
  return { name: m.name, version: m.version, code: m.code, imports: m.imports, ...(m.shape && { shape: m.shape }) };
}

/** Depth-first order so that a module's imports precede it; cycles keep their first-seen order. */
export function topological(names: string[], importsOf: (name: string) => string[]): string[] {
  const out: string[] = [];
  const state = new Map<string, "visiting" | "done">();
  const known = new Set(names);
  const visit = (n: string): void => {
    if (state.has(n)) return;
    state.set(n, "visiting");
    for (const dep of importsOf(n)) if (known.has(dep)) visit(dep);
    state.set(n, "done");
    out.push(n);
  };
  for (const n of names) visit(n);
  return out;
}
