import type { Logger } from "../../wire/log";
import { formatWarning, type CompiledModule } from "../save/compiler";

/** esbuild's warnings, once per version sent: they do not stop a save, but one (call-import-namespace) predicts a crash. */
export class BuildWarnings {
  /** per module, the esbuild warnings its last version sent was shown with */
  private readonly shown = new Map<string, Set<string>>();

  constructor(private readonly log: Logger) {}

  /**
   * Each esbuild warning once: a module saved again with the same warning (an edit elsewhere in it) does not
   * repeat it, and one that went away and comes back is shown again. Keyed without the line number, so an
   * edit above the warned line does not make it new.
   */
  show(modules: CompiledModule[]): void {
    for (const m of modules) {
      const before = this.shown.get(m.name);
      const now = new Set<string>();
      for (const w of m.warnings ?? []) {
        const key = `${w.id}\u0000${w.file}\u0000${w.lineText}\u0000${w.text}`;
        now.add(key);
        if (!before?.has(key)) this.log.warn({ file: w.file, line: w.line, warning: w.id }, formatWarning(w));
      }
      this.shown.set(m.name, now);
    }
  }
}
