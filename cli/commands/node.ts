import { createSocket } from "node:dgram";
import * as path from "node:path";
import { ClusterError } from "../../wire/errors";
import { loadKeys } from "../../wire/security";
import { LogRenderer, type LogFormat } from "../dev/logs";
import { loadConfig } from "../project/config";

export interface NodeCommandOptions {
  join: string;
  name: string;
  keys: string;
  host?: string;
  config: string;
  /** how its lines are shown here, as `up --log-format` */
  logFormat?: LogFormat;
  /** seconds to wait for the coordinator's welcome before exiting (default: keep trying) */
  timeout?: number;
}

/** The local address this machine uses to reach `host`: what the other machines reach us on. No packet is sent. */
function addressToward(host: string, port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
    socket.on("error", (err) => (socket.close(), reject(err)));
    socket.connect(port, host, () => {
      const { address } = socket.address();
      socket.close();
      resolve(address);
    });
  });
}

/**
 * `devcluster node --join tcp://10.0.0.1:4400 --name n4 --keys cluster.keys`:
 * runs one node of a cluster whose `up` runs on another machine, in this
 * checkout of the same project. The node gets every module's current
 * version from the coordinator before its entry starts, binds its peer
 * endpoint on this machine's address toward the coordinator (or --host),
 * and keeps running when the coordinator goes away, rejoining the next.
 */
export async function node(opts: NodeCommandOptions): Promise<number> {
  const m = /^tcp:\/\/\[?([^\]]+?)\]?:(\d+)$/.exec(opts.join);
  if (!m) throw new ClusterError("badarg", `--join ${opts.join} is not a coordinator endpoint like tcp://10.0.0.1:4400`);
  if (!/^[a-z][a-z0-9_-]*$/i.test(opts.name)) {
    throw new ClusterError("badarg", `--name ${opts.name} is not a node name: letters, digits, _ or -, starting with a letter`);
  }
  const keys = path.resolve(opts.keys);
  loadKeys(keys); // an unprotected or wrong key file is refused here, with why
  const config = loadConfig(opts.config);
  if (opts.timeout !== undefined && !(opts.timeout > 0)) throw new ClusterError("badarg", `--timeout ${opts.timeout}: give a number of seconds above 0`);
  const host = opts.host ?? (await addressToward(m[1]!, Number(m[2])));
  Object.assign(process.env, {
    DEVCLUSTER_NODE: opts.name,
    DEVCLUSTER_COORDINATOR: opts.join,
    DEVCLUSTER_KEYS: keys,
    DEVCLUSTER_SRC: config.srcDir,
    DEVCLUSTER_PROJECT: config.projectDir,
    DEVCLUSTER_HOST: host,
    DEVCLUSTER_JOINED: "1",
    ...(opts.timeout !== undefined ? { DEVCLUSTER_JOIN_TIMEOUT_MS: String(Math.round(opts.timeout * 1000)) } : {}),
  });
  // The node runs in this process and ends on SIGINT/SIGTERM; its lines show here as `up` shows a node's, and go to the coordinator.
  const renderer = new LogRenderer(opts.logFormat ?? "pretty", [opts.name]);
  // Loaded here, not at the CLI's start: the other commands need none of the runtime.
  const { runNode } = require("../../runtime/node/main") as typeof import("../../runtime/node/main");
  void runNode({ output: (line, stream) => renderer.line(opts.name, line, stream) });
  return new Promise<number>(() => undefined);
}
