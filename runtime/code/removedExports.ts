import type { ModuleEntry, Instance } from "./moduleTable";
import type { BundleShape } from "./bundleShape";
import { removedExports } from "./refusals";

/**
 * Rule of docs/design.md §6: an export another module still imports is not
 * removed or renamed, unless the importer changes in the same reload. What
 * each module imports and exports is read from the bundles (`bundleShape.ts`);
 * a module whose text does not show its exports is not judged.
 * `entries` is the table before the reload; `shapeOfInstance` gives the shape
 * an instance was evaluated from.
 */
export function checkRemovedExports(
  shapes: ReadonlyMap<string, BundleShape>,
  entries: ReadonlyMap<string, ModuleEntry>,
  shapeOfInstance: (instance: Instance) => BundleShape | undefined,
): void {
  const after = (name: string, seen = new Set<string>()): Set<string> | undefined => {
    const shape = shapes.get(name);
    const current = entries.get(name)?.current;
    let own: Iterable<string> | undefined;
    let stars: readonly string[];
    if (shape) {
      own = shape.exports?.keys();
      stars = shape.stars;
    } else {
      // Not in this reload: its own names stay, and those it re-exports follow its sources.
      own = current && Object.keys(current.exports);
      stars = current?.stars?.map((e) => e.name) ?? [];
    }
    if (!own) return undefined;
    const names = new Set(own);
    if (seen.has(name)) return names;
    seen.add(name);
    for (const star of stars) {
      const more = after(star, seen);
      if (!more) return undefined;
      for (const n of more) if (n !== "default") names.add(n);
    }
    return names;
  };
  const removed = new Map<string, string[]>(); // importee -> ["importer (a, b)"]
  const importers: [string, BundleShape][] = [...shapes];
  for (const [name, e] of entries) {
    const shape = e.current && !shapes.has(name) ? shapeOfInstance(e.current) : undefined;
    if (shape) importers.push([name, shape]);
  }
  const cache = new Map<string, Set<string> | undefined>();
  for (const [importer, shape] of importers) {
    for (const [importee, names] of shape.uses) {
      const entry = entries.get(importee);
      if (!entry?.current) continue;
      if (!cache.has(importee)) cache.set(importee, after(importee));
      const now = cache.get(importee);
      if (!now) continue;
      const gone = [...names].filter((n) => !now.has(n) && Object.prototype.hasOwnProperty.call(entry.facade, n));
      if (gone.length > 0) removed.set(importee, [...(removed.get(importee) ?? []), `${importer} (${gone.join(", ")})`]);
    }
  }
  if (removed.size > 0) throw removedExports(removed);
}
