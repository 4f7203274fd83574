import * as net from "node:net";
import type { Socket } from "node:net";
import { hot, nodeName, nodes, send, startChild } from "devcluster";
import { branch } from "./tree";

/**
 * The TCP listener, a process under the node's supervisor: init opens the
 * server, terminate closes it, so a restart by the supervisor re-listens.
 * The server holds `accept`, an exported function and so a stable
 * trampoline: a save of this file changes how the next connection is accepted.
 */

export interface State {
  server: net.Server;
  port: number;
}

export async function init(args: { port: number; node: string; index: number }): Promise<State> {
  const { port } = args;
  const server = net.createServer((socket) => void accept(socket));
  try {
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        resolve();
      });
    });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === "EADDRINUSE" ? "is already in use" : `cannot be opened (${code ?? (err as Error).message})`;
    const message = `chat: port ${port} on 127.0.0.1 ${why}. Set CHAT_PORT to another base port (node ${args.node} listens on CHAT_PORT + ${args.index}), e.g. CHAT_PORT=8001 npm start`;
    console.error(message);
    throw Object.assign(new Error(message, { cause: err }), { code: code ?? "listen_failed" });
  }
  server.on("error", (err) => console.error(`chat: server on port ${port} failed: ${err.message}`));
  console.log(`chat listening on 127.0.0.1:${port} (node ${args.node}); connect with: nc 127.0.0.1 ${port}`);
  return { server, port };
}

export function terminate(_reason: unknown, state: State): void {
  state.server.close();
}

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
