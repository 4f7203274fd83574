/**
 * A node's OS process. Started by the launcher (or `devcluster node --join`)
 * with its name, the coordinator endpoint and the key file in the environment.
 */
import * as api from "./api";
import { createLogger } from "./log";
import { ClusterNode } from "./node";
import { loadKeys } from "./security";

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
  const log = createLogger({ node: name });
  const node = new ClusterNode({
    name,
    coordinator: need("DEVCLUSTER_COORDINATOR"),
    keys: loadKeys(need("DEVCLUSTER_KEYS")),
    srcDir: need("DEVCLUSTER_SRC"),
    log,
    runtimeFor: (_module, hot) => Object.freeze({ ...api, hot }),
  });
  api.bindRuntime(node);

  // User code that throws outside any handler must not end the node.
  process.on("uncaughtException", (err) => log.error({ err }, "uncaught exception in user code"));
  process.on("unhandledRejection", (err) => log.error({ err }, "unhandled rejection in user code"));

  let stopping = false;
  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ why }, "node stopping");
    void node.close().finally(() => process.exit(0));
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  // The launcher holds our stdin: when it goes away, however it died, so do we.
  if (process.env.DEVCLUSTER_STDIN_LIFELINE === "1") {
    process.stdin.on("end", () => stop("launcher gone"));
    process.stdin.on("error", () => stop("launcher gone"));
    process.stdin.resume();
  }

  try {
    await node.start();
    log.info({ cluster: node.cluster, entry: node.entry }, "node started");
  } catch (err) {
    log.fatal({ err }, "node failed to start");
    node.reportStartFailure(err);
    // Give the report a moment to leave the socket, then exit: the launcher restarts us with backoff.
    setTimeout(() => process.exit(1), 200);
  }
}

void main();
