import * as net from "node:net";
import { own } from "devcluster";
import { accept } from "./accept";

/**
 * The TCP listener, a process under the node's supervisor: init opens the
 * server and owns it, so it is closed whenever the process ends and a
 * restart by the supervisor re-listens.
 * The server holds `accept`, imported from chat/accept and so a stable
 * trampoline: a save of accept.ts changes how the next connection is accepted.
 */

export interface State {
  server: net.Server;
  port: number;
}

export async function init(args: { port: number; node: string; index: number }): Promise<State> {
  const { port } = args;
  // Owned: a listener killed from the shell (terminate does not run then) still frees its port for the restart.
  const server = own(net.createServer(accept));
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
