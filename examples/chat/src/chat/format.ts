import type { ChatMessage } from "./types";

/**
 * How clients see chat lines. Sessions call these at delivery time, so saving
 * this file changes the next line every connected client gets, history
 * included, without anyone reconnecting.
 */

function clock(at: number): string {
  return new Date(at).toTimeString().slice(0, 8);
}

/** `[12:00:01] #lobby <alice> hello` */
export function formatMessage(m: ChatMessage): string {
  return `[${clock(m.at)}] #${m.room} <${m.from}> ${m.text}`;
}

/** `[12:00:01] #lobby * alice joined` */
export function formatNotice(room: string, text: string, at: number): string {
  return `[${clock(at)}] #${room} * ${text}`;
}
