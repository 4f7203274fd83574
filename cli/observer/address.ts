/**
 * `.devcluster/observer.json`: where `up` serves the observer page, with its
 * token, readable by the project's owner only (mode 0600, like the cluster
 * key), so `devcluster observe` can print the address again.
 */
import { existsSync, rmSync } from "node:fs";
import * as path from "node:path";
import { ClusterError } from "../../wire/errors";
import { readOwned, writeOwned } from "../../wire/ownedFiles";
import { checkStateDir, ensureStateDir, isAlive, processStart, stateDir } from "../project/stateDir";

export interface ObserverAddress {
  url: string;
  pid: number;
  /** the OS's start time of `pid`, so a reused pid is not taken for it */
  procStart?: string;
}

const file = (projectDir: string): string => path.join(stateDir(projectDir), "observer.json");
/** The page `devcluster observe --open` hands the browser: it forwards to the address, token included. */
export const openPageFile = (projectDir: string): string => path.join(stateDir(projectDir), "observer-open.html");

export function writeObserverAddress(projectDir: string, url: string): void {
  ensureStateDir(projectDir);
  // Never through a link planted at that name: the token would go wherever it points (docs/design.md §7).
  writeOwned(file(projectDir), JSON.stringify({ url, pid: process.pid, procStart: processStart(process.pid) } satisfies ObserverAddress) + "\n");
}

/** The page of the running `up`, or undefined (a file left by a crashed `up` is ignored). */
export function readObserverAddress(projectDir: string): ObserverAddress | undefined {
  if (!checkStateDir(projectDir) || !existsSync(file(projectDir))) return undefined;
  try {
    const a = JSON.parse(readOwned(file(projectDir), "the observer's address file")) as ObserverAddress;
    return isAlive(a.pid, a.procStart) ? a : undefined;
  } catch (err) {
    if (err instanceof ClusterError) throw err;
    return undefined;
  }
}

export function clearObserverAddress(projectDir: string): void {
  if (readObserverAddress(projectDir)?.pid === process.pid || !readObserverAddress(projectDir)) {
    rmSync(file(projectDir), { force: true });
    rmSync(openPageFile(projectDir), { force: true });
  }
}
