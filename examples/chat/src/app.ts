import * as net from "node:net";
import type { StartContext } from "devcluster";
import { accept } from "./chat/listener";

/**
 * Entry module: every node runs start once at boot and listens for chat
 * clients on CHAT_PORT (default 7001) plus its index in the cluster, so n1 is
 * 7001, n2 7002, n3 7003. Each connection becomes a chat/session process.
 */
export async function start(ctx: StartContext): Promise<void> {
  const base = Number(process.env.CHAT_PORT ?? 7001);
  if (!Number.isInteger(base) || base < 1 || base > 65535) {
    throw Object.assign(new Error(`CHAT_PORT must be a port number, got ${JSON.stringify(process.env.CHAT_PORT)}`), { code: "bad_port" });
  }
  const port = base + ctx.nodes.indexOf(ctx.node);
  // `accept` is imported, so the server holds its stable trampoline: it reaches new code after a reload.
  const server = net.createServer(accept);
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
    const message = `chat: port ${port} on 127.0.0.1 ${why}. Set CHAT_PORT to another base port (node ${ctx.node} listens on CHAT_PORT + ${ctx.nodes.indexOf(ctx.node)}), e.g. CHAT_PORT=8001 npm start`;
    console.error(message);
    // start() throws, so the node is restarted with backoff and tries again once the port is free.
    throw Object.assign(new Error(message, { cause: err }), { code: code ?? "listen_failed" });
  }
  server.on("error", (err) => console.error(`chat: server on port ${port} failed: ${err.message}`));
  console.log(`chat listening on 127.0.0.1:${port} (node ${ctx.node}); connect with: nc 127.0.0.1 ${port}`);
}
