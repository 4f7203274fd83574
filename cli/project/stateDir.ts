import { existsSync, linkSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
  /** the OS's start time of `pid` (Linux: /proc/<pid>/stat field 22), so a reused pid is not taken for it */
  procStart?: string;
}

export const stateDir = (projectDir: string): string => path.join(projectDir, ".devcluster");
export const keysFile = (projectDir: string): string => path.join(stateDir(projectDir), "keys.json");
const runningFile = (projectDir: string): string => path.join(stateDir(projectDir), "coordinator.json");

/**
 * When the OS started process `pid` (clock ticks since boot, /proc/<pid>/stat
 * field 22), or undefined where /proc does not tell. A pid is reused once its
 * process is gone; pid and start time together name one process.
 */
export function processStart(pid: number): string | undefined {
  const stat = procStat(pid);
  return stat?.[19];
}

/** The fields of /proc/<pid>/stat after the command name (which may hold spaces): [0] is the state. */
function procStat(pid: number): string[] | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8");
    return text.slice(text.lastIndexOf(")") + 2).split(" ");
  } catch {
    return undefined;
  }
}

/**
 * Whether process `pid` runs: it exists, is not a zombie (an exited process
 * its parent has not reaped is gone for every purpose of ours), and, given
 * `start`, is the very process that was started then, not a later one that
 * got the same pid.
 */
export function isAlive(pid: number, start?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  const stat = procStat(pid);
  if (!stat) return true; // no /proc: signal 0 is all we can tell
  if (stat[0] === "Z" || stat[0] === "X") return false;
  return start === undefined || stat[19] === start;
}

/** The running coordinator of this project, or undefined (a stale file from a crashed `up`, or one naming a reused pid, is ignored). */
export function readRunning(projectDir: string): RunningCluster | undefined {
  const file = runningFile(projectDir);
  if (!existsSync(file)) return undefined;
  try {
    const info = JSON.parse(readFileSync(file, "utf8")) as RunningCluster;
    return isAlive(info.pid, info.procStart) ? info : undefined;
  } catch {
    return undefined;
  }
}

const lockFile = (projectDir: string): string => path.join(stateDir(projectDir), "up.lock");

interface LockHolder {
  pid: number;
  procStart?: string;
}

/**
 * One `up` per project: takes `.devcluster/up.lock` atomically (a hard link
 * of a file already written, which fails if the lock exists), before `up`
 * reads keys or compiles anything. Returns undefined when taken, or the
 * live holder. A lock whose holder is gone, a zombie, or a later process
 * with a reused pid is stale and is taken over.
 */
export function acquireLock(projectDir: string): LockHolder | undefined {
  mkdirSync(stateDir(projectDir), { recursive: true, mode: 0o700 });
  const lock = lockFile(projectDir);
  const me: LockHolder = { pid: process.pid, procStart: processStart(process.pid) };
  const tmp = `${lock}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(me) + "\n", { mode: 0o600 });
  try {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(tmp, lock);
        return undefined;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      }
      let text: string;
      try {
        text = readFileSync(lock, "utf8");
      } catch {
        continue; // released between our link and our read: try again
      }
      let holder: LockHolder | undefined;
      try {
        holder = JSON.parse(text) as LockHolder;
      } catch {
        holder = undefined; // a lock being written has its content already (it is linked whole), so this one is garbage
      }
      if (holder && isAlive(holder.pid, holder.procStart)) return holder;
      // Stale: remove it only if it is still the one we read, then race for it again.
      try {
        if (readFileSync(lock, "utf8") === text) rmSync(lock, { force: true });
      } catch {
        // gone already
      }
    }
    throw new Error(`could not take ${lock}: it keeps changing; is another \`devcluster up\` starting here?`);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Gives the lock back, if this process holds it. */
export function releaseLock(projectDir: string, pid = process.pid): void {
  const lock = lockFile(projectDir);
  try {
    if ((JSON.parse(readFileSync(lock, "utf8")) as LockHolder).pid === pid) rmSync(lock, { force: true });
  } catch {
    // not ours, or not there
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
