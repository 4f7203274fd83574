import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";
import type { Dealer } from "zeromq";
import { decodeClient, encode, type ClientMessage, type ClientRequest } from "../../wire/protocol";
import { ClusterError } from "../../wire/errors";
import { PendingReplies } from "../../wire/pending";
import { loadKeys } from "../../wire/security";
import { Outbox, secureDealer } from "../../wire/transport";
import { keysFile, readRunning, runningFile, type RunningCluster } from "../project/stateDir";
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
  /** set when the endpoint refused the connection before it ever took one: nothing listens there */
  private nobody?: ClusterError;
  /** the coordinator was reached once (a connect event, or any answer: the event can come too late to be seen) */
  private connected = false;

  private constructor(
    readonly running: RunningCluster,
    private readonly socket: Dealer,
    projectDir: string,
  ) {
    this.out = new Outbox(socket, () => undefined);
    void this.serve();
    // A coordinator.json that outlived its `up` (a crash, a pid the OS gave to another process that
    // looks alive to us): a refused connect says at once that nothing listens, instead of a request's 15 s deadline.
    // Any of these means the endpoint took the connection once; a `disconnect` comes before the retries after it.
    for (const event of ["connect", "handshake", "disconnect"] as const) socket.events.on(event, () => (this.connected = true));
    socket.events.on("connect:retry", () => {
      if (this.connected || this.nobody) return;
      this.nobody = new ClusterError(
        "not_running",
        `no cluster is running in ${projectDir}: .devcluster/coordinator.json names pid ${running.pid}, but nothing listens at ${running.endpoint} ` +
          `(an \`up\` that crashed left it). Start one with \`devcluster up\`.`,
      );
      this.pending.failAll(() => this.nobody!);
    });
    // After the listeners: the socket's monitor sees only events from its start on, and a loopback connect can be done
    // before a monitor opened after it, which then took the first retry after a coordinator died for "nothing listens".
    socket.connect(running.endpoint);
  }

  static connect(projectDir: string): ClusterClient {
    const running = readRunning(projectDir);
    // The keys the running `up` was started with, which a `keys rotate` since then does not change; keys.json for an `up` that did not write them.
    const keys = running?.secretKey ? runningFile(projectDir) : keysFile(projectDir);
    if (!running || !existsSync(keys)) throw notRunning(projectDir);
    const socket = secureDealer(loadKeys(keys), `client-${process.pid}-${randomBytes(4).toString("hex")}`);
    return new ClusterClient(running, socket, projectDir);
  }

  private async serve(): Promise<void> {
    try {
      for await (const [frame] of this.socket) {
        this.connected = true;
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
    if (this.nobody) throw this.nobody;
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
