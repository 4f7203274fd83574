import { closeSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { Reply, curveKeyPair, type Router } from "zeromq";
import { ClusterError } from "./errors";
import type { Logger } from "./log";
import { openOwned } from "./ownedFiles";
import { LogThrottle } from "./throttle";

/**
 * Pushing code is code execution, so every socket speaks CurveZMQ and every
 * bound socket admits only the cluster's own client key (checked by ZAP).
 * The key pair lives in `.devcluster/keys.json`, mode 0600: whoever can read
 * it is a member of the cluster; nobody else gets a byte in.
 */
export interface ClusterKeys {
  publicKey: string;
  secretKey: string;
}

export function loadOrCreateKeys(file: string): ClusterKeys {
  if (!existsSync(file)) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
    writeFileSync(file, JSON.stringify(curveKeyPair(), null, 2) + "\n", { mode: 0o600, flag: "wx" });
  }
  return loadKeys(file);
}

/**
 * Writes a key file (the cluster's, a rotation's, an export) atomically with
 * mode 0600: a temporary file made 0600 from the start, renamed over the old
 * one, so no reader ever sees a half-written key or a moment of a wider mode.
 */
export function writeKeyFile(file: string, content: ClusterKeys & Record<string, unknown>): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${Date.now()}.tmp`;
  writeFileSync(tmp, JSON.stringify(content, null, 2) + "\n", { mode: 0o600, flag: "wx" });
  try {
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

/**
 * Reads a key file. One that others can read (or write) is refused, as ssh
 * refuses an unprotected private key: whoever read it is a member of the
 * cluster, so quietly tightening the mode would hide that the key leaked.
 * One another user owns is refused too: they chose the keys, so they could
 * push code that runs as us. Owner and mode are read off the open file, so
 * what is checked is what is read.
 */
export function loadKeys(file: string): ClusterKeys {
  const { fd, stats } = openOwned(file, "the key file", true);
  let text: string;
  try {
    const mode = stats.mode & 0o777;
    if (mode & 0o077) {
      const octal = mode.toString(8).padStart(4, "0");
      throw new ClusterError(
        "keys_unprotected",
        `${file} is readable by others (mode ${octal}): anyone who can read it can push code into the cluster, so devcluster refuses to use it. ` +
          `Run \`chmod 600 ${file}\`, and if someone else may have read it, \`devcluster keys rotate\` and rejoin every node.`,
      );
    }
    text = readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
  const parsed = JSON.parse(text) as Partial<ClusterKeys>;
  if (typeof parsed.publicKey !== "string" || typeof parsed.secretKey !== "string" || parsed.publicKey.length !== 40) {
    throw new Error(`${file} does not hold a CurveZMQ key pair; delete it and run \`devcluster up\` to make a new one`);
  }
  return { publicKey: parsed.publicKey, secretKey: parsed.secretKey };
}

const Z85 = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#";

export function z85Decode(text: string): Buffer {
  const out = Buffer.alloc((text.length / 5) * 4);
  let value = 0;
  for (let i = 0; i < text.length; i++) {
    value = value * 85 + Z85.indexOf(text[i]!);
    if (i % 5 === 4) {
      out.writeUInt32BE(value >>> 0, ((i - 4) / 5) * 4);
      value = 0;
    }
  }
  return out;
}

/** What a failed handshake's ZMTP error code means, in the words of the log. */
function handshakeReason(code: string | undefined): string {
  switch (code) {
    case "ERR_ZMTP_MECHANISM_MISMATCH":
      return "not CurveZMQ (plain ZMTP, or another mechanism): devcluster speaks only CurveZMQ";
    case "ERR_ZMTP_CRYPTOGRAPHIC":
      return "CurveZMQ with keys that are not this cluster's (the handshake does not decrypt)";
    default:
      return `handshake failed (${code ?? "unknown error"})`;
  }
}

/** TCP states of a connection we closed or that is closing: where a refused handshake's socket is found. */
const CLOSING_STATES = new Set(["04", "05", "06", "07", "08", "09", "0B"]);

/** `0100007F:1F90` (little-endian IPv4) or 32 hex digits of IPv6, as /proc/net/tcp writes them. */
function procAddress(hex: string): string {
  const [addr, port] = hex.split(":") as [string, string];
  let ip: string;
  if (addr.length === 8) {
    ip = [3, 2, 1, 0].map((i) => parseInt(addr.slice(i * 2, i * 2 + 2), 16)).join(".");
  } else {
    const words: string[] = [];
    for (let w = 0; w < 4; w++) {
      const chunk = addr.slice(w * 8, w * 8 + 8);
      const le = [3, 2, 1, 0].map((i) => chunk.slice(i * 2, i * 2 + 2)).join("");
      words.push(le.slice(0, 4), le.slice(4));
    }
    ip = words.map((x) => parseInt(x, 16).toString(16)).join(":");
    if (ip.startsWith("0:0:0:0:0:ffff:")) {
      const v4 = addr.slice(24);
      ip = [3, 2, 1, 0].map((i) => parseInt(v4.slice(i * 2, i * 2 + 2), 16)).join(".");
    }
  }
  return `${ip}:${parseInt(port, 16)}`;
}

/**
 * Who is refused, and why, logged at most once per address per window with a
 * count (docs/design.md §7). ZAP sees clients that speak CurveZMQ with the
 * cluster's server key but another client key; a client without keys, or
 * with another cluster's, fails the handshake before ZAP is asked: those are
 * seen as the bound socket's `handshake:error:*` events. libzmq does not say
 * which peer failed, so its address is read off the kernel's socket table
 * (/proc/self/net/tcp*, this process's network namespace): the connection to
 * our port that we just closed.
 */
export class Refusals {
  private readonly throttle: LogThrottle;
  /** remote ip:port already blamed, so two refusals in a row name two connections */
  private readonly blamed = new Set<string>();

  constructor(log: Logger, windowMs = Number(process.env.DEVCLUSTER_REFUSAL_LOG_MS) || 60_000) {
    this.throttle = new LogThrottle((fields, msg) => log.warn(fields, msg), windowMs);
  }

  refused(address: string, reason: string, endpoint?: string): void {
    this.throttle.note(address, { address, reason, ...(endpoint ? { endpoint } : {}) }, `refused a connection from ${address}: ${reason}`);
  }

  /** Logs every failed handshake on a bound socket. */
  watch(router: Router, endpoint: string): void {
    const port = Number(/:(\d+)$/.exec(endpoint)?.[1] ?? 0);
    const failed = (e: { error?: { code?: string } }): void => {
      // libzmq reports the failure as it closes the connection: give the kernel's table a moment to show it closing.
      const reason = handshakeReason(e.error?.code);
      let tries = 0;
      const look = (): void => {
        const peer = this.peerOf(port, ++tries >= 10);
        if (peer) this.refused(peer, reason, endpoint);
        else setTimeout(look, 20).unref();
      };
      look();
    };
    router.events.on("handshake:error:protocol", failed);
    router.events.on("handshake:error:other", failed);
    // handshake:error:auth is ZAP's refusal: ZapHandler logs it with the address libzmq hands ZAP.
  }

  /** The refused peer's address; undefined while no closing connection shows (unless `last`). */
  private peerOf(port: number, last: boolean): string | undefined {
    const hexPort = port.toString(16).toUpperCase().padStart(4, "0");
    const closing: string[] = [];
    const open: string[] = [];
    const present = new Set<string>();
    for (const table of ["/proc/self/net/tcp", "/proc/self/net/tcp6"]) {
      let text = "";
      try {
        text = readFileSync(table, "utf8");
      } catch {
        continue;
      }
      for (const line of text.split("\n").slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 4 || !f[1]!.endsWith(`:${hexPort}`) || f[3] === "0A") continue;
        const remote = procAddress(f[2]!);
        present.add(remote);
        if (this.blamed.has(remote)) continue;
        (CLOSING_STATES.has(f[3]!) ? closing : open).push(remote);
      }
    }
    for (const r of this.blamed) if (!present.has(r)) this.blamed.delete(r);
    if (!closing[0] && !last) return undefined;
    const remote = closing[0] ?? open[0];
    if (!remote) return "unknown address";
    this.blamed.add(remote);
    return remote.slice(0, remote.lastIndexOf(":"));
  }

  close(): void {
    this.throttle.close();
  }
}

/**
 * The ZAP handler: libzmq asks it about every CURVE handshake on a bound
 * socket of this process. One per process, since ZAP binds a fixed inproc
 * address.
 */
export class ZapHandler {
  private readonly socket = new Reply();
  private readonly allowed: Buffer;
  private closed = false;
  readonly refusals: Refusals;

  private constructor(
    keys: ClusterKeys,
    private readonly log: Logger,
  ) {
    this.allowed = z85Decode(keys.publicKey);
    this.refusals = new Refusals(log);
  }

  static async start(keys: ClusterKeys, log: Logger): Promise<ZapHandler> {
    const zap = new ZapHandler(keys, log);
    await zap.socket.bind("inproc://zeromq.zap.01");
    void zap.serve();
    return zap;
  }

  private async serve(): Promise<void> {
    try {
      for await (const frames of this.socket) {
        const [version, requestId, , address, , mechanism, key] = frames;
        const ok = mechanism?.toString() === "CURVE" && key !== undefined && key.equals(this.allowed);
        if (!ok) {
          const reason =
            mechanism?.toString() === "CURVE" ? "a client key that is not the cluster's" : `mechanism ${mechanism?.toString() ?? "none"}, not CurveZMQ`;
          this.refusals.refused(address?.toString() || "unknown address", reason);
        }
        await this.socket.send([version ?? "1.0", requestId ?? "", ok ? "200" : "400", ok ? "OK" : "unknown key", "", ""]);
      }
    } catch (err) {
      if (!this.closed) this.log.error({ err }, "zap handler failed");
    }
  }

  close(): void {
    this.closed = true;
    this.refusals.close();
    this.socket.close();
  }
}
