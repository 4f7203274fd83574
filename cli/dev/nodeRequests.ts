import { ClusterError, type ErrorCode } from "../../wire/errors";
import { PendingReplies } from "../../wire/pending";
import type { ControlMessage, NodeOp } from "../../wire/protocol";
import { expectWithin } from "./replies";

type NodeResponse = Extract<ControlMessage, { type: "nodeResponse" }>;

/** What relaying needs of its coordinator. */
export interface NodeRequestsHost {
  /** whether the node is a member now */
  has(node: string): boolean;
  nodeNames(): string[];
  sendTo(node: string, msg: ControlMessage): void;
}

/**
 * Operations relayed to one node (`ps`, `info`, the shell's and the observer
 * page's ops) and the answers awaited for them, each tagged with the node
 * that answers it, so a node that goes down fails its requests at once.
 */
export class NodeRequests {
  /** relayed requests by id, tagged with the node that answers them */
  private readonly pending = new PendingReplies<number, NodeResponse>();
  private requestSeq = 0;

  constructor(private readonly host: NodeRequestsHost) {}

  /** Relays an operation to a node and waits for its answer. */
  async request(node: string, op: NodeOp, timeoutMs = 10_000): Promise<unknown> {
    if (!this.host.has(node)) {
      const known = this.host.nodeNames().join(", ");
      throw new ClusterError("nodedown", `unknown or down node ${node} (nodes: ${known})`);
    }
    const id = ++this.requestSeq;
    const answer = expectWithin(
      this.pending,
      id,
      { timeoutMs, tag: node, what: `${op.op} on node ${node}` },
      `node ${node} did not answer ${op.op} within ${timeoutMs} ms`,
    );
    this.host.sendTo(node, { type: "nodeRequest", id, op });
    const msg = await answer;
    if (!msg.ok) throw ClusterError.fromWire(msg.error ?? { code: "error", message: "node error" });
    return msg.value;
  }

  answer(msg: NodeResponse): void {
    this.pending.resolve(msg.id, msg);
  }

  /** Requests that will get no answer fail now rather than at their timeout (which would also keep `up` alive after stop). */
  fail(which: (node: string) => boolean, code: ErrorCode, message: string): void {
    this.pending.failWhere(
      (node) => node !== undefined && which(node),
      () => new ClusterError(code, message),
    );
  }
}
