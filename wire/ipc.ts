import { chmodSync, existsSync, mkdirSync } from "node:fs";
import * as path from "node:path";
import type { Router } from "zeromq";

/**
 * Nodes on one host reach each other over `ipc://` rather than loopback TCP:
 * a raw zeromq.js round trip between two processes was 137-163 us over ipc
 * against 183-193 us over tcp in the same runs (npm run bench, 4b). Each node
 * binds its peer ROUTER on its loopback tcp endpoint as before, and also on a
 * socket file named for that port, in `.devcluster/ipc/` (mode 0700: only the
 * user can enter it). A peer that is given a loopback endpoint connects to the
 * file instead when it is there. CurveZMQ and the ZAP handler apply to every
 * endpoint of the socket, so ipc authenticates peers exactly as tcp does; the
 * folder's mode is a second fence, not the only one. Endpoints that are not
 * loopback (nodes on other machines) are left as they are.
 */
export function ipcAlias(dir: string, endpoint: string): string | undefined {
  const m = /^tcp:\/\/(?:127\.0\.0\.1|\[::1\]):(\d+)$/.exec(endpoint);
  if (!m) return undefined;
  const file = path.join(dir, `peer-${m[1]}`);
  // a unix socket's path is at most about 107 bytes
  return Buffer.byteLength(file) <= 100 ? `ipc://${file}` : undefined;
}

/** Binds the ipc alias of the router's loopback endpoint; a no-op without a folder or for a path too long. */
export async function bindIpcAlias(router: Router, dir: string | undefined, endpoint: string): Promise<void> {
  const alias = dir ? ipcAlias(dir, endpoint) : undefined;
  if (!alias || !dir) return;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  await router.bind(alias);
}

/** Where to connect for `endpoint`: its ipc alias when the peer bound one, else the endpoint itself. */
export function localRoute(dir: string | undefined, endpoint: string): string {
  const alias = dir ? ipcAlias(dir, endpoint) : undefined;
  return alias && existsSync(alias.slice("ipc://".length)) ? alias : endpoint;
}
