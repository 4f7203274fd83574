import pino from "pino";

export type Logger = pino.Logger;

/**
 * Every node logs pino JSON to stdout; the `up` terminal renders it. Tests and
 * embedders pass their own destination or `silent`.
 *
 * Written synchronously, not through pino's default asynchronous stdout: that
 * one flushes at exit with sonic-boom's flushSync, which retries any failed
 * write for ever (it only gives up on EAGAIN's retry hook, and EPIPE is not
 * EAGAIN). A node whose `up` was killed (stdout's reader gone) with a line
 * still buffered then hung in process.exit, re-parented and ignoring SIGTERM:
 * the lifeline had fired, the exit never finished (seen with gdb: Atomics.wait
 * under flushSync). A synchronous destination keeps no buffer to flush, and on
 * EPIPE pino turns it into a no-op.
 */
export function createLogger(
  bindings: Record<string, unknown>,
  level = process.env.DEVCLUSTER_LOG_LEVEL ?? "info",
  /** where the lines go instead of stdout (a joined node renders and ships its own) */
  dest?: pino.DestinationStream,
): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } }, dest ?? pino.destination({ dest: process.stdout.fd ?? 1, sync: true }));
}
