import pino from "pino";
import { prettyFactory } from "pino-pretty";
import type { Logger } from "../../wire/log";

export type LogFormat = "pretty" | "json";

const COLOURS = [36, 35, 33, 32, 34, 91, 96, 95, 93, 92, 94];

/**
 * Renders the nodes' pino lines in the `up` terminal: pino-pretty with one
 * colour and prefix per node, or NDJSON passed through untouched for tools.
 */
export class LogRenderer {
  private readonly pretty: (obj: object) => string;
  private readonly colourOf = new Map<string, number>();
  private readonly width: number;

  constructor(
    private readonly format: LogFormat,
    names: string[],
    private readonly out: NodeJS.WritableStream = process.stdout,
    private readonly colour = format === "pretty" && Boolean((out as NodeJS.WriteStream).isTTY),
  ) {
    this.pretty = prettyFactory({
      colorize: this.colour,
      ignore: "pid,hostname,node",
      translateTime: "HH:MM:ss.l",
      singleLine: true,
    });
    names.forEach((n, i) => this.colourOf.set(n, COLOURS[i % COLOURS.length]!));
    this.width = Math.max(...names.map((n) => n.length), 5);
  }

  private prefix(node: string): string {
    const label = node.padEnd(this.width);
    if (!this.colour) return `${label} | `;
    const c = this.colourOf.get(node) ?? 37;
    return `\u001b[${c}m${label}\u001b[0m | `;
  }

  /** One line from a node (or from the coordinator, as "up"). */
  line(node: string, line: string): void {
    if (this.format === "json") {
      this.out.write(line.endsWith("\n") ? line : line + "\n");
      return;
    }
    let text = line;
    if (line.startsWith("{")) {
      try {
        text = this.pretty(JSON.parse(line) as object).replace(/\n$/, "");
      } catch {
        text = line;
      }
    }
    const prefix = this.prefix(node);
    this.out.write(
      text
        .split("\n")
        .map((l) => prefix + l)
        .join("\n") + "\n",
    );
  }
}

/** The coordinator logs through the same renderer as its nodes. */
export function coordinatorLogger(renderer: LogRenderer, level = process.env.DEVCLUSTER_LOG_LEVEL ?? "info"): Logger {
  return pino({ level, base: { pid: process.pid, node: "up" } }, { write: (line: string) => renderer.line("up", line.replace(/\n$/, "")) });
}
