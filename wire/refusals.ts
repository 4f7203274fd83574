import { readFileSync } from "node:fs";
import type { Router } from "zeromq";
import type { Logger } from "./log";
import { LogThrottle } from "./throttle";

/**
 * Who is refused, and why, logged at most once per address per window with a
 * count (docs/design.md §7). ZAP sees clients that speak CurveZMQ with the
 * cluster's server key but another client key, with their address. A client
 * without CurveZMQ (plain ZMTP), with another cluster's keys, or not speaking
 * ZMTP at all fails before ZAP is asked, and libzmq's events for it name only
 * our own endpoint: its address is read off the kernel's socket table
 * (/proc/self/net/tcp*, this process's network namespace), which is read at
 * every event of the socket and while a connection is unresolved, so a
 * connection that is gone by the time it fails was still seen while it was open.
 */
export class Refusals {
  private readonly throttle: LogThrottle;
  /** ips ZAP admitted whose handshake event has not come yet, oldest first */
  private readonly admittedIps: string[] = [];

  constructor(log: Logger, windowMs = Number(process.env.DEVCLUSTER_REFUSAL_LOG_MS) || 60_000) {
    this.throttle = new LogThrottle((fields, msg) => log.warn(fields, msg), windowMs);
  }

  /** ZAP admitted a client from `ip`: its handshake event, which names no peer, follows. */
  admitted(ip: string): void {
    this.admittedIps.push(ip);
    if (this.admittedIps.length > 64) this.admittedIps.shift();
  }

  refused(address: string, reason: string, endpoint?: string): void {
    this.throttle.note(address, { address, reason, ...(endpoint ? { endpoint } : {}) }, `refused a connection from ${address}: ${reason}`);
  }

  /** Logs every connection a bound socket refuses before ZAP: a failed handshake, or one closed before any. */
  watch(router: Router, endpoint: string): void {
    const port = Number(/:(\d+)$/.exec(endpoint)?.[1] ?? 0);
    const host = /^tcp:\/\/\[?([^\]]*?)\]?:\d+$/.exec(endpoint)?.[1];
    const seen = new ConnectionTable(port, host === undefined || host === "0.0.0.0" || host === "::" || host === "*" ? undefined : host);
    // Each accepted connection ends in exactly one of: a handshake, a failed one (then its disconnect), or a
    // disconnect with no handshake event at all (a peer that does not speak ZMTP). Events of one socket come in order.
    let pending = 0;
    let failedAwaitingDisconnect = 0;
    let poll: NodeJS.Timeout | undefined;
    let lastAccept = 0;
    const watchPending = (): void => {
      lastAccept = Date.now();
      seen.scan();
      if (pending > 0 && !poll) {
        poll = setInterval(() => {
          // libzmq gives a handshake 30 s (ZMQ_HANDSHAKE_IVL): a count still open after that missed an event, and stops costing reads.
          if (Date.now() - lastAccept > 35_000) pending = 0;
          if (pending > 0) return seen.scan();
          clearInterval(poll);
          poll = undefined;
        }, 50);
        poll.unref();
      }
    };
    const blame = (address: string | undefined, reason: string, closer: Closer): void => {
      if (address?.startsWith("ipc://")) return this.refused("a local process (ipc)", reason, endpoint);
      // The failing connection's entry may take a moment to show as closing in the table.
      let tries = 0;
      const look = (): void => {
        const peer = seen.culprit(closer, ++tries >= 5);
        if (peer) this.refused(peer, reason, endpoint);
        else setTimeout(look, 20).unref();
      };
      look();
    };
    const ended = (): void => {
      pending = Math.max(0, pending - 1);
    };
    router.events.on("accept", () => {
      pending++;
      watchPending();
    });
    router.events.on("handshake", () => {
      ended();
      seen.trustOne(this.admittedIps.shift());
    });
    const failed = (e: { address?: string; error?: { code?: string } }): void => {
      ended();
      failedAwaitingDisconnect++;
      const code = e.error?.code;
      blame(e.address, handshakeReason(code), code === "EPIPE" || code === "ECONNRESET" ? "them" : "us");
    };
    router.events.on("handshake:error:protocol", failed);
    router.events.on("handshake:error:other", failed);
    // ZAP's refusal: ZapHandler logs it with the address libzmq hands ZAP; here it is only counted out.
    router.events.on("handshake:error:auth", () => (ended(), failedAwaitingDisconnect++));
    router.events.on("disconnect", (e: { address?: string }) => {
      if (failedAwaitingDisconnect > 0) return void failedAwaitingDisconnect--;
      // An established member went away (and not a connection still in its handshake).
      if (pending === 0 || seen.memberLeft()) return;
      ended();
      blame(e.address, "closed the connection without a ZMTP handshake: not a ZeroMQ client (a port scan, HTTP, or other traffic)", "us");
    });
    router.events.on("end", () => poll && clearInterval(poll));
  }

  close(): void {
    this.throttle.close();
  }
}

/** What a failed handshake's error code means, in the words of the log. */
function handshakeReason(code: string | undefined): string {
  switch (code) {
    case "ERR_ZMTP_MECHANISM_MISMATCH":
      return "not CurveZMQ (plain ZMTP, or another mechanism): devcluster speaks only CurveZMQ";
    case "ERR_ZMTP_CRYPTOGRAPHIC":
      return "CurveZMQ with keys that are not this cluster's (the handshake does not decrypt)";
    case "EPIPE":
    case "ECONNRESET":
      return `hung up during the CurveZMQ handshake (${code}), as a client without CurveZMQ (plain ZMTP) or without this cluster's keys does`;
    case "ETIMEDOUT":
      return "did not complete a handshake in time (ETIMEDOUT)";
    default:
      return `handshake failed (${code ?? "unknown error"})`;
  }
}

/** TCP states of a connection that is closing or closed: FIN_WAIT1/2, TIME_WAIT, CLOSE, CLOSE_WAIT, LAST_ACK, CLOSING. */
const CLOSING_STATES = new Set(["04", "05", "06", "07", "08", "09", "0B"]);
const ESTABLISHED = "01";
/** states of the end that closed first */
const FIRST_CLOSER = new Set(["04", "05", "06", "0B"]);

/** which end of a connection closed it first: ours, or the peer's */
type Closer = "us" | "them";

interface Seen {
  /** ip:port */
  remote: string;
  firstSeen: number;
  lastOpen: number;
  /** when a scan first found it closing or gone */
  closedAt: number;
  /** a handshake succeeded on it: never blamed */
  trusted: boolean;
  /** when its TIME_WAIT ends, from the table's timer (clock ticks of 10 ms) */
  timeWaitEnds?: number;
  /** which end closed first, once the table shows it */
  closedBy?: Closer;
  /** a trusted one whose close was taken for a member leaving */
  left?: boolean;
  blamed: boolean;
  state: string;
  /** in the table at the last scan */
  present: boolean;
}

/**
 * The connections to one port, as the kernel's table shows them over time.
 * A refused connection is one that was seen and is now closing or gone, that
 * no handshake vouched for and that was not blamed already; the latest seen
 * such is the one that just failed.
 */
class ConnectionTable {
  private readonly conns = new Map<string, Seen>();
  private readonly hexPort: string;

  constructor(
    port: number,
    /** the bound address, or undefined for every address (0.0.0.0, ::) */
    private readonly host: string | undefined,
  ) {
    this.hexPort = port.toString(16).toUpperCase().padStart(4, "0");
  }

  private isBound(address: string): boolean {
    return this.host === undefined || ipOf(address) === this.host;
  }

  scan(): void {
    const now = Date.now();
    for (const c of this.conns.values()) c.present = false;
    for (const table of ["/proc/self/net/tcp", "/proc/self/net/tcp6"]) {
      let text = "";
      try {
        text = readFileSync(table, "utf8");
      } catch {
        continue;
      }
      for (const line of text.split("\n").slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 4 || f[3] === "0A") continue;
        // Our end of a connection, or (a client on this host, which the namespace's table shows too) its end:
        // a client that hangs up first leaves its TIME_WAIT there, while our end is gone at once.
        const ours = f[1]!.endsWith(`:${this.hexPort}`);
        if (!ours && !(f[2]!.endsWith(`:${this.hexPort}`) && this.isBound(procAddress(f[2]!)))) continue;
        const remote = procAddress(ours ? f[2]! : f[1]!);
        let c = this.conns.get(remote);
        // A client may take the same port again at once (a new connection over our TIME_WAIT): seen open again after it
        // closed, or in a TIME_WAIT that ends later than the one seen before, it is a new connection.
        const tw = f[3] === "06" ? now + parseInt(f[5]?.split(":")[1] ?? "0", 16) * 10 : 0;
        if (c && ((c.closedAt && !CLOSING_STATES.has(f[3]!)) || (tw && c.timeWaitEnds && tw > c.timeWaitEnds + 1000))) c = undefined;
        if (!c) this.conns.set(remote, (c = { remote, firstSeen: now, lastOpen: 0, closedAt: 0, trusted: false, blamed: false, state: f[3]!, present: false }));
        if (tw && !c.timeWaitEnds) c.timeWaitEnds = tw;
        // Seen from both ends in one scan, it is closing if either end is.
        if (!c.present || CLOSING_STATES.has(f[3]!)) c.state = f[3]!;
        c.present = true;
        // FIN_WAIT, TIME_WAIT, CLOSING: this end closed first; CLOSE_WAIT, LAST_ACK: the other did.
        if (!c.closedBy && (FIRST_CLOSER.has(f[3]!) || f[3] === "08" || f[3] === "09")) c.closedBy = FIRST_CLOSER.has(f[3]!) === ours ? "us" : "them";
      }
    }
    for (const c of this.conns.values()) {
      if (c.present && !CLOSING_STATES.has(c.state)) c.lastOpen = now;
      else if (!c.closedAt) c.closedAt = now;
    }
    // A connection gone for a while (and TIME_WAIT's 60 s) is forgotten: its port may come back as a new one.
    for (const [k, c] of this.conns) if (!c.present && now - c.lastOpen > 5_000) this.conns.delete(k);
  }

  /**
   * A handshake succeeded: one open connection is a member's. ZAP said from
   * which ip (`ip`); of the open, unvouched connections from there the oldest
   * is taken, since a stranger's handshake fails sooner than a member's succeeds.
   */
  trustOne(ip: string | undefined): void {
    this.scan();
    const open = [...this.conns.values()].filter((c) => c.present && c.state === ESTABLISHED && !c.trusted && !c.blamed);
    // Without ZAP's word (ipc), only a lone open connection is surely the member's.
    const from = ip === undefined ? (open.length === 1 ? open : []) : open.filter((c) => ipOf(c.remote) === ip);
    const pick = from.reduce<Seen | undefined>((a, b) => (!a || b.firstSeen < a.firstSeen ? b : a), undefined);
    if (pick) pick.trusted = true;
  }

  /** Whether a member's connection has just closed (and is now accounted for). */
  memberLeft(): boolean {
    this.scan();
    const left = [...this.conns.values()].find((c) => c.trusted && !c.left && (!c.present || CLOSING_STATES.has(c.state)));
    // Kept (not deleted) while the table shows it: its TIME_WAIT would come back as a stranger's closed connection.
    if (left) left.left = true;
    return left !== undefined;
  }

  /** The ip of the connection that just failed; "unknown address" on the `last` try when none shows. */
  culprit(closer: Closer, last: boolean): string | undefined {
    this.scan();
    const now = Date.now();
    let gone = [...this.conns.values()].filter(
      (c) => !c.trusted && !c.blamed && ((c.present && CLOSING_STATES.has(c.state)) || (!c.present && now - c.lastOpen < 2_000)),
    );
    if (gone.length === 0) return last ? "unknown address" : undefined;
    // We close on a protocol error, the peer on its own (EPIPE): of strangers failing at once, the right kind.
    const kind = gone.filter((c) => c.closedBy === closer || (closer === "them" && !c.closedBy && !c.present));
    if (kind.length > 0) gone = kind;
    // The one that closed last is the one whose failure this is; of those found closed in one scan, the newest.
    const c = gone.reduce((a, b) => (b.closedAt > a.closedAt || (b.closedAt === a.closedAt && b.firstSeen > a.firstSeen) ? b : a));
    c.blamed = true;
    return ipOf(c.remote);
  }
}

const ipOf = (remote: string): string => remote.slice(0, remote.lastIndexOf(":"));

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
