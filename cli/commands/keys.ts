import { existsSync } from "node:fs";
import * as path from "node:path";
import { curveKeyPair } from "zeromq";
import { ClusterError } from "../../wire/errors";
import { loadKeys, writeKeyFile } from "../../wire/security";
import { loadConfig } from "../project/config";
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
  process.stdout.write(
    `wrote ${out} (mode 0600): the keys of cluster ${config.name}. Copy it to the other machine (scp), then there:\n` +
      `  devcluster node --join tcp://<this host>:<port> --name <node> --keys ${path.basename(out)}\n` +
      (running?.publicKey && running.publicKey !== keys.publicKey
        ? `The running cluster (pid ${running.pid}) still uses the keys from before \`devcluster keys rotate\`: these admit a node once \`devcluster up\` restarts.\n`
        : ""),
  );
  return 0;
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
