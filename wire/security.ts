import { closeSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { Reply, curveKeyPair, type Router } from "zeromq";
import { ClusterError } from "./errors";
import type { Logger } from "./log";
import { openOwned } from "./ownedFiles";
import { Refusals } from "./refusals";

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
        if (ok) this.refusals.admitted(address?.toString() ?? "");
        else {
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
