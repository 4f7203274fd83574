/**
 * Messages between processes, local or across the mesh: send, call, reply,
 * spawn and sys requests going out, and the peer messages that carry them
 * coming in. ClusterNode (node.ts) wires it; its own API delegates here.
 */
import type { Logger } from "../../wire/log";
import { Pid } from "../../wire/pid";
import { checkSendable } from "../../wire/sendable";
import { encodePeer, encodeChecked, toWireError, type From, type PeerMessage, type SysOp } from "../../wire/protocol";
import { ClusterError } from "../../wire/errors";
import { noproc, selfProc, type Envelope, type Proc, type Processes, type Reply } from "../process/process";
import type { Signals } from "../process/signals";
import { runSys, type SysHost } from "../process/sys";
import type { PeerLinks } from "./peers";
import { DEFAULT_CALL_TIMEOUT_MS, type Calls } from "./calls";
import type { Tracer } from "./trace";

/** What messaging needs of its node (node.ts): the parts it routes through, read when used. */
export interface MessagingHost extends SysHost {
  readonly name: string;
  readonly log: Logger;
  readonly procs: Processes;
  readonly calls: Calls;
  readonly tracer: Tracer;
  readonly signals: Signals;
  readonly links: PeerLinks;
}

/** self(), for the API calls that act for the calling process; throws outside one. */
export function mustSelf(what: string): Proc {
  const p = selfProc();
  if (!p) throw new ClusterError("not_a_process", `${what}() is called from inside a process handler (it acts for self())`);
  return p;
}

export class Messaging {
  constructor(private readonly host: MessagingHost) {}

  reply(from: From, reply: Reply): void {
    if (this.host.tracer.on) this.host.tracer.message("reply", selfProc()?.pid, `<reply to ${from.node}>`, reply.ok ? reply.value : reply.error);
    this.host.procs.replied(from);
    if (from.node === this.host.name) return this.host.calls.settle(from.ref, reply);
    let sent: boolean;
    try {
      sent = this.toPeer(from.node, { type: "reply", ref: from.ref, ...(reply.ok ? { ok: true, value: reply.value } : { ok: false, error: reply.error }) });
    } catch (err) {
      // The caller must hear why instead of waiting for its timeout.
      sent = this.toPeer(from.node, {
        type: "reply",
        ref: from.ref,
        ok: false,
        error: { code: "not_serializable", message: `the reply cannot be sent to node ${from.node}: ${(err as Error).message}` },
      });
    }
    if (!sent) this.host.log.warn({ to: from.node }, "reply to an unknown node dropped");
  }

  private unknownNode(node: string): Error {
    return new ClusterError("nodedown", `node ${node} is not connected (known: ${[this.host.name, ...this.host.links.names()].join(", ")})`);
  }

  async spawn(node: string, module: string, args: unknown, opts: { link?: boolean } = {}): Promise<Pid> {
    const parent = opts.link ? mustSelf("spawnLink") : undefined;
    if (node === this.host.name) {
      const pid = await this.host.procs.spawn(module, args);
      if (parent) this.host.signals.link(parent, pid);
      return pid;
    }
    checkSendable(args, "args");
    const { ref, promise } = this.host.calls.expect(DEFAULT_CALL_TIMEOUT_MS, `spawn of ${module} on ${node}`, node);
    if (!this.toPeer(node, { type: "spawn", from: { node: this.host.name, ref }, module, args, ...(parent ? { link: parent.pid } : {}) })) {
      this.host.calls.settle(ref, { ok: false, error: toWireError(this.unknownNode(node)) });
    }
    const pid = (await promise) as Pid;
    if (parent) {
      if (parent.alive) (parent.links ??= new Map()).set(pid.toString(), pid);
      else this.host.signals.exit(parent.pid, pid, "killed");
    }
    return pid;
  }

  /**
   * Like Erlang's `!`: never fails for a dead or unreachable pid; the message
   * is dropped. A message that cannot travel throws here, before anything is
   * queued, whether the pid is local or not.
   */
  send(pid: Pid, msg: unknown, kind: "info" | "cast" = "info"): void {
    if (pid.node === this.host.name) {
      checkSendable(msg);
      if (this.host.tracer.on) this.host.tracer.message(kind, selfProc()?.pid, pid, msg);
      this.host.procs.deliver(pid.id, { kind, msg } as Envelope);
      return;
    }
    // Encoding is the sender check: one walk of the message (wire/codec.ts).
    const frame = encodeChecked({ type: "deliver", to: pid.id, kind, msg });
    if (this.host.tracer.on) this.host.tracer.message(kind, selfProc()?.pid, pid, msg);
    this.host.links.sendFrame(pid.node, frame);
  }

  call(pid: Pid, msg: unknown, timeoutMs = DEFAULT_CALL_TIMEOUT_MS): Promise<unknown> {
    // A remote call's message is checked as it is encoded, in request (one walk).
    if (pid.node === this.host.name) checkSendable(msg);
    return this.request(pid, msg, timeoutMs, true);
  }

  /**
   * A call whose message was checked by the caller, or need not be (it stays on this node).
   * `checked`: a remote message is checked as it is encoded, and throws NotSendable before anything is sent.
   */
  request(pid: Pid, msg: unknown, timeoutMs: number, checked = false): Promise<unknown> {
    const { ref, promise } = this.host.calls.expect(timeoutMs, `call to ${pid}`, pid.node);
    // The caller's pid, when a process calls, lets the server monitor or link to who asked (From.pid).
    const caller = selfProc()?.pid;
    const from: From = { node: this.host.name, ref, ...(caller ? { pid: caller } : {}) };
    if (pid.node === this.host.name) {
      if (this.host.tracer.on) this.host.tracer.message("call", caller, pid, msg);
      if (!this.host.procs.deliver(pid.id, { kind: "call", msg, from })) this.host.calls.settle(ref, { ok: false, error: noproc(pid) });
      return promise;
    }
    const envelope: PeerMessage = { type: "call", to: pid.id, from, msg };
    let frame: string | Buffer;
    try {
      frame = checked ? encodeChecked(envelope) : encodePeer(envelope);
    } catch (err) {
      // Nothing was sent: the pending call ends here, and the caller hears why at once.
      promise.catch(() => undefined);
      this.host.calls.settle(ref, { ok: false, error: toWireError(err) });
      throw err;
    }
    if (this.host.tracer.on) this.host.tracer.message("call", caller, pid, msg);
    if (!this.host.links.sendFrame(pid.node, frame)) this.host.calls.settle(ref, { ok: false, error: toWireError(this.unknownNode(pid.node)) });
    return promise;
  }

  /** A node-level request about `pid`, answered by the node it lives on. */
  sys(pid: Pid, op: SysOp): Promise<unknown> {
    if (pid.node === this.host.name) return runSys(this.host, pid, op);
    const { ref, promise } = this.host.calls.expect(DEFAULT_CALL_TIMEOUT_MS, `${op.op} of ${pid}`, pid.node);
    if (!this.toPeer(pid.node, { type: "sys", from: { node: this.host.name, ref }, pid, op }))
      this.host.calls.settle(ref, { ok: false, error: toWireError(this.unknownNode(pid.node)) });
    return promise;
  }

  /** A message from a peer, once the catch-up hold lets it through. */
  receive(msg: PeerMessage, _from?: string): void {
    switch (msg.type) {
      case "deliver":
        if (!this.host.procs.deliver(msg.to, { kind: msg.kind, msg: msg.msg })) this.host.log.debug({ to: msg.to }, "message to a dead process dropped");
        return;
      case "call":
        if (!this.host.procs.deliver(msg.to, { kind: "call", msg: msg.msg, from: msg.from }))
          this.reply(msg.from, { ok: false, error: noproc(new Pid(this.host.name, msg.to)) });
        return;
      case "reply":
        return this.host.calls.settle(
          msg.ref,
          msg.ok ? { ok: true, value: msg.value } : { ok: false, error: msg.error ?? { code: "error", message: "remote error" } },
        );
      case "spawn":
        this.host.procs
          .spawnProc(msg.module, msg.args, {
            // Linked before its first message can run, so no exit of the new process goes unsignalled.
            init: (p) => (msg.link ? (p.links ??= new Map()).set(msg.link.toString(), msg.link) : undefined),
          })
          .then(
            (proc) => this.reply(msg.from, { ok: true, value: proc.pid }),
            (err: unknown) => this.reply(msg.from, { ok: false, error: toWireError(err, "spawn_failed") }),
          );
        return;
      case "link":
      case "unlink":
      case "exit":
      case "monitor":
      case "demonitor":
      case "down":
        return this.host.signals.onPeer(msg);
      case "away":
        return this.host.signals.peerAway(msg.node);
      case "sys":
        runSys(this.host, msg.pid, msg.op).then(
          (value) => this.reply(msg.from, { ok: true, value }),
          (err: unknown) => this.reply(msg.from, { ok: false, error: toWireError(err) }),
        );
        return;
      default: {
        const unhandled: never = msg;
        return unhandled;
      }
    }
  }

  toPeer(node: string, msg: PeerMessage): boolean {
    return this.host.links.send(node, msg);
  }
}
