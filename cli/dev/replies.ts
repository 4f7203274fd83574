import { ClusterError, isClusterError } from "../../wire/errors";
import type { ExpectOptions, PendingReplies } from "../../wire/pending";

/**
 * {@link PendingReplies.expect} with the deadline's error worded as the CLI has
 * always worded it for people ("node n1 did not answer ps within 10000 ms"):
 * the helper's generic "... timed out after" would change what users read.
 * Only for waiters that resolve with the raw answer (an error answer included),
 * so a `timeout` rejection here is always the deadline's own, never one that
 * came over the wire from a node's call.
 */
export function expectWithin<Key, T, Tag>(
  pending: PendingReplies<Key, T, Tag>,
  key: Key,
  opts: ExpectOptions<Tag> & { timeoutMs: number },
  timeoutMessage: string,
): Promise<T> {
  return pending.expect(key, opts).catch((err: unknown) => {
    throw isClusterError(err, "timeout") ? new ClusterError("timeout", timeoutMessage) : err;
  });
}
