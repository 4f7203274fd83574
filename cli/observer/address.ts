/**
 * `.devcluster/observer.json`: where `up` serves the observer page, with its
 * token, readable by the project's owner only (mode 0600, like the cluster
 * key), so `devcluster observe` can print the address again.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { isAlive, stateDir } from "../project/stateDir";

export interface ObserverAddress {
  url: string;
  pid: number;
}

const file = (projectDir: string): string => path.join(stateDir(projectDir), "observer.json");

export function writeObserverAddress(projectDir: string, url: string): void {
  mkdirSync(stateDir(projectDir), { recursive: true, mode: 0o700 });
  writeFileSync(file(projectDir), JSON.stringify({ url, pid: process.pid } satisfies ObserverAddress) + "\n", { mode: 0o600 });
}

/** The page of the running `up`, or undefined (a file left by a crashed `up` is ignored). */
export function readObserverAddress(projectDir: string): ObserverAddress | undefined {
  if (!existsSync(file(projectDir))) return undefined;
  try {
    const a = JSON.parse(readFileSync(file(projectDir), "utf8")) as ObserverAddress;
    return isAlive(a.pid) ? a : undefined;
  } catch {
    return undefined;
  }
}

export function clearObserverAddress(projectDir: string): void {
  if (readObserverAddress(projectDir)?.pid === process.pid || !readObserverAddress(projectDir)) rmSync(file(projectDir), { force: true });
}
