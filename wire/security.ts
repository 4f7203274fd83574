import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { Reply, curveKeyPair } from "zeromq";
import type { Logger } from "./log";

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

export function loadKeys(file: string): ClusterKeys {
  const mode = statSync(file).mode & 0o777;
  if (mode & 0o077) {
    // A key that others can read is no authentication; tighten it rather than refuse to run.
    chmodSync(file, 0o600);
  }
  const parsed = JSON.parse(readFileSync(file, "utf8")) as Partial<ClusterKeys>;
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

  private constructor(
    keys: ClusterKeys,
    private readonly log: Logger,
  ) {
    this.allowed = z85Decode(keys.publicKey);
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
        if (!ok) this.log.warn({ address: address?.toString(), mechanism: mechanism?.toString() }, "refused unauthenticated peer");
        await this.socket.send([version ?? "1.0", requestId ?? "", ok ? "200" : "400", ok ? "OK" : "unknown key", "", ""]);
      }
    } catch (err) {
      if (!this.closed) this.log.error({ err }, "zap handler failed");
    }
  }

  close(): void {
    this.closed = true;
    this.socket.close();
  }
}
