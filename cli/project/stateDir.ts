import { execFileSync } from "node:child_process";
import { existsSync, linkSync, readFileSync, rmSync } from "node:fs";
import * as path from "node:path";
import { ClusterError } from "../../wire/errors";
import type { ClusterKeys } from "../../wire/security";
import { checkOwnedDir, ensureOwnedDir, readOwned, writeNewOwned, writeOwned } from "../../wire/ownedFiles";

/**
 * `.devcluster/` in the project folder is how commands find the running
 * cluster: the coordinator writes where it listens, and the key file admits
 * whoever can read it.
 */
export interface RunningCluster extends Partial<ClusterKeys> {
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
/**
 * Where the running `up` listens, and the key pair it runs with (mode 0600, as
 * keys.json): `keys rotate` replaces keys.json while `up` goes on with the old
 * pair, and commands and restarted nodes must still reach it (issue 18, item 11).
 */
export const runningFile = (projectDir: string): string => path.join(stateDir(projectDir), "coordinator.json");

const STATE_DIR = "the state folder";

/**
 * Makes `.devcluster/` (0700) if needed and refuses one that another user
 * owns, others may write, or that is a symlink (docs/design.md §7): whoever
 * planted it chose its keys and where our writes go. Every command that
 * reads or writes state goes through here or {@link checkStateDir}.
 */
export function ensureStateDir(projectDir: string): string {
  const dir = stateDir(projectDir);
  ensureOwnedDir(dir, STATE_DIR);
  return dir;
}

/** As {@link ensureStateDir}, for a reader: an absent folder is fine (false), a foreign one is refused. */
export function checkStateDir(projectDir: string): boolean {
  const dir = stateDir(projectDir);
  try {
    checkOwnedDir(dir, STATE_DIR);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw err;
  }
  return true;
}

/** /proc exists here (Linux): a pid it does not show is gone, or another user's hidden by `hidepid`. */
const HAVE_PROC = existsSync("/proc/self/stat");

/**
 * When the OS started process `pid` (Linux: clock ticks since boot, /proc/<pid>/stat
 * field 22; elsewhere `ps -o lstart`), or undefined when it does not run or
 * cannot be seen. A pid is reused once its process is gone; pid and start
 * time together name one process.
 */
export function processStart(pid: number): string | undefined {
  if (HAVE_PROC) return procStat(pid)?.[19];
  return ps(pid, "lstart");
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

/** One field of `ps` for `pid` (where there is no /proc), or undefined. */
function ps(pid: number, field: "lstart" | "stat" | "command"): string | undefined {
  try {
    return execFileSync("ps", ["-o", `${field}=`, "-p", String(pid)], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() || undefined;
  } catch {
    return undefined;
  }
}

/** The command line of `pid`, or undefined. */
function commandLine(pid: number): string | undefined {
  if (!HAVE_PROC) return ps(pid, "command");
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return undefined;
  }
}

/**
 * Whether process `pid` runs: it exists, is ours, is not a zombie (an exited
 * process its parent has not reaped is gone for every purpose of ours), and,
 * given `start`, is the very process that was started then, not a later one
 * that got the same pid. A record without a start time (from an older `up`)
 * counts only while its pid runs devcluster's command.
 */
export function isAlive(pid: number, start?: string): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    // ESRCH: gone. EPERM: another user's process, so not an `up` of ours (which runs as the user who reads its files).
    return false;
  }
  const state = HAVE_PROC ? procStat(pid)?.[0] : ps(pid, "stat");
  if (state?.startsWith("Z") || state === "X") return false;
  if (start !== undefined) {
    const now = processStart(pid);
    // Not visible (another user's process behind hidepid) is not ours either; without /proc or ps there is nothing to compare.
    return now === start || (now === undefined && !HAVE_PROC && state === undefined);
  }
  const command = commandLine(pid);
  return command === undefined ? !HAVE_PROC : /devcluster|cli[\\/]main\.js/.test(command);
}

/** The running coordinator of this project, or undefined (a stale file from a crashed `up`, or one naming a reused pid, is ignored). */
export function readRunning(projectDir: string): RunningCluster | undefined {
  const file = runningFile(projectDir);
  if (!checkStateDir(projectDir) || !existsSync(file)) return undefined;
  let info: RunningCluster;
  try {
    info = JSON.parse(readOwned(file, "the coordinator's address file")) as RunningCluster;
  } catch (err) {
    if (err instanceof ClusterError) throw err; // someone else's file: said, not taken for "nothing runs"
    return undefined;
  }
  return isAlive(info.pid, info.procStart) ? info : undefined;
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
  ensureStateDir(projectDir);
  const lock = lockFile(projectDir);
  const me: LockHolder = { pid: process.pid, procStart: processStart(process.pid) };
  const tmp = `${lock}.${process.pid}.tmp`;
  rmSync(tmp, { force: true }); // left by an earlier process that had our pid
  writeNewOwned(tmp, JSON.stringify(me) + "\n");
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
        text = readOwned(lock, "the lock");
      } catch (err) {
        if (err instanceof ClusterError) throw err;
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
        if (readOwned(lock) === text) rmSync(lock, { force: true });
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
    if ((JSON.parse(readOwned(lock)) as LockHolder).pid === pid) rmSync(lock, { force: true });
  } catch {
    // not ours, or not there
  }
}

export function writeRunning(projectDir: string, info: RunningCluster): void {
  ensureStateDir(projectDir);
  writeOwned(runningFile(projectDir), JSON.stringify(info, null, 2) + "\n");
}

export function clearRunning(projectDir: string, pid = process.pid): void {
  const info = readRunning(projectDir);
  if (!info || info.pid === pid) rmSync(runningFile(projectDir), { force: true });
}
