import { readFileSync } from "node:fs";
import * as net from "node:net";

/**
 * The ports the kernel hands out for port 0, and so for ZeroMQ's
 * `tcp://127.0.0.1:*`: a port a test picks now and binds later must lie
 * outside them, or a node's socket bound meanwhile can take it (a probe then
 * read a ZeroMQ greeting where it expected its server's answer).
 */
function ephemeralLow(): number {
  try {
    const low = Number(readFileSync("/proc/sys/net/ipv4/ip_local_port_range", "utf8").trim().split(/\s+/)[0]);
    if (Number.isInteger(low) && low > 1024) return low;
  } catch {
    // not Linux: the IANA range
  }
  return 49152;
}

function listen(port: number): Promise<net.Server | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(undefined));
    server.listen(port, "127.0.0.1", () => resolve(server));
  });
}

/** A base port below the ephemeral range such that base, base+1 … base+count-1 are free now. */
export async function freePortRun(count: number): Promise<number> {
  const high = ephemeralLow() - count;
  const low = Math.min(10_000, high - 1000);
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = low + Math.floor(Math.random() * (high - low));
    const held: net.Server[] = [];
    for (let i = 0; i < count; i++) {
      const s = await listen(base + i);
      if (!s) break;
      held.push(s);
    }
    await Promise.all(held.map((s) => new Promise((r) => s.close(r))));
    if (held.length === count) return base;
  }
  throw new Error(`no ${count} consecutive free ports found below the ephemeral range`);
}
