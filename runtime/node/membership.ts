/**
 * The node's side of its coordinator: joining (hello, then welcome or
 * refused), losing the coordinator and being adopted by the next one, and
 * every control message the coordinator sends. ClusterNode (node.ts) starts
 * the entry once joined.
 */
import type { Logger } from "../../wire/log";
import type { Pid } from "../../wire/pid";
import { PROTOCOL_VERSION, type ControlMessage } from "../../wire/protocol";
import { ClusterError } from "../../wire/errors";
import type { ModuleTable } from "../code/loader";
import type { Reloads } from "../code/reloads";
import type { ControlLink, Welcome } from "./control";
import type { PeerLinks } from "./peers";
import type { Calls } from "./calls";
import type { Names } from "./names";
import type { CatchUpHold } from "./catchUpHold";
import { LogShip } from "./logShip";

/** What membership needs of its node (node.ts), read when used. */
export interface MembershipHost {
  readonly name: string;
  readonly log: Logger;
  /** started by `devcluster node --join`: outlives its coordinator */
  readonly joined: boolean;
  readonly endpoint: string;
  readonly closed: boolean;
  /** every node it has heard of */
  nodes: string[];
  readonly control: ControlLink;
  readonly links: PeerLinks;
  readonly reloads: Reloads;
  readonly names: Names;
  readonly calls: Calls;
  readonly hold: CatchUpHold;
  readonly table: ModuleTable;
  /** `devcluster node --timeout`: how long to wait for a welcome before giving up (default: for ever) */
  readonly joinTimeoutMs?: number;
  /** its output goes to the coordinator (a joined node: no `up` reads its stdout) */
  readonly shipLogs?: boolean;
  /** answers a nodeRequest (nodeOps.ts) on the control link, not awaited */
  nodeRequest(msg: Extract<ControlMessage, { type: "nodeRequest" }>): void;
}

export class Membership {
  private welcomed?: { resolve(msg: Welcome): void; reject(err: Error): void };
  /** entry started: a later welcome is an adoption, not a start */
  running = false;
  /** a joined node's output, shipped once it is welcomed (logShip.ts) */
  private readonly ship?: LogShip;
  /** after a goodbye: the coordinator's answer, the membership without this node */
  private leaving?: () => void;

  constructor(private readonly host: MembershipHost) {
    if (host.shipLogs) this.ship = new LogShip(host.name, host.control);
  }

  /** One line this node wrote: to the coordinator with the next batch (a joined node only). */
  shipLog(line: string, stream: "stdout" | "stderr"): void {
    this.ship?.line(line, stream);
  }

  /** The node is stopping: a joined one says goodbye and leaves at once; without it, it would show as down until forgotten. */
  async leave(): Promise<void> {
    if (this.host.joined && this.running) {
      this.ship?.flush();
      // The coordinator answers with the membership without this node, after it told every peer: a peer then
      // sees this node leave the membership before its links close, and does not take the close for a lost link.
      const told = new Promise<void>((resolve) => (this.leaving = resolve));
      if (await this.host.control.last({ type: "goodbye", node: this.host.name })) {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([told, new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000)))]);
        clearTimeout(timer);
      }
    }
    this.ship?.close();
  }

  /**
   * Opens the control link and says hello; resolves with the welcome,
   * rejects if refused or (with `joinTimeoutMs`) if none came in time.
   * Meanwhile it says, after 3 s and then every 10 s, why no welcome came
   * (nothing listens there, the keys are refused, no answer yet).
   */
  join(coordinator: string): Promise<Welcome> {
    const t0 = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const welcome = new Promise<Welcome>((resolve, reject) => {
      const settle = (): void => {
        clearTimeout(timer);
        this.welcomed = undefined;
      };
      // Welcomed, its held lines go; refused, nothing it said belongs in that cluster's log.
      this.welcomed = { resolve: (w) => (settle(), this.ship?.start(), resolve(w)), reject: (err) => (settle(), reject(err)) };
      const waited = (): string => `${Math.round((Date.now() - t0) / 1000)} s`;
      const deadline = this.host.joinTimeoutMs;
      const check = (every: number): void => {
        const left = deadline === undefined ? every : Math.min(every, deadline - (Date.now() - t0));
        timer = setTimeout(() => {
          if (deadline !== undefined && Date.now() - t0 >= deadline) {
            this.welcomed?.reject(
              new ClusterError("timeout", `no welcome from the coordinator at ${coordinator} within ${waited()}: ${this.host.control.why()}`),
            );
            return;
          }
          this.host.log.warn(
            { coordinator, waitedMs: Date.now() - t0 },
            `no welcome from the coordinator at ${coordinator} after ${waited()}: ${this.host.control.why()}; still trying`,
          );
          check(10_000);
        }, left);
        timer.unref();
      };
      check(3000);
    });
    this.host.control.open(coordinator, (msg) => this.onControl(msg), { lost: () => this.coordinatorLost(), back: () => this.coordinatorBack() });
    this.host.control.send(this.hello());
    return welcome;
  }

  /** Who this node is, to a coordinator; a running node adds what it runs and the names its processes hold. */
  private hello(running: { versions: Record<string, string>; names: Record<string, Pid> } | Record<string, never> = {}): ControlMessage {
    return {
      type: "hello",
      protocol: PROTOCOL_VERSION,
      node: this.host.name,
      osPid: process.pid,
      endpoint: this.host.endpoint,
      ...(this.host.joined ? { joined: true } : {}),
      ...running,
    };
  }

  // ---- losing the coordinator, and being adopted by the next one -------------

  private coordinatorLost(): void {
    if (!this.running || this.host.closed) return;
    this.host.log.warn(
      {},
      this.host.joined
        ? "lost the coordinator: this node keeps running and serving, and rejoins when a coordinator is back"
        : "lost the coordinator link: rejoining when it is back",
    );
    this.host.hold.coordinatorLost();
  }

  /** Says hello again, as a node that runs: the coordinator adopts it and sends what it is behind on. */
  private coordinatorBack(): void {
    if (!this.running || this.host.closed) return;
    this.host.hold.coordinatorBack();
    // What it has, evaluated or kept: the coordinator sends only what differs.
    this.host.control.send(this.hello({ versions: this.host.reloads.path.versions(), names: this.host.names.own() }));
  }

  /** The coordinator's welcome to a node that already runs: load what it is behind on, then handle what was held. */
  private async adopted(w: Welcome): Promise<void> {
    this.host.nodes = [...new Set([...this.host.nodes, ...w.nodes])];
    this.host.links.set(w.peers);
    // A catch-up transaction may have brought some of these already (it raced this welcome): load only what still differs.
    const has = this.host.reloads.path.versions();
    const behind = w.bundles.filter((b) => has[b.name] !== b.version);
    try {
      const changed = await this.host.reloads.adopt(behind);
      if (changed.length > 0) this.host.log.info({ modules: changed.map((c) => `${c.name}@${c.to}`) }, "caught up with the cluster's code");
    } catch (err) {
      this.host.log.error({ err }, "could not load the cluster's current code after rejoining; running the code it had");
    }
    // The new coordinator knows nothing of what runs here until told.
    this.host.control.send({ type: "loaded", node: this.host.name, modules: Object.keys(this.host.table.versions()) });
    this.host.hold.synced();
    // Only a member's lines are kept: what it wrote while it had no coordinator goes once it is adopted.
    this.ship?.flush();
  }

  // ---- control link -------------------------------------------------------

  private async onControl(msg: ControlMessage): Promise<void> {
    switch (msg.type) {
      case "welcome":
        if (this.welcomed) this.welcomed.resolve(msg);
        else if (this.running) await this.adopted(msg);
        return;
      case "refused":
        if (this.welcomed) this.welcomed.reject(new ClusterError("join_refused", `the coordinator refused this node: ${msg.reason}`));
        else this.host.log.error({ reason: msg.reason }, `the coordinator refused this node: ${msg.reason}`);
        return;
      case "peers":
        // `nodes` leaves out a joined node that left; a coordinator that does not send it only ever adds.
        this.host.nodes = msg.nodes ?? [...new Set([...this.host.nodes, ...msg.peers.map((p) => p.name)])];
        this.host.links.set(msg.peers);
        this.leaving?.();
        return;
      case "prepare":
        return this.host.reloads.prepare(msg);
      case "commit":
        return this.host.reloads.commit(msg);
      case "abort":
        return this.host.reloads.abort(msg);
      case "names":
        return this.host.names.update(msg);
      case "nameReply":
        return this.host.calls.settle(msg.ref, msg.error ? { ok: false, error: msg.error } : { ok: true, value: msg.pid });
      case "ping":
        this.host.control.send({ type: "pong", node: this.host.name });
        return;
      case "nodeRequest":
        // Not awaited: an op may itself wait for the coordinator (spawn of a process whose init registers a name, whereis in evalOn), and those answers come through this same loop.
        this.host.nodeRequest(msg);
        return;
      case "hello":
      case "started":
      case "startFailed":
      case "ready":
      case "failed":
      case "committed":
      case "closures":
      case "loaded":
      case "register":
      case "unregister":
      case "whereis":
      case "nodeResponse":
      case "pong":
      case "goodbye":
      case "logs":
        this.host.log.warn({ type: msg.type }, "ignoring message meant for the coordinator");
        return;
      default: {
        const unhandled: never = msg;
        return unhandled;
      }
    }
  }
}
