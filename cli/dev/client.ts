import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import type { Dealer } from "zeromq";
import { decodeClient, encode, type ClientMessage, type ClientRequest } from "../../wire/protocol";
import { ClusterError } from "../../wire/errors";
import { PendingReplies } from "../../wire/pending";
import { loadKeys } from "../../wire/security";
import { Outbox, secureDealer } from "../../wire/transport";
import { keysFile, readRunning, type RunningCluster } from "../project/stateDir";
import { expectWithin } from "./replies";

type Response = Extract<ClientMessage, { type: "response" }>;

/** What every command and the shell say when no `devcluster up` runs in the project. */
export function notRunning(projectDir: string): ClusterError {
  return new ClusterError("not_running", `no cluster is running in ${projectDir}: start one with \`devcluster up\``);
}

/**
 * What commands and the shell use to talk to a running coordinator: one
 * DEALER, requests matched to responses by id, each with a deadline.
 */
export class ClusterClient {
  private readonly pending = new PendingReplies<number, Response>();
  private readonly out: Outbox;
  private nextId = 1;
  private closed = false;

  private constructor(
    readonly running: RunningCluster,
    private readonly socket: Dealer,
  ) {
    this.out = new Outbox(socket, () => undefined);
    void this.serve();
  }

  static connect(projectDir: string): ClusterClient {
    const running = readRunning(projectDir);
    if (!running || !existsSync(keysFile(projectDir))) throw notRunning(projectDir);
    const socket = secureDealer(loadKeys(keysFile(projectDir)), `client-${process.pid}-${randomBytes(4).toString("hex")}`);
    socket.connect(running.endpoint);
    return new ClusterClient(running, socket);
  }

  private async serve(): Promise<void> {
    try {
      for await (const [frame] of this.socket) {
        const r = decodeClient(frame);
        if (!r.ok || r.msg.type !== "response") continue;
        this.pending.resolve(r.msg.id, r.msg);
      }
    } catch {
      // closed
    }
  }

  /** Requests sent and not answered yet. */
  get waiting(): number {
    return this.pending.size;
  }

  async request<T = unknown>(req: ClientRequest, timeoutMs = 15_000): Promise<T> {
    const id = this.nextId++;
    let frame: Buffer;
    try {
      frame = encode({ type: "request", id, req });
    } catch (err) {
      const hint = /Promise/.test((err as Error).message) ? "; await a Promise before passing it" : "";
      throw new ClusterError("not_serializable", `an argument cannot be sent to the cluster (${(err as Error).message})${hint}`, { cause: err });
    }
    const answer = expectWithin(
      this.pending,
      id,
      { timeoutMs, what: `${req.type} request to the coordinator` },
      `the coordinator (pid ${this.running.pid}) did not answer ${req.type} within ${timeoutMs} ms`,
    );
    this.out.push([frame]);
    const res = await answer;
    if (!res.ok) throw ClusterError.fromWire(res.error ?? { code: "error", message: "request failed" });
    return res.value as T;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    // A request still out would otherwise never settle, and a shell line waiting on it would block every later line.
    this.pending.failAll(() => new ClusterError("disconnected", `the connection to the coordinator (pid ${this.running.pid}) closed before it answered`));
    this.out.close();
    this.socket.close();
  }
}
