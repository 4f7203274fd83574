import { existsSync } from "node:fs";
import { networkInterfaces } from "node:os";
import * as path from "node:path";
import { curveKeyPair } from "zeromq";
import { ClusterError } from "../../wire/errors";
import { loadKeys, writeKeyFile } from "../../wire/security";
import { isLoopbackHost, loadConfig } from "../project/config";
import { checkStateDir, ensureStateDir, keysFile, readRunning } from "../project/stateDir";

/**
 * `devcluster keys export <file>`: what another machine needs to join this
 * cluster (its name and key pair), in a file of mode 0600. Whoever holds it
 * can push code into every node: copy it as you would an ssh private key.
 */
export function exportKeys(configPath: string, file: string): number {
  const config = loadConfig(configPath);
  const source = keysFile(config.projectDir);
  if (!checkStateDir(config.projectDir) || !existsSync(source)) {
    throw new ClusterError("not_running", `${source} does not exist yet: run \`devcluster up\` once, which makes the cluster's keys`);
  }
  const keys = loadKeys(source);
  const out = path.resolve(file);
  writeKeyFile(out, { cluster: config.name, ...keys });
  const running = readRunning(config.projectDir);
  const join = joinAddress(config.coordinator, running?.endpoint);
  process.stdout.write(
    `wrote ${out} (mode 0600): the keys of cluster ${config.name}. Copy it to the other machine (scp), then there:\n` +
      `  devcluster node --join ${join.endpoint} --name <node> --keys ${path.basename(out)}\n` +
      (join.note ? `${join.note}\n` : "") +
      (running?.publicKey && running.publicKey !== keys.publicKey
        ? `The running cluster (pid ${running.pid}) still uses the keys from before \`devcluster keys rotate\`: these admit a node once \`devcluster up\` restarts.\n`
        : ""),
  );
  return 0;
}

/** This machine's addresses other machines may reach (not loopback, not link-local IPv6). */
function machineAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && !a.internal && !(a.family === "IPv6" && a.address.startsWith("fe80")))
    .map((a) => a!.address);
}

/**
 * Where another machine reaches this cluster's coordinator: the running
 * `up`'s endpoint (its real port when the config says 0), else the config's.
 * `note` says why the endpoint may not work from elsewhere, and what to change.
 */
export function joinAddress(coordinator: { host: string; port: number }, running?: string): { endpoint: string; note?: string } {
  const m = running ? /^tcp:\/\/\[?([^\]]+?)\]?:(\d+)$/.exec(running) : null;
  const host = m ? m[1]! : coordinator.host;
  const port = m ? m[2]! : coordinator.port === 0 ? "<port>" : String(coordinator.port);
  const portNote =
    port === "<port>"
      ? ' The coordinator takes any free port (coordinator.port 0) and `up` is not running: start it, or set "port" in cluster.config.json.'
      : "";
  const url = (h: string): string => `tcp://${h.includes(":") ? `[${h}]` : h}:${port}`;
  const mine = machineAddresses();
  if (isLoopbackHost(host)) {
    const shown = mine[0] ?? "<this machine's address>";
    return {
      endpoint: url(host),
      note:
        `The coordinator listens on ${host}, which no other machine reaches: set "coordinator": { "host": "${shown}" } in cluster.config.json, ` +
        `restart \`devcluster up\` and join with ${url(shown)}` +
        (mine.length > 1 ? ` (this machine's addresses: ${mine.join(", ")})` : "") +
        (portNote ? `.${portNote}` : ""),
    };
  }
  if (host === "0.0.0.0" || host === "::") {
    const first = mine[0] ?? "<this machine's address>";
    return {
      endpoint: url(first),
      ...(mine.length > 1 || portNote
        ? { note: `${mine.length > 1 ? `Or another of this machine's addresses: ${mine.slice(1).join(", ")}.` : ""}${portNote}`.trim() }
        : {}),
    };
  }
  return { endpoint: url(host), ...(portNote ? { note: portNote.trim() } : {}) };
}

/**
 * `devcluster keys rotate`: a new key pair for the project. The old one
 * admits nobody once `up` runs with the new one; every machine needs a new
 * export, and every node rejoins.
 */
export function rotateKeys(configPath: string): number {
  const config = loadConfig(configPath);
  const file = keysFile(config.projectDir);
  ensureStateDir(config.projectDir);
  if (existsSync(file)) loadKeys(file); // an unprotected old key is reported, not silently replaced
  writeKeyFile(file, curveKeyPair());
  const running = readRunning(config.projectDir);
  process.stdout.write(
    `wrote new keys to ${file} (mode 0600); the old keys no longer admit anyone once \`devcluster up\` starts with these.\n` +
      (running
        ? `The running cluster (pid ${running.pid}) goes on with the old keys until it restarts (stop, status and the shell still reach it): restart \`devcluster up\`, `
        : "") +
      `export them again (devcluster keys export) to every other machine and rejoin its nodes.\n`,
  );
  return 0;
}
