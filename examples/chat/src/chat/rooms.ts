import { nodes, register, send, startChild, whereis, type Pid } from "devcluster";
import { branch } from "./tree";

/** Room names: short, and safe to print and to register as `room:<name>`. */
export const ROOM_NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/i;

/** The cluster-wide name a room registers under. */
export function roomKey(room: string): string {
  return `room:${room}`;
}

/**
 * The node a room lives on: FNV-1a of its name over the cluster's nodes (in
 * config order, the same list on every node), so every node picks the same home.
 */
export function homeNode(room: string, cluster: string[] = nodes()): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < room.length; i++) {
    h ^= room.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return cluster[h % cluster.length]!;
}

/**
 * The room's pid, starting it under the rooms supervisor of its home node if
 * nobody has. Two sessions may race to create the same room: the loser's
 * register fails with name_taken, so it stops the room it started and uses the winner.
 */
export async function ensureRoom(room: string): Promise<Pid> {
  const key = roomKey(room);
  for (let attempt = 0; attempt < 3; attempt++) {
    const found = await whereis(key);
    if (found) return found;
    const home = homeNode(room);
    // Temporary: a room that crashes has lost its members; the next join creates it afresh.
    const pid = await startChild(await branch(home, "rooms"), {
      id: `room:${room}:${Math.random().toString(36).slice(2, 10)}`,
      module: "chat/room",
      args: { name: room },
      restart: "temporary",
    });
    try {
      await register(key, pid);
      return pid;
    } catch (err) {
      send(pid, { type: "stop" });
      if ((err as { code?: string }).code !== "name_taken") throw err;
    }
  }
  throw Object.assign(new Error(`room ${room} could not be created or found after 3 attempts`), { code: "room_unavailable" });
}
