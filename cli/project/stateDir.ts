import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";

/**
 * `.devcluster/` in the project folder is how commands find the running
 * cluster: the coordinator writes where it listens, and the key file admits
 * whoever can read it.
 */
export interface RunningCluster {
  cluster: string;
  endpoint: string;
  pid: number;
  configPath: string;
  startedAt: string;
}

export const stateDir = (projectDir: string): string => path.join(projectDir, ".devcluster");
export const keysFile = (projectDir: string): string => path.join(stateDir(projectDir), "keys.json");
const runningFile = (projectDir: string): string => path.join(stateDir(projectDir), "coordinator.json");

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The running coordinator of this project, or undefined (a stale file from a crashed `up` is ignored). */
export function readRunning(projectDir: string): RunningCluster | undefined {
  const file = runningFile(projectDir);
  if (!existsSync(file)) return undefined;
  try {
    const info = JSON.parse(readFileSync(file, "utf8")) as RunningCluster;
    return isAlive(info.pid) ? info : undefined;
  } catch {
    return undefined;
  }
}

export function writeRunning(projectDir: string, info: RunningCluster): void {
  mkdirSync(stateDir(projectDir), { recursive: true, mode: 0o700 });
  writeFileSync(runningFile(projectDir), JSON.stringify(info, null, 2) + "\n", { mode: 0o600 });
}

export function clearRunning(projectDir: string, pid = process.pid): void {
  const info = readRunning(projectDir);
  if (!info || info.pid === pid) rmSync(runningFile(projectDir), { force: true });
}
