import { ClusterError } from "../../wire/errors";
import type { ReloadSource } from "../../wire/protocol";
import type { CompiledModule } from "../save/compiler";

/** How a version came to run: started with `up`, a saved file, `reload`, or `rollback` (from the CLI or the shell). */
export type VersionSource = "up" | "save" | "reload" | "rollback";

/** One version a module ran since `up`, in the order they ran (a version rolled back to appears again). */
export interface VersionEntry {
  version: string;
  /** ISO time the transaction that loaded it committed */
  at: string;
  source: VersionSource;
  /** who asked for a reload or rollback: "cli" or "shell" */
  by?: ReloadSource;
  /** bytes of its compiled bundle */
  size: number;
}

/** What `devcluster history` and the shell's history() show: each entry with the nodes that run it now. */
export interface HistoryReport {
  modules: { module: string; versions: (VersionEntry & { current: boolean; nodes: string[] })[] }[];
}

/**
 * Every version each module ran since `up`, with the bundle of each, so
 * `rollback --to` can load any of them again. The code store keeps only what
 * a plain rollback needs (the versions before the current one, bounded);
 * this keeps the record people read. Bundles are kept once per version.
 */
export class VersionHistory {
  private readonly entries = new Map<string, VersionEntry[]>();
  private readonly bundles = new Map<string, Map<string, CompiledModule>>();

  /** A committed set; a module whose version did not change is not a new entry. */
  record(modules: CompiledModule[], source: VersionSource, by?: ReloadSource, at = new Date()): void {
    for (const m of modules) {
      const list = this.entries.get(m.name) ?? [];
      if (list[list.length - 1]?.version === m.version) continue;
      list.push({ version: m.version, at: at.toISOString(), source, ...(by ? { by } : {}), size: Buffer.byteLength(m.code) });
      this.entries.set(m.name, list);
      const kept = this.bundles.get(m.name) ?? new Map<string, CompiledModule>();
      kept.set(m.version, m);
      this.bundles.set(m.name, kept);
    }
  }

  modules(): string[] {
    return [...this.entries.keys()];
  }

  of(module: string): VersionEntry[] {
    return [...(this.entries.get(module) ?? [])];
  }

  /**
   * The bundle of `module`'s version that starts with `prefix` (as `history`
   * shows it, 8 digits, or any unambiguous prefix). Throws no_history when
   * none matches, badarg when several do.
   */
  find(module: string, prefix: string): CompiledModule {
    const kept = this.bundles.get(module);
    if (!kept) throw new ClusterError("unknown_module", `unknown module ${module} (modules: ${this.modules().join(", ")})`);
    const matches = [...kept.keys()].filter((v) => v.startsWith(prefix.toLowerCase()));
    const listed = [...kept.keys()].map((v) => v.slice(0, 8)).join(", ");
    if (prefix === "" || matches.length === 0) {
      throw new ClusterError(
        "no_history",
        `${module} has run no version ${prefix || "''"} since up (its versions: ${listed}; see devcluster history ${module})`,
      );
    }
    if (matches.length > 1) throw new ClusterError("badarg", `${prefix} is more than one version of ${module} (${matches.join(", ")}): give more digits`);
    return kept.get(matches[0]!)!;
  }
}

/** A transaction's source as history reads it; a catch-up loads no new version, so it records none. */
export function versionSource(info: { source: ReloadSource; rollback?: boolean }): VersionSource | undefined {
  if (info.source === "catch-up") return undefined;
  if (info.rollback) return "rollback";
  return info.source === "save" ? "save" : "reload";
}
