import { existsSync } from "node:fs";
import * as path from "node:path";
import { CONFIG_FILE } from "./config";

/**
 * The config a command works on: `--config` if given, else the nearest
 * cluster.config.json from the working folder upwards, as git finds .git.
 */
export function findConfig(explicit?: string, from = process.cwd()): string {
  if (explicit) return path.resolve(from, explicit);
  for (let dir = path.resolve(from); ; dir = path.dirname(dir)) {
    const candidate = path.join(dir, CONFIG_FILE);
    if (existsSync(candidate)) return candidate;
    if (path.dirname(dir) === dir) return path.resolve(from, CONFIG_FILE);
  }
}

export const projectDirOf = (configPath: string): string => path.dirname(configPath);
