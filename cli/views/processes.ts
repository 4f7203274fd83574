import { inspect } from "node:util";
import type { ProcessInfo } from "../../wire/protocol";
import { shortVersion, table } from "./tables";
import { bytes } from "./units";

export type ProcessRow = ProcessInfo & { memory?: number };

/** The one rendering of ps: `devcluster ps` and the shell's ps(); a table for people, the rows for --json. */
export class ProcessTable {
  readonly rows: ProcessRow[];
  constructor(rows: ProcessRow[]) {
    // node, then pid number: the order they were started in
    this.rows = [...rows].sort((a, b) => (a.pid.node === b.pid.node ? a.pid.id - b.pid.id : a.pid.node < b.pid.node ? -1 : 1));
  }
  render(): string {
    if (this.rows.length === 0) return "(no processes)";
    return table([
      ["pid", "name", "module", "version", "mailbox", "handled", "memory", "status"],
      ...this.rows.map((r) => [
        r.pid.toString(),
        r.names.join(",") || "-",
        r.module,
        shortVersion(r.version),
        String(r.mailbox),
        String(r.handled),
        bytes(r.memory),
        r.status,
      ]),
    ]);
  }
  [inspect.custom](): string {
    return this.render();
  }
  toJSON(): ProcessRow[] {
    return this.rows;
  }
}
