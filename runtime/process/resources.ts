/**
 * What a process owns besides its state: sockets, servers, streams, handles
 * that it opened or was handed. Like a port linked to an Erlang process, an
 * owned resource is closed when its owner ends for any reason, "kill"
 * included (terminate does not run then, so it cannot be the only place that
 * closes things).
 */
import { ClusterError } from "../../wire/errors";

/** Anything with one of these: a net.Socket or Server, a stream, a WebSocket, a file handle, a child process wrapper. */
export type Ownable = { destroy(): unknown } | { close(): unknown } | { end(): unknown };

/** The method that releases it at once: destroy before close before end (end only half-closes a socket). */
function closer(resource: unknown): (() => unknown) | undefined {
  if (resource === null || (typeof resource !== "object" && typeof resource !== "function")) return undefined;
  const r = resource as Record<string, unknown>;
  for (const m of ["destroy", "close", "end"] as const) {
    const fn = r[m];
    if (typeof fn === "function") return () => (fn as () => unknown).call(resource);
  }
  return undefined;
}

export function checkOwnable(resource: unknown, what: string): asserts resource is Ownable {
  if (!closer(resource))
    throw new ClusterError("badarg", `${what}: expected something with destroy(), close() or end() (a socket, a server, a stream), got ${String(resource)}`);
}

/** Closes each resource; one that throws or rejects is reported and does not stop the others. */
export function release(resources: Set<Ownable>, failed: (err: unknown) => void): void {
  for (const r of [...resources]) {
    resources.delete(r);
    try {
      const out = closer(r)?.();
      if (out !== null && typeof out === "object" && typeof (out as { catch?: unknown }).catch === "function") (out as Promise<unknown>).catch(failed);
    } catch (err) {
      failed(err);
    }
  }
}
