import type { Pid } from "devcluster";

/** One chat line as a room stores it: plain data, so it crosses nodes and survives reloads of every module. */
export interface ChatMessage {
  from: string;
  text: string;
  /** ms since the epoch, stamped by the room */
  at: number;
  room: string;
}

/** A member as `/who` shows it. */
export interface MemberInfo {
  nick: string;
  node: string;
}

/** Requests a session makes of a room (handleCall). */
export type RoomCall =
  | { type: "join"; pid: Pid; nick: string }
  | { type: "leave"; pid: Pid }
  | { type: "post"; pid: Pid; text: string }
  | { type: "nick"; pid: Pid; nick: string }
  | { type: "history" }
  | { type: "who" };

/** What a room sends its members (handleInfo of chat/session). */
export type RoomEvent = { type: "chat"; message: ChatMessage } | { type: "notice"; room: string; text: string; at: number };
