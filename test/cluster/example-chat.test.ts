import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { cpSync } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import type { DevServer } from "../../cli/dev/devServer";
import { cli, makeProject, nextSave, startCluster, type Project } from "../helpers/cluster";
import type { ProcessInfo } from "../../wire/protocol";
import { within } from "../helpers/fakeNode";
import { freePortRun } from "../helpers/ports";

const EXAMPLE_SRC = path.join(__dirname, "..", "..", "..", "examples", "chat", "src");
const DEADLINE_MS = 10_000;

/** The example's format.ts with a visibly different formatMessage (formatNotice kept: sessions import it). */
const NEW_FORMAT = `import type { ChatMessage } from "./types";

export function formatMessage(m: ChatMessage): string {
  return \`v2 \${m.from} in \${m.room} says: \${m.text}\`;
}

export function formatNotice(room: string, text: string, at: number): string {
  return \`v2 #\${room} * \${text} (\${at})\`;
}
`;

/** A `nc`-like client: everything the server wrote, and a way to wait for a line. */
class ChatClient {
  text = "";
  private readonly socket: net.Socket;
  private readonly waiters: (() => void)[] = [];
  /** settles when the server closes the connection */
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.closed = new Promise((resolve) => socket.once("close", () => resolve()));
    socket.setEncoding("utf8");
    socket.on("data", (d: string) => {
      this.text += d;
      for (const w of this.waiters.splice(0)) w();
    });
    socket.on("error", () => {});
  }

  static connect(port: number): Promise<ChatClient> {
    return new Promise((resolve, reject) => {
      const socket = net.connect(port, "127.0.0.1", () => {
        socket.off("error", reject);
        resolve(new ChatClient(socket));
      });
      socket.once("error", reject);
    });
  }

  /** Where the received text ends now; pass it to `waitFor` to match only what comes later. */
  mark(): number {
    return this.text.length;
  }

  say(line: string): void {
    this.socket.write(line + "\n");
  }

  /** Resolves with the received text from `from` once it matches `re`; rejects after 10 s with what was received. */
  waitFor(re: RegExp, from = 0): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        reject(new Error(`no text matching ${re} within ${DEADLINE_MS} ms; received since mark:\n${this.text.slice(from)}`));
      }, DEADLINE_MS);
      const check = (): void => {
        const seen = this.text.slice(from);
        if (re.test(seen)) {
          clearTimeout(timer);
          resolve(seen);
        } else {
          this.waiters.push(check);
        }
      };
      check();
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

const escape = (s: string): RegExp => new RegExp(s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));

describe("examples/chat", () => {
  let project: Project;
  let server: DevServer | undefined;
  const clients: ChatClient[] = [];
  const savedPort = process.env.CHAT_PORT;
  let base: number;

  before(async () => {
    base = await freePortRun(3);
    process.env.CHAT_PORT = String(base);
    project = makeProject({}, { name: "chat-test", src: "src", entry: "app", nodes: 3 });
    // The test edits a copy, never the example in the repo.
    cpSync(EXAMPLE_SRC, path.join(project.dir, "src"), { recursive: true });
  });

  after(async () => {
    for (const c of clients) c.close();
    await server?.close();
    project?.cleanup();
    if (savedPort === undefined) delete process.env.CHAT_PORT;
    else process.env.CHAT_PORT = savedPort;
  });

  test("saving chat/format.ts changes what clients on two nodes see next, and /history keeps earlier messages", async () => {
    server = (await startCluster(project)).server;

    const alice = await ChatClient.connect(base); // n1
    clients.push(alice);
    const bob = await ChatClient.connect(base + 1); // n2
    clients.push(bob);
    await alice.waitFor(/on node n1.*\/help[\s\S]*joined #lobby/);
    await bob.waitFor(/on node n2.*\/help[\s\S]*joined #lobby/);

    alice.say("/nick alice");
    bob.say("/nick bob");
    await alice.waitFor(/you are now alice/);
    await bob.waitFor(/you are now bob/);

    let a = alice.mark();
    let b = bob.mark();
    alice.say("/join reload");
    await alice.waitFor(/joined #reload/, a);
    bob.say("/join reload");
    await bob.waitFor(/joined #reload/, b);

    a = alice.mark();
    b = bob.mark();
    alice.say("hello before the reload");
    const before = /\[\d\d:\d\d:\d\d\] #reload <alice> hello before the reload/;
    await alice.waitFor(before, a);
    await bob.waitFor(before, b);

    const saved = nextSave(server);
    project.write("src/chat/format.ts", NEW_FORMAT);
    const report = await saved;
    assert.equal(report.error, undefined, `compile failed: ${report.error?.message}`);
    assert.ok(report.report?.ok, `reload failed: ${JSON.stringify(report.report)}`);

    a = alice.mark();
    b = bob.mark();
    bob.say("hello after the reload");
    const afterLine = escape("v2 bob in reload says: hello after the reload");
    await alice.waitFor(afterLine, a);
    await bob.waitFor(afterLine, b);

    // The room kept its history across the reload; the session formats it with the new code.
    a = alice.mark();
    alice.say("/history");
    const history = await alice.waitFor(/v2 alice in reload says: hello before the reload\n.*v2 bob in reload says: hello after the reload/, a);
    assert.doesNotMatch(history, /<alice>/, "history still shown in the old format");
  });

  test("a session killed from the shell disconnects its client and leaves its room (rule 11: processes own their sockets)", async () => {
    server ??= (await startCluster(project)).server;
    const carol = await ChatClient.connect(base + 2); // n3
    clients.push(carol);
    const dave = await ChatClient.connect(base); // n1
    clients.push(dave);
    await carol.waitFor(/on node n3[\s\S]*joined #lobby/);
    await dave.waitFor(/on node n1[\s\S]*joined #lobby/);
    let d = dave.mark();
    carol.say("/nick carol");
    await carol.waitFor(/you are now carol/);
    dave.say("/who");
    await dave.waitFor(/in #lobby: .*carol@n3/, d);

    const ps = (await server.coordinator.nodeRequest("n3", { op: "ps" })) as ProcessInfo[];
    const sessions = ps.filter((p) => p.module === "chat/session");
    assert.equal(sessions.length, 1, `one session on n3, carol's: ${JSON.stringify(sessions)}`);
    d = dave.mark();
    const r = await cli(["shell", "--eval", `kill("${sessions[0]!.pid}")`], project.dir);
    assert.equal(r.code, 0, r.stderr);

    // "kill" skips terminate: only the runtime, which owns the socket for the session, can close it, and only the room's monitor can drop the member.
    await within(carol.closed, "carol's connection closing after her session was killed", DEADLINE_MS);
    await dave.waitFor(/#lobby \* carol left/, d);
    d = dave.mark();
    dave.say("/who");
    const who = await dave.waitFor(/in #lobby: .*\n/, d);
    assert.doesNotMatch(who, /carol/);
  });
});
