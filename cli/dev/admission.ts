import type { Logger } from "../../wire/log";
import { Pid } from "../../wire/pid";
import { PROTOCOL_VERSION, type ControlMessage, type PeerInfo } from "../../wire/protocol";
import type { CodeStore } from "./codeStore";
import type { ReloadReport } from "./reloadTransaction";
import type { TransactionInfo } from "./reports";

export interface Member {
  name: string;
  endpoint: string;
  /** the routing id of its control link (`n4@<nonce>`): what the coordinator sends to; another process claiming the name has another */
  route: string;
  /** joined with `devcluster node --join`: `up` neither starts nor stops it */
  joined: boolean;
  osPid: number;
  started: boolean;
  /** module -> version this member has (runs, or keeps unevaluated), as far as its commits tell: what a catch-up brings it to */
  versions: Record<string, string>;
  /** the modules it has evaluated, as it said (`loaded`): a module it only keeps runs nowhere on it */
  running: Set<string>;
}

type Hello = Extract<ControlMessage, { type: "hello" }>;

/**
 * The node a control link's routing id belongs to: `n4@k3x9` is n4's (each
 * node process picks a fresh suffix, so a second process that claims a name
 * in use still reaches the coordinator and is told why it is refused; with
 * the bare name, ZeroMQ would ignore it and it would wait for ever). A
 * client's id (`client-...`) is its own.
 */
export function nodeOf(route: string): string {
  const at = route.indexOf("@");
  return at < 0 ? route : route.slice(0, at);
}

/** What admission needs of its coordinator. */
export interface AdmissionHost {
  cluster: string;
  entry: string;
  /** the configured nodes, in config order */
  nodes: string[];
  log: Logger;
  store: CodeStore;
  members: Map<string, Member>;
  names: Map<string, Pid>;
  /** how many times each node has joined: its pids of each life are distinct */
  joins: Map<string, number>;
  reachable(node: string): boolean;
  /** starts watching a new member's liveness */
  watch(node: string): void;
  sendTo(id: string, msg: ControlMessage): void;
  broadcast(msg: ControlMessage): void;
  /** the coordinator's events: "adopted" and the catch-up's "reloaded" */
  emit(event: string, ...args: unknown[]): void;
}

/**
 * How a node becomes a member: a hello is refused, joined (a new life, the
 * whole store) or adopted (a node that already runs, given only what it is
 * behind on); and who the members are, in order, as a welcome and a peers
 * broadcast name them. The coordinator owns the tables; this is handed them.
 */
export class Admission {
  constructor(private readonly host: AdmissionHost) {}

  /** Configured nodes in config order, then nodes that joined, in the order they joined. */
  nodeNames(): string[] {
    return [...this.host.nodes, ...[...this.host.members.values()].filter((m) => m.joined && !this.host.nodes.includes(m.name)).map((m) => m.name)];
  }

  /** A member ran its entry; true once every configured node has. */
  started(msg: Extract<ControlMessage, { type: "started" }>): boolean {
    const h = this.host;
    const m = h.members.get(msg.node);
    if (m) m.started = true;
    h.log.info({ member: msg.node, ms: Math.round(msg.ms) }, `${msg.node} running its entry`);
    return h.nodes.every((n) => h.members.get(n)?.started);
  }

  /** Modules a member evaluated for the first time: it runs them now. */
  loaded(msg: Extract<ControlMessage, { type: "loaded" }>): void {
    const m = this.host.members.get(msg.node);
    if (m) for (const name of msg.modules) m.running.add(name);
  }

  /** A member leaves: it said goodbye, or it was silent longer than the coordinator waits for a joined node. */
  left(node: string, why: string): void {
    this.host.log.info({ member: node, why }, `${node} left the cluster: ${why}`);
  }

  peers(): PeerInfo[] {
    return [...this.host.members.values()].map((m) => ({ name: m.name, endpoint: m.endpoint }));
  }

  /** Who the members are now, for every node: its links, and its `nodes()` (the configured nodes, and the joined ones still members). */
  peersMessage(): Extract<ControlMessage, { type: "peers" }> {
    return { type: "peers", peers: this.peers(), nodes: this.nodeNames() };
  }

  private refuse(from: string, reason: string, fields: Record<string, unknown>): void {
    this.host.log.warn({ from, ...fields, reason }, `refused ${nodeOf(from)}'s join: ${reason}`);
    this.host.sendTo(from, { type: "refused", reason });
  }

  /** `from` is the routing id the hello came on: a refusal goes there, not to the member that holds the name. */
  async join(from: string, msg: Hello): Promise<void> {
    const h = this.host;
    if (msg.protocol !== PROTOCOL_VERSION || msg.node !== nodeOf(from)) {
      this.refuse(from, `protocol ${msg.protocol} or name ${msg.node} does not match (this coordinator speaks protocol ${PROTOCOL_VERSION})`, {});
      return;
    }
    const configured = h.nodes.includes(msg.node);
    if (msg.joined && configured) {
      this.refuse(from, `${msg.node} is one of the nodes \`up\` starts (cluster.config.json); give the joining node another --name`, { member: msg.node });
      return;
    }
    if (!msg.joined && !configured) {
      this.refuse(from, `${msg.node} is not a node of cluster.config.json (nodes: ${h.nodes.join(", ")})`, { member: msg.node });
      return;
    }
    const known = h.members.get(msg.node);
    if (msg.joined && known && known.osPid !== msg.osPid && known.endpoint !== msg.endpoint && h.reachable(msg.node)) {
      this.refuse(from, `the name ${msg.node} is taken by a running node at ${known.endpoint}; give this one another --name`, { member: msg.node });
      return;
    }
    if (msg.versions) {
      this.adopt(from, msg, msg.versions);
      return;
    }
    const incarnation = h.joins.get(msg.node) ?? 0;
    h.joins.set(msg.node, incarnation + 1);
    const rejoin = incarnation > 0;
    this.addMember(from, msg, false);
    h.log.info({ member: msg.node, osPid: msg.osPid, endpoint: msg.endpoint, rejoin }, `${msg.node} joined`);
    this.welcome(msg.node, h.store.bundles(), incarnation);
    h.broadcast(this.peersMessage());
  }

  /** What a node gets on joining or on being adopted: the cluster, its peers, the code it lacks, and every name. */
  private welcome(to: string, bundles: ReturnType<CodeStore["bundles"]>, incarnation: number): void {
    const h = this.host;
    h.sendTo(to, {
      type: "welcome",
      cluster: h.cluster,
      entry: h.entry,
      nodes: this.nodeNames(),
      peers: this.peers(),
      bundles,
      incarnation,
    });
    h.sendTo(to, { type: "names", set: Object.fromEntries(h.names), unset: [] });
  }

  /** Records a node that said hello; `started`: it already runs its entry (adopted). Its versions are the store's once it has joined or caught up. */
  private addMember(route: string, msg: Hello, started: boolean): void {
    this.host.members.set(msg.node, {
      name: msg.node,
      endpoint: msg.endpoint,
      route,
      joined: msg.joined === true,
      osPid: msg.osPid,
      started,
      versions: this.host.store.versions(),
      running: new Set(),
    });
    this.host.watch(msg.node);
  }

  /**
   * A node that already runs says hello: it lost its coordinator (this one
   * was restarted, or the link was cut) and is adopted as it is, with no
   * restart and its processes and pids intact. The welcome carries only the
   * modules it is behind on, which it loads before it handles messages from
   * peers it lost meanwhile; the names of its processes are registered again.
   */
  private adopt(from: string, msg: Hello, versions: Record<string, string>): void {
    const h = this.host;
    const known = h.members.get(msg.node);
    if (!h.joins.has(msg.node)) h.joins.set(msg.node, 1);
    const behind = h.store.names().filter((n) => versions[n] !== h.store.get(n)!.version);
    this.addMember(from, msg, true);
    const set: Record<string, Pid> = {};
    for (const [name, pid] of Object.entries(msg.names ?? {})) {
      if (!(pid instanceof Pid) || pid.node !== msg.node || h.names.has(name)) continue;
      h.names.set(name, pid);
      set[name] = pid;
    }
    h.log.info(
      { member: msg.node, osPid: msg.osPid, endpoint: msg.endpoint, behind, adopted: !known },
      `${msg.node} ${known ? "is back" : "adopted"} (no restart)${behind.length ? `: catching up ${behind.join(", ")}` : ", running the current code"}`,
    );
    // incarnation -1: a running node keeps its pids
    this.welcome(
      msg.node,
      h.store.bundles().filter((b) => behind.includes(b.name)),
      -1,
    );
    if (Object.keys(set).length) h.broadcast({ type: "names", set, unset: [] });
    h.broadcast(this.peersMessage());
    h.emit("adopted", msg.node, behind);
    if (behind.length) {
      // The welcome is this node's catch-up: `up` logs it as one, like a catch-up transaction.
      const modules = behind.map((n) => ({ name: n, version: h.store.get(n)!.version }));
      const report: ReloadReport = { ok: true, modules, nodes: [{ node: msg.node, ok: true, ms: 0 }], ms: 0 };
      h.emit("reloaded", report, { source: "catch-up", node: msg.node } satisfies TransactionInfo);
    }
  }
}
