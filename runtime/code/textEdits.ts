/**
 * Edits of generated code by offset: the compiler's import rewrite, the loader's
 * instrumentation and a patch's scope layout all splice text at positions a parse
 * found, never with a regex over the text.
 */

/** A replacement of `code`'s text from `start` to `end` (an insert when they are equal). */
export interface Edit {
  start: number;
  end: number;
  text: string;
}

/** `code` with non-overlapping `edits` applied; edits at the same offset keep their order. */
export function applyEdits(code: string, edits: Edit[]): string {
  if (edits.length === 0) return code;
  const sorted = [...edits].sort((a, b) => a.start - b.start);
  let out = "";
  let at = 0;
  for (const e of sorted) {
    out += code.slice(at, e.start) + e.text;
    at = e.end;
  }
  return out + code.slice(at);
}
