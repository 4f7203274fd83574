import { parse } from "acorn";

/**
 * The body of the async function evalOn runs a snippet in. A snippet's value
 * is what the shell shows, so it must be the value a reader expects, as
 * node's REPL and `eval` give: an expression's value, and for several
 * statements the value of the last one when it is an expression statement
 * (`const x = 1; x + 1` is 2). A block that `return`s keeps doing so.
 *
 * The last statement is found by scanning for top-level statement ends (`;`, `}`, a
 * line break; strings, templates, comments and brackets skipped) and letting
 * V8 decide: the first split, from the left, whose head and tail compile as
 * `head; return (tail)` wins. The longest tail that is one expression is the
 * last statement; a split inside an expression leaves a tail that does not
 * compile in parentheses, so it is not taken.
 */

/**
 * What is wrong with `code` itself, read by acorn: V8 compiled it inside
 * evalOn's wrapper, and its message then names the wrapper's own closing
 * brace (`1 +` gave "Unexpected token '}'"). Undefined when acorn finds no
 * error, and V8's message stands.
 */
export function snippetSyntaxError(code: string): string | undefined {
  try {
    parse(code, { ecmaVersion: "latest", allowAwaitOutsideFunction: true, allowReturnOutsideFunction: true });
    return undefined;
  } catch (err) {
    const e = err as Error & { pos?: number; loc?: { line: number; column: number } };
    if (typeof e.pos !== "number" || !e.loc) return undefined;
    const what = code.slice(e.pos).trim() === "" ? "Unexpected end of input" : e.message.replace(/\s*\(\d+:\d+\)$/, "");
    const line = code.split("\n")[e.loc.line - 1] ?? "";
    return `SyntaxError: ${what} at ${e.loc.line}:${e.loc.column + 1} of the code: ${line.trim()}`;
  }
}

/** Compiles `code` into the body that returns its value; throws the compiler's error when the code does not compile at all. */
export function compileSnippet<F>(code: string, compile: (body: string) => F): F {
  const attempt = (body: string): F | undefined => {
    try {
      return compile(body);
    } catch {
      return undefined;
    }
  };
  const whole = attempt(`return (${code.trim().replace(/;\s*$/, "")}\n);`);
  if (whole) return whole;
  for (const at of statementEnds(code)) {
    const tail = code.slice(at).trim().replace(/;\s*$/, "");
    // A statement that starts with a keyword or a brace has no value (a `{` here opens a block, not an object).
    if (
      !tail ||
      /^(?:[{;]|(?:const|let|var|if|for|while|do|return|throw|function|async\s+function|class|try|switch|import|export|break|continue|debugger)\b)/.test(tail)
    )
      continue;
    const fn = attempt(`${code.slice(0, at)}\n;return (${tail}\n);`);
    if (fn) return fn;
  }
  return compile(code);
}

/** Offsets just past each top-level `;`, `}` and line break of `code`, left to right. */
export function statementEnds(code: string): number[] {
  const ends: number[] = [];
  const stack: string[] = [];
  let i = 0;
  // Whether a `/` here starts a regex literal rather than a division: after an operator, an opening bracket or nothing.
  let regexAllowed = true;
  while (i < code.length) {
    const c = code[i]!;
    const next = code[i + 1];
    if (c === "/" && next === "/") {
      while (i < code.length && code[i] !== "\n") i++;
      continue;
    }
    if (c === "/" && next === "*") {
      const close = code.indexOf("*/", i + 2);
      i = close < 0 ? code.length : close + 2;
      continue;
    }
    if (c === '"' || c === "'") {
      i = skipQuoted(code, i, c);
      regexAllowed = false;
      continue;
    }
    if (c === "`") {
      i = skipTemplate(code, i);
      regexAllowed = false;
      continue;
    }
    if (c === "/" && regexAllowed) {
      i = skipRegex(code, i);
      regexAllowed = false;
      continue;
    }
    if (c === "(" || c === "[" || c === "{") stack.push(c);
    else if (c === ")" || c === "]" || c === "}") stack.pop();
    if (stack.length === 0 && (c === ";" || c === "}" || c === "\n")) ends.push(i + 1);
    if (!/\s/.test(c)) regexAllowed = /[(,=:[!&|?{};+\-*%<>~^]/.test(c) || (/\w/.test(c) && endsKeyword(code, i));
    i++;
  }
  return ends;
}

function endsKeyword(code: string, i: number): boolean {
  if (/\w/.test(code[i + 1] ?? "")) return false;
  return /(?:^|[^\w$])(?:return|typeof|instanceof|in|of|new|delete|void|throw|case|do|else|yield|await)$/.test(code.slice(Math.max(0, i - 11), i + 1));
}

function skipQuoted(code: string, i: number, quote: string): number {
  i++;
  while (i < code.length && code[i] !== quote && code[i] !== "\n") i += code[i] === "\\" ? 2 : 1;
  return i + 1;
}

function skipRegex(code: string, i: number): number {
  i++;
  let inClass = false;
  while (i < code.length && code[i] !== "\n") {
    const c = code[i]!;
    if (c === "\\") i++;
    else if (c === "[") inClass = true;
    else if (c === "]") inClass = false;
    else if (c === "/" && !inClass) break;
    i++;
  }
  i++;
  while (i < code.length && /[a-z]/i.test(code[i]!)) i++;
  return i;
}

function skipTemplate(code: string, i: number): number {
  i++;
  while (i < code.length && code[i] !== "`") {
    if (code[i] === "\\") i += 2;
    else if (code[i] === "$" && code[i + 1] === "{") {
      // a substitution is code: skip to its matching brace, strings and nested templates included
      let depth = 1;
      i += 2;
      while (i < code.length && depth > 0) {
        const c = code[i]!;
        if (c === '"' || c === "'") i = skipQuoted(code, i, c);
        else if (c === "`") i = skipTemplate(code, i);
        else {
          if (c === "{") depth++;
          else if (c === "}") depth--;
          i++;
        }
      }
    } else i++;
  }
  return i + 1;
}
