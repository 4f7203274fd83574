import type { Socket } from "node:net";
import { nodeName, nodes, send, spawn, hot } from "devcluster";

/**
 * The TCP server's connection handler. app.ts registers it by importing it,
 * so the server holds this module's stable trampoline and a save of this
 * file changes how the next connection is accepted.
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
  try {
    const pid = await spawn(nodeName(), "chat/session", { socket, nick: guestNick() });
    send(pid, { type: "connected" });
  } catch (err) {
    console.error(`chat: could not start a session for ${socket.remoteAddress}:${socket.remotePort}: ${(err as Error).message}`);
    socket.destroy();
  }
}
