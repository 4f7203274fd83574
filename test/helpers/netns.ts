import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { LogCapture, stopChild } from "./cluster";

/**
 * Real separate hosts for a test: Linux network namespaces, each with one
 * veth into a switch namespace holding a bridge, addresses in a private /24
 * that exists only inside them. Everything is named with the test's prefix,
 * so leftovers of a crashed run are found and removed before the next.
 */
export interface Hosts {
  /** host name -> its address on the test's /24 */
  addr: Record<string, string>;
  ns(host: string): string;
  /** runs a command inside a host; its output is collected */
  run(host: string, cmd: string[], opts?: { cwd?: string; env?: Record<string, string> }): { child: ChildProcess; logs: LogCapture; stop(): Promise<void> };
  /** cuts a host off (its link down) or puts it back */
  link(host: string, up: boolean): void;
  cleanup(): Promise<void>;
}

function ip(args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"] });
}

/** Why namespaces cannot be made here, or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.platform !== "linux") return "network namespaces need Linux";
  if (process.getuid?.() !== 0) return "network namespaces need root (ip netns add)";
  try {
    execFileSync("ip", ["-V"], { stdio: "ignore" });
  } catch {
    return "the `ip` command (iproute2) is not installed";
  }
  try {
    ip(["netns", "add", "dcprobe-ns"]);
    ip(["netns", "del", "dcprobe-ns"]);
  } catch (err) {
    return `cannot create a network namespace here: ${(err as Error).message.split("\n")[0]}`;
  }
  return undefined;
}

export function removeLeftovers(prefix: string): void {
  const list = execFileSync("ip", ["netns", "list"], { encoding: "utf8" });
  for (const line of list.split("\n")) {
    const name = line.split(" ")[0];
    if (name && name.startsWith(prefix)) {
      try {
        ip(["netns", "del", name]);
      } catch {
        // gone already
      }
    }
  }
}

/** `hosts` like ["m1", "m2"]; addresses 10.<subnet>.1, .2, ... in that order. */
export function makeHosts(prefix: string, subnet: string, hosts: string[]): Hosts {
  removeLeftovers(prefix);
  const ns = (h: string): string => `${prefix}${h}`;
  const sw = `${prefix}sw`;
  const addr: Record<string, string> = {};
  const children: { child: ChildProcess; stop(): Promise<void> }[] = [];
  ip(["netns", "add", sw]);
  ip(["-n", sw, "link", "add", "br0", "type", "bridge"]);
  ip(["-n", sw, "link", "set", "br0", "up"]);
  hosts.forEach((h, i) => {
    addr[h] = `${subnet}.${i + 1}`;
    ip(["netns", "add", ns(h)]);
    // Created inside the host's namespace, the peer moved to the switch: no device ever lives in the root namespace.
    ip(["-n", ns(h), "link", "add", "eth0", "type", "veth", "peer", "name", `p${i}`, "netns", sw]);
    ip(["-n", sw, "link", "set", `p${i}`, "master", "br0", "up"]);
    ip(["-n", ns(h), "addr", "add", `${addr[h]}/24`, "dev", "eth0"]);
    ip(["-n", ns(h), "link", "set", "eth0", "up"]);
    ip(["-n", ns(h), "link", "set", "lo", "up"]);
  });
  return {
    addr,
    ns,
    run(host, cmd, opts = {}) {
      const logs = new LogCapture();
      const child = spawn("ip", ["netns", "exec", ns(host), ...cmd], {
        cwd: opts.cwd,
        env: { ...process.env, ...opts.env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      child.stdout!.pipe(logs);
      child.stderr!.on("data", (d: Buffer) => logs.write(d));
      const stop = (): Promise<void> => stopChild(child, 5000);
      children.push({ child, stop });
      return { child, logs, stop };
    },
    link(host, up) {
      ip(["-n", ns(host), "link", "set", "eth0", up ? "up" : "down"]);
    },
    async cleanup() {
      for (const c of children) await c.stop();
      removeLeftovers(prefix);
    },
  };
}
