import type { Socket } from "node:net";
import { hot, nodeName, nodes, send, startChild } from "devcluster";
import { branch } from "./tree";

/**
 * The TCP server's connection handler (chat/listener hands it to the server
 * as an import, so a save of this file changes how the next connection is
 * accepted): each connection becomes a chat/session process under this
 * node's sessions supervisor.
 */

/** Guests are numbered per node, interleaved across nodes (n1: 1, 4, 7…; n2: 2, 5, 8…), so names never collide. */
function guestNick(): string {
  const count = ((hot.data.guests as number | undefined) ?? 0) + 1;
  hot.data.guests = count;
  const all = nodes();
  return `guest${(count - 1) * all.length + all.indexOf(nodeName()) + 1}`;
}

export async function accept(socket: Socket): Promise<void> {
  // No data is read until the session has joined its room (it resumes the socket).
  socket.pause();
  const nick = guestNick();
  try {
    // The socket travels by reference: the sessions supervisor is on this node (startChild to another node would refuse it).
    const sessions = await branch(nodeName(), "sessions");
    const pid = await startChild(sessions, { id: `session:${nick}`, module: "chat/session", args: { socket, nick }, restart: "temporary" });
    send(pid, { type: "connected" });
  } catch (err) {
    console.error(`chat: could not start a session for ${socket.remoteAddress}:${socket.remotePort}: ${(err as Error).message}`);
    socket.destroy();
  }
}
