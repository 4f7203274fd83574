import { inspect } from "node:util";

/**
 * A process identifier. It names the node the process lives on, so a pid is
 * all a sender needs to reach it, local or remote. Prints as `<n1.42>`.
 */
export class Pid {
  constructor(
    readonly node: string,
    readonly id: number,
  ) {}

  toString(): string {
    return `<${this.node}.${this.id}>`;
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

const PID_TEXT = /^<([A-Za-z][\w-]*)\.(\d+)>$/;

/** Parses `<n1.42>`; returns undefined for anything else. */
export function parsePid(text: string): Pid | undefined {
  const m = PID_TEXT.exec(text.trim());
  return m ? new Pid(m[1]!, Number(m[2])) : undefined;
}

export function isPid(value: unknown): value is Pid {
  return value instanceof Pid;
}
