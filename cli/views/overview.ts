import { inspect } from "node:util";
import type { ProcessInfo } from "../../wire/protocol";
import { table } from "./tables";

/**
 * The shell's i(), Erlang's `c:i()`: one table of every process on every
 * node, with what ps leaves out (links, monitors, supervisor, timers, owned
 * resources), and a total line.
 */
export class Overview {
  readonly rows: ProcessInfo[];
  constructor(
    rows: ProcessInfo[],
    readonly nodes: string[],
  ) {
    this.rows = [...rows].sort((a, b) => (a.pid.node === b.pid.node ? a.pid.id - b.pid.id : a.pid.node < b.pid.node ? -1 : 1));
  }

  render(): string {
    const pids = (list: unknown[] | undefined): string => (list && list.length ? list.map(String).join(" ") : "-");
    const body = table([
      ["pid", "name", "module", "status", "mailbox", "handled", "links", "monitors", "supervisor", "timers", "owns"],
      ...this.rows.map((r) => [
        r.pid.toString(),
        r.names.join(",") || "-",
        r.module,
        r.status,
        String(r.mailbox),
        String(r.handled),
        pids(r.links),
        pids(r.monitors),
        r.supervisor ? r.supervisor.toString() : "-",
        String(r.timers ?? 0),
        String(r.resources ?? 0),
      ]),
    ]);
    const mailboxes = this.rows.reduce((n, r) => n + r.mailbox, 0);
    return `${body}\n${this.rows.length} processes on ${this.nodes.length} node${this.nodes.length === 1 ? "" : "s"} (${this.nodes.join(", ")}), ${mailboxes} messages waiting`;
  }

  [inspect.custom](): string {
    return this.render();
  }

  toJSON(): ProcessInfo[] {
    return this.rows;
  }
}
