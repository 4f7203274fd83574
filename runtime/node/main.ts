import * as path from "node:path";
/**
 * A node's OS process. Started by the launcher (or `devcluster node --join`)
 * with its name, the coordinator endpoint and the key file in the environment.
 */
import { createLogger } from "../../wire/log";
import { ClusterNode } from "./node";
import { loadKeys } from "../../wire/security";
import { logError } from "../process/reasons";

function need(name: string): string {
  const v = process.env[name];
  if (!v) {
    process.stderr.write(`devcluster node: ${name} is not set; nodes are started by \`devcluster up\`\n`);
    process.exit(2);
  }
  return v;
}

export interface RunOptions {
  /**
   * Every line this node writes (its pino lines, console output, anything
   * on stdout or stderr), in place of the raw stream: `devcluster node`
   * renders them as `up` does. The lines also go to the coordinator.
   */
  output?(line: string, stream: "stdout" | "stderr"): void;
}

/**
 * Sends every write to stdout and stderr, line by line, to `each`; what
 * `each` itself writes (the rendered line) passes through.
 */
function captureOutput(each: (line: string, stream: "stdout" | "stderr") => void): void {
  let inside = false;
  for (const stream of ["stdout", "stderr"] as const) {
    const target = process[stream];
    const raw = target.write.bind(target) as (chunk: unknown, ...rest: unknown[]) => boolean;
    let partial = "";
    target.write = ((chunk: unknown, ...rest: unknown[]): boolean => {
      if (inside) return raw(chunk, ...rest);
      const lines = (partial + (typeof chunk === "string" ? chunk : Buffer.from(chunk as Uint8Array).toString())).split("\n");
      partial = lines.pop() ?? "";
      inside = true;
      try {
        for (const line of lines) each(line, stream);
      } finally {
        inside = false;
      }
      const cb = rest.find((r) => typeof r === "function") as (() => void) | undefined;
      cb?.();
      return true;
    }) as typeof target.write;
  }
}

export async function runNode(opts: RunOptions = {}): Promise<void> {
  // Stack traces of user code point at .ts lines through the bundles' inline maps.
  process.setSourceMapsEnabled(true);
  const name = need("DEVCLUSTER_NODE");
  // `devcluster node --join`: no launcher holds it; it outlives its coordinator and rejoins the next one.
  const joined = process.env.DEVCLUSTER_JOINED === "1";
  const rawStderr = process.stderr.write.bind(process.stderr);
  let node: ClusterNode | undefined;
  const output = opts.output;
  if (output) {
    captureOutput((line, stream) => {
      node?.shipLog(line, stream);
      output(line, stream);
    });
  }
  const dest = output ? { write: (line: string) => void process.stdout.write(line) } : undefined;
  // Errors in the log keep the user's frames and the source line of the first, not the runtime's (docs/design.md §8).
  const log = createLogger({ node: name }, undefined, dest).child({}, { serializers: { err: logError } });
  node = new ClusterNode({
    name,
    coordinator: need("DEVCLUSTER_COORDINATOR"),
    keys: loadKeys(need("DEVCLUSTER_KEYS")),
    // Nodes `up` started keep their keys in .devcluster/, whose ipc/ folder is theirs; a joined node's key file may lie anywhere, so it stays on tcp.
    ...(joined ? {} : { ipcDir: path.join(path.dirname(need("DEVCLUSTER_KEYS")), "ipc") }),
    srcDir: need("DEVCLUSTER_SRC"),
    log,
    ...(process.env.DEVCLUSTER_HOST ? { host: process.env.DEVCLUSTER_HOST } : {}),
    joined,
    ...(process.env.DEVCLUSTER_JOIN_TIMEOUT_MS ? { joinTimeoutMs: Number(process.env.DEVCLUSTER_JOIN_TIMEOUT_MS) } : {}),
    ...(output ? { shipLogs: true } : {}),
    ...(process.env.DEVCLUSTER_RESTORE ? { restoreFrom: process.env.DEVCLUSTER_RESTORE } : {}),
  });
  const started = node;

  // User code that throws outside any handler must not end the node.
  const report = (what: string, err: unknown): void => {
    try {
      log.error({ err }, what);
    } catch {
      // a log line that cannot be written (stdout gone) must not become another uncaught exception
    }
  };
  process.on("uncaughtException", (err) => report("uncaught exception in user code", err));
  process.on("unhandledRejection", (err) => report("unhandled rejection in user code", err));

  let stopping = false;
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    // When `up` died our stdout has no reader: a log line then throws EPIPE, and nothing may stand between us and exit.
    setTimeout(() => process.exit(0), 2000).unref();
    try {
      if (why !== "launcher gone") log.info({ why }, "node stopping");
    } catch {
      // stdout is gone with the launcher
    }
    void started
      .close()
      .catch(() => undefined)
      .finally(() => process.exit(0));
  };
  process.stdout.on("error", () => stop("launcher gone"));
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  // The launcher holds our stdin: when it goes away, however it died, so do we.
  if (process.env.DEVCLUSTER_STDIN_LIFELINE === "1") {
    process.stdin.on("end", () => stop("launcher gone"));
    process.stdin.on("error", () => stop("launcher gone"));
    process.stdin.resume();
    // A second lifeline that needs no pipe: when the launcher dies we are re-parented.
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) stop("launcher gone");
    }, 1000).unref();
  }

  try {
    await started.start();
    log.info({ cluster: started.cluster, entry: started.entry }, "node started");
  } catch (err) {
    log.fatal({ err }, "node failed to start");
    if (joined) {
      // Nobody restarts a joined node: say why where its user looks, and end.
      rawStderr(`devcluster node: ${(err as Error).message}\n`);
      void started.close().finally(() => process.exit(1));
      return;
    }
    started.reportStartFailure(err);
    // Give the report a moment to leave the socket, then exit: the launcher restarts us with backoff.
    setTimeout(() => process.exit(1), 200);
  }
}

// Started by the launcher as a script; `devcluster node` calls runNode itself.
if (require.main === module) void runNode();
