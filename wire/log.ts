import pino from "pino";

export type Logger = pino.Logger;

/**
 * Every node logs pino JSON to stdout; the `up` terminal renders it. Tests and
 * embedders pass their own destination or `silent`.
 */
export function createLogger(bindings: Record<string, unknown>, level = process.env.DEVCLUSTER_LOG_LEVEL ?? "info"): Logger {
  return pino({ level, base: { pid: process.pid, ...bindings } });
}
