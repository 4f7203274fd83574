/**
 * A node's requests waiting for their replies: calls, remote spawns, sys
 * operations and the coordinator's name answers. Each has a ref its reply
 * comes back with; one whose answering node goes down fails at once with
 * noconnection instead of waiting out its timeout.
 */
import { PendingReplies } from "../../wire/pending";
import { ClusterError } from "../../wire/errors";
import type { Reply } from "../process/process";

export const DEFAULT_CALL_TIMEOUT_MS = 5000;

export class Calls {
  private readonly pending = new PendingReplies<number, unknown, string>();
  private nextRef = 1;

  /** `node` is this node's own name: a local request has no node that can go down under it. */
  constructor(private readonly node: string) {}

  /**
   * A fresh ref and the promise of its reply; `answeredBy` is the node that
   * will answer, if another one. Rejects with `timeout` after `timeoutMs`.
   */
  expect(timeoutMs: number | undefined, what: string, answeredBy?: string): { ref: number; promise: Promise<unknown> } {
    const ref = this.nextRef++;
    const tag = answeredBy !== undefined && answeredBy !== this.node ? answeredBy : undefined;
    const promise = this.pending.expect(ref, { what, ...(timeoutMs !== undefined ? { timeoutMs } : {}), ...(tag !== undefined ? { tag } : {}) });
    return { ref, promise };
  }

  /** Delivers a reply; one nobody waits for any more (late, or after a timeout) is dropped. */
  settle(ref: number, reply: Reply): void {
    if (reply.ok) this.pending.resolve(ref, reply.value);
    else this.pending.reject(ref, ClusterError.fromWire(reply.error));
  }

  /** Every request `node` was to answer fails with noconnection. */
  nodeDown(node: string): void {
    this.pending.failWhere(
      (tag) => tag === node,
      () => new ClusterError("noconnection", `node ${node} went down before it answered`),
    );
  }

  /** The node is closing: nobody will answer, and each caller must hear why. */
  close(): void {
    this.pending.failAll(() => new ClusterError("shutdown", `node ${this.node} is shutting down`));
  }

  get size(): number {
    return this.pending.size;
  }
}
