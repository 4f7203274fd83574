/**
 * A joined node's output, shipped to its coordinator: no `up` reads its
 * stdout, so its lines travel on the control link instead (`logs` messages)
 * and reach `up`'s terminal, `devcluster logs`, the shell's logs() and the
 * observer like those of `up`'s own nodes. Lines are sent in batches; while
 * there is no coordinator to take them the newest are held (a bounded
 * number) and the count of those let go is said in a line of its own.
 */
import type { ControlMessage } from "../../wire/protocol";

type Line = { line: string; stream: "stdout" | "stderr" };

/** lines held while no coordinator takes them: the newest, as `logs` keeps the last lines */
export const HELD_LINES = 1000;
const BATCH_LINES = 200;
const BATCH_MS = 50;

export class LogShip {
  private held: Line[] = [];
  private dropped = 0;
  private timer?: NodeJS.Timeout;
  /** false until the coordinator welcomed this node: lines before go with the first batch after */
  private open = false;

  constructor(
    private readonly node: string,
    private readonly link: { readonly connected: boolean; send(msg: ControlMessage): void },
  ) {}

  line(line: string, stream: "stdout" | "stderr"): void {
    this.held.push({ line, stream });
    if (this.held.length > HELD_LINES) {
      this.dropped += this.held.length - HELD_LINES;
      this.held.splice(0, this.held.length - HELD_LINES);
    }
    if (this.held.length >= BATCH_LINES) this.flush();
    else if (!this.timer) {
      this.timer = setTimeout(() => this.flush(), BATCH_MS);
      this.timer.unref();
    }
  }

  /** The coordinator welcomed this node: what was held goes now. */
  start(): void {
    this.open = true;
    this.flush();
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (!this.open || !this.link.connected || this.held.length === 0) return;
    const lines = this.held;
    this.held = [];
    if (this.dropped > 0) {
      const msg = `${this.dropped} earlier lines of this node were not kept while no coordinator took them`;
      lines.unshift({ line: JSON.stringify({ level: 40, time: Date.now(), node: this.node, msg }), stream: "stdout" });
      this.dropped = 0;
    }
    this.link.send({ type: "logs", node: this.node, lines });
  }

  close(): void {
    clearTimeout(this.timer);
  }
}
