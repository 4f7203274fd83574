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

async function main(): Promise<void> {
  // Stack traces of user code point at .ts lines through the bundles' inline maps.
  process.setSourceMapsEnabled(true);
  const name = need("DEVCLUSTER_NODE");
  // `devcluster node --join`: no launcher holds it; it outlives its coordinator and rejoins the next one.
  const joined = process.env.DEVCLUSTER_JOINED === "1";
  // Errors in the log keep the user's frames and the source line of the first, not the runtime's (docs/design.md §8).
  const log = createLogger({ node: name }).child({}, { serializers: { err: logError } });
  const node = new ClusterNode({
    name,
    coordinator: need("DEVCLUSTER_COORDINATOR"),
    keys: loadKeys(need("DEVCLUSTER_KEYS")),
    // Nodes `up` started keep their keys in .devcluster/, whose ipc/ folder is theirs; a joined node's key file may lie anywhere, so it stays on tcp.
    ...(joined ? {} : { ipcDir: path.join(path.dirname(need("DEVCLUSTER_KEYS")), "ipc") }),
    srcDir: need("DEVCLUSTER_SRC"),
    log,
    ...(process.env.DEVCLUSTER_HOST ? { host: process.env.DEVCLUSTER_HOST } : {}),
    joined,
    ...(process.env.DEVCLUSTER_RESTORE ? { restoreFrom: process.env.DEVCLUSTER_RESTORE } : {}),
  });

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
    void node
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
    await node.start();
    log.info({ cluster: node.cluster, entry: node.entry }, "node started");
  } catch (err) {
    log.fatal({ err }, "node failed to start");
    if (joined) {
      // Nobody restarts a joined node: say why where its user looks, and end.
      process.stderr.write(`devcluster node: ${(err as Error).message}\n`);
      void node.close().finally(() => process.exit(1));
      return;
    }
    node.reportStartFailure(err);
    // Give the report a moment to leave the socket, then exit: the launcher restarts us with backoff.
    setTimeout(() => process.exit(1), 200);
  }
}

void main();
