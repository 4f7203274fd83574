/**
 * The shell's answer values: how a helper's result prints at the prompt
 * (util.inspect) and as --eval's JSON, kept apart from the helpers that make them.
 */
import { inspect } from "node:util";
import { RENDERED } from "../../wire/protocol";
import type { DiskDrift } from "../dev/diskDrift";
import { driftLines } from "../views/history";
import { shortVersion, table } from "../views/tables";

/** A state that could not travel (it holds a socket, a function): the node's util.inspect of it. */
export class Rendered {
  constructor(readonly text: string) {}
  [inspect.custom](): string {
    return this.text;
  }
  toJSON(): string {
    return this.text;
  }
}

export function unrender(value: unknown): unknown {
  if (value !== null && typeof value === "object" && RENDERED in value) return new Rendered(String((value as Record<string, unknown>)[RENDERED]));
  return value;
}

/** Per-node answers, as rpc:multicall gives them: a value, or the error that node gave. */
export class PerNode {
  constructor(readonly results: Record<string, { ok: true; value: unknown } | { ok: false; error: string }>) {}
  [inspect.custom](_depth: number, options: { colors?: boolean }): string {
    return Object.entries(this.results)
      .map(([node, r]) => `${node}: ${r.ok ? inspect(unrender(r.value), { depth: 6, colors: options.colors, breakLength: 100 }) : `error: ${r.error}`}`)
      .join("\n");
  }
  toJSON(): unknown {
    return Object.fromEntries(Object.entries(this.results).map(([n, r]) => [n, r.ok ? unrender(r.value) : { error: r.error }]));
  }
}

/** versions() output: which version each node runs, and old versions still in use. */
export class VersionTable {
  constructor(
    readonly byNode: Record<string, Record<string, { current: string; old?: string; oldProcesses: string[] }>>,
    /** modules that run another version than their file on disk */
    readonly drift: DiskDrift[] = [],
  ) {}
  [inspect.custom](): string {
    const rows = [["module", "node", "current", "old", "still on old"]];
    const modules = [...new Set(Object.values(this.byNode).flatMap((m) => Object.keys(m)))].sort();
    for (const m of modules) {
      for (const [node, mods] of Object.entries(this.byNode)) {
        const v = mods[m];
        if (v) rows.push([m, node, shortVersion(v.current), shortVersion(v.old), v.oldProcesses.join(" ") || "-"]);
      }
    }
    return [table(rows), ...driftLines(this.drift)].join("\n");
  }
  toJSON(): unknown {
    return this.drift.length ? { ...this.byNode, drift: this.drift } : this.byNode;
  }
}
