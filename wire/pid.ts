import { inspect } from "node:util";

/**
 * How many process numbers one life of a node owns. A node's n-th start (its
 * incarnation, Erlang's creation) numbers its processes from n × this + 1, so a
 * stale pid of a previous life never reaches a process of this one, while the
 * id stays one number (maps, the codec and every comparison use it as is).
 * 2^32 processes per life, 2^21 lives: both stay within a safe integer.
 */
export const PIDS_PER_INCARNATION = 2 ** 32;

/**
 * A process identifier. It names the node the process lives on, so a pid is
 * all a sender needs to reach it, local or remote. Prints as `<n1.42>` in a
 * node's first life and `<n1.42.3>` in its fourth (number within the life,
 * then the incarnation), so pids stay short after restarts.
 */
export class Pid {
  constructor(
    readonly node: string,
    readonly id: number,
  ) {}

  /** The pid of the `serial`-th process (from 1) of `node`'s `incarnation`-th start (from 0). */
  static of(node: string, serial: number, incarnation = 0): Pid {
    return new Pid(node, incarnation * PIDS_PER_INCARNATION + serial);
  }

  /** which start of its node this pid belongs to (0 for the first) */
  get incarnation(): number {
    return Math.floor(this.id / PIDS_PER_INCARNATION);
  }

  /** the process number within that start */
  get serial(): number {
    return this.id % PIDS_PER_INCARNATION;
  }

  toString(): string {
    const inc = this.incarnation;
    return inc === 0 ? `<${this.node}.${this.serial}>` : `<${this.node}.${this.serial}.${inc}>`;
  }

  toJSON(): string {
    return this.toString();
  }

  [inspect.custom](): string {
    return this.toString();
  }

  equals(other: Pid): boolean {
    return this.node === other.node && this.id === other.id;
  }
}

const PID_TEXT = /^<([A-Za-z][\w-]*)\.(\d+)(?:\.(\d+))?>$/;

/** Parses `<n1.42>` and `<n1.42.3>` (what toString prints); returns undefined for anything else. */
export function parsePid(text: string): Pid | undefined {
  const m = PID_TEXT.exec(text.trim());
  if (!m) return undefined;
  const serial = Number(m[2]);
  const incarnation = m[3] === undefined ? 0 : Number(m[3]);
  // A serial outside one life's block would print differently from how it was written.
  if (serial >= PIDS_PER_INCARNATION || !Number.isSafeInteger(incarnation * PIDS_PER_INCARNATION + serial)) return undefined;
  return Pid.of(m[1]!, serial, incarnation);
}

export function isPid(value: unknown): value is Pid {
  return value instanceof Pid;
}
