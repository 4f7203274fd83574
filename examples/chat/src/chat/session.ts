import type { Socket } from "node:net";
import { call, cast, exit, nodeName, own, self, send, type From, type Pid } from "devcluster";
import { formatMessage, formatNotice } from "./format";
import { ROOM_NAME, ensureRoom } from "./rooms";
import type { ChatMessage, MemberInfo, RoomEvent } from "./types";

/**
 * One client connection: a process on the node that accepted the socket,
 * holding the socket in its state. The socket's listeners only forward to the
 * mailbox (`send(me, …)`), so every line is handled by the current version of
 * this module, and a reload never leaves a listener running old code.
 * The session owns its socket (`own`): however it ends, `kill` from the
 * shell included, the client is disconnected, and its room, which monitors
 * it, drops it from the member list.
 */

export interface State {
  me: Pid;
  socket: Socket;
  nick: string;
  room: string;
  /** the current room's pid, once joined */
  roomPid?: Pid;
  /** text after the last newline, waiting for the rest of its line */
  partial: string;
}

export type Info = { type: "connected" } | { type: "tcp"; data: string } | { type: "tcp_closed" } | RoomEvent;

export const DEFAULT_ROOM = "lobby";
const NICK = /^[a-z0-9_-]{1,24}$/i;
/** One line longer than this is cut, so a client cannot grow a room's history without bound. */
const MAX_LINE = 1000;

export function init(args: { socket: Socket; nick: string }): State {
  const me = self();
  const socket = own(args.socket);
  socket.setEncoding("utf8");
  // These closures belong to this version of the module forever, so they only
  // forward to the mailbox: the current version handles what they deliver.
  socket.on("data", (data: string) => send(me, { type: "tcp", data }));
  socket.on("close", () => send(me, { type: "tcp_closed" }));
  // "close" follows every "error"; without a listener an error would be thrown.
  socket.on("error", () => {});
  return { me, socket, nick: args.nick, room: DEFAULT_ROOM, partial: "" };
}

function write(state: State, line: string): void {
  if (!state.socket.destroyed) state.socket.write(line + "\n");
}

export async function handleInfo(msg: Info, state: State): Promise<State> {
  switch (msg.type) {
    case "connected":
      write(state, `welcome to devcluster chat on node ${nodeName()}, you are ${state.nick}. Type /help for commands.`);
      try {
        await join(state, DEFAULT_ROOM);
      } catch (err) {
        // The client stays connected: its next line or /join tries again.
        write(state, `could not join #${DEFAULT_ROOM}: ${(err as Error).message}. Try /join ${DEFAULT_ROOM}`);
      } finally {
        state.socket.resume();
      }
      return state;
    case "tcp": {
      const lines = (state.partial + msg.data).split(/\r?\n/);
      state.partial = lines.pop()!.slice(0, MAX_LINE);
      for (const line of lines) await onLine(state, line.slice(0, MAX_LINE));
      return state;
    }
    case "tcp_closed":
      exit(state.me, "closed");
      return state;
    case "chat":
      if (msg.message.room === state.room) write(state, formatMessage(msg.message));
      return state;
    case "notice":
      if (msg.room === state.room) write(state, formatNotice(msg.room, msg.text, msg.at));
      return state;
    default: {
      const unknown: never = msg;
      console.warn(`chat/session ${state.me}: ignoring ${JSON.stringify(unknown)}`);
      return state;
    }
  }
}

/** Sessions take no calls; the shell's `state(pid)` is the way to look inside. */
export function handleCall(_msg: unknown, _from: From, state: State): { reply: unknown; state: State } {
  return { reply: { error: "unknown_call" }, state };
}

/** A polite exit leaves at once; the socket is closed by the runtime, which owns it for this process. */
export function terminate(_reason: unknown, state: State): void {
  if (state.roomPid) cast(state.roomPid, { type: "leave", pid: state.me });
}

interface Command {
  name: string;
  args: string;
  help: string;
  action(state: State, arg: string): Promise<void> | void;
}

/** The commands as data, one help line each (as the Node REPL's `.help`). */
const COMMANDS: Command[] = [
  { name: "nick", args: "<name>", help: "change your name", action: setNick },
  { name: "join", args: "<room>", help: "leave this room and join another (its history is shown)", action: (s, arg) => switchRoom(s, arg) },
  { name: "history", args: "", help: "show this room's history", action: showHistory },
  { name: "who", args: "", help: "list who is in this room, and on which node", action: showWho },
  { name: "help", args: "", help: "show this help", action: showHelp },
];

async function onLine(state: State, line: string): Promise<void> {
  const text = line.trim();
  if (text === "") return;
  if (!text.startsWith("/")) return post(state, text);
  const [, name = "", arg = ""] = /^\/(\S*)\s*(.*)$/.exec(text) ?? [];
  const command = COMMANDS.find((c) => c.name === name.toLowerCase());
  if (!command) return write(state, `unknown command /${name}. Type /help for commands.`);
  try {
    await command.action(state, arg.trim());
  } catch (err) {
    write(state, `/${command.name} failed: ${(err as Error).message}`);
  }
}

function showHelp(state: State): void {
  write(state, "commands:");
  for (const c of COMMANDS) write(state, `  /${`${c.name} ${c.args}`.trim().padEnd(14)} ${c.help}`);
  write(state, "anything else is a message to the current room.");
}

async function setNick(state: State, nick: string): Promise<void> {
  if (!NICK.test(nick)) return write(state, "usage: /nick <name> (letters, digits, _ or -, up to 24)");
  state.nick = nick;
  if (state.roomPid) await call(state.roomPid, { type: "nick", pid: state.me, nick });
  write(state, `you are now ${nick}`);
}

async function switchRoom(state: State, room: string): Promise<void> {
  const name = room.replace(/^#/, "");
  if (!ROOM_NAME.test(name)) return write(state, "usage: /join <room> (letters, digits, _ or -, up to 32)");
  if (name === state.room && state.roomPid) return write(state, `you are already in #${name}`);
  if (state.roomPid) {
    // The old room may be gone (its node restarted); leaving it is best effort.
    await call(state.roomPid, { type: "leave", pid: state.me }).catch(() => undefined);
    state.roomPid = undefined;
  }
  await join(state, name);
}

/** Joins `room` (creating it on its home node if needed) and prints its history. */
async function join(state: State, room: string): Promise<void> {
  state.room = room;
  const pid = await ensureRoom(room);
  const r = await call<{ history: ChatMessage[]; members: number }>(pid, { type: "join", pid: state.me, nick: state.nick });
  state.roomPid = pid;
  write(state, `joined #${room} on node ${pid.node} (${r.members} here, ${r.history.length} earlier messages)`);
  for (const m of r.history) write(state, formatMessage(m));
}

async function showHistory(state: State): Promise<void> {
  const history = await roomCall<ChatMessage[]>(state, { type: "history" });
  if (history.length === 0) return write(state, `no messages in #${state.room} yet`);
  for (const m of history) write(state, formatMessage(m));
}

async function showWho(state: State): Promise<void> {
  const who = await roomCall<MemberInfo[]>(state, { type: "who" });
  write(state, `in #${state.room}: ${who.map((w) => `${w.nick}@${w.node}`).join(", ")}`);
}

async function post(state: State, text: string): Promise<void> {
  try {
    const r = await roomCall<{ error?: string }>(state, { type: "post", pid: state.me, text });
    if (r?.error) write(state, `not delivered (${r.error}); try /join ${state.room}`);
  } catch (err) {
    write(state, `not delivered: ${(err as Error).message}`);
  }
}

/**
 * A call to the current room. If the room is gone (its node restarted), the
 * session joins it again once, which starts a fresh room, and retries.
 */
async function roomCall<T>(state: State, msg: unknown): Promise<T> {
  if (state.roomPid) {
    try {
      return await call<T>(state.roomPid, msg);
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== "noproc" && code !== "nodedown" && code !== "timeout") throw err;
      write(state, `#${state.room} was lost (${code}); rejoining`);
    }
  }
  state.roomPid = undefined;
  await join(state, state.room);
  return call<T>(state.roomPid!, msg);
}
