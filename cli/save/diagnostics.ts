import type * as esbuild from "esbuild";
import { ClusterError } from "../../wire/errors";

/** One error or warning esbuild found, located for humans. */
export interface CompileDiagnostic {
  /** Path relative to the project folder, forward slashes (`src/chat/room.ts`); "" when esbuild gave none. */
  file: string;
  /** 1-based; 0 when there is no location. */
  line: number;
  /** 1-based; 0 when there is no location. */
  column: number;
  /** The offending source line, "" when there is no location. */
  lineText: string;
  /** esbuild's message: `Expected ";" but found "}"`, `Could not resolve "./nope"`. */
  text: string;
  /** esbuild's name for a warning (`call-import-namespace`), for `--json` and log filters. */
  id?: string;
  /** esbuild's notes under the message: where the import is, what to change. */
  notes?: string[];
}

/**
 * The set did not compile. Nothing of it may be sent: a reload is all or nothing,
 * and the cluster keeps running the last good version.
 */
export class CompileError extends ClusterError {
  /** each with file:line:col, for editors and the save report; ClusterError has no slot for them */
  readonly diagnostics: CompileDiagnostic[];

  constructor(diagnostics: CompileDiagnostic[]) {
    super("compile_failed", formatDiagnostics(diagnostics));
    this.name = "CompileError";
    this.diagnostics = diagnostics;
  }
}

export function toDiagnostic(msg: esbuild.Message, file?: string): CompileDiagnostic {
  const loc = msg.location;
  const notes = msg.notes.map((n) => (n.location ? `${n.location.line}:${columnOf(n.location)}: ${n.text}${suggested(n.location)}` : n.text));
  return {
    file: file ?? loc?.file ?? "",
    line: loc?.line ?? 0,
    column: loc ? columnOf(loc) : 0,
    lineText: loc?.lineText ?? "",
    text: msg.text,
    ...(msg.id ? { id: msg.id } : {}),
    ...(notes.length ? { notes } : {}),
  };
}

/** The note's line as esbuild suggests to write it (` import express from "express";`), or "". */
function suggested(loc: esbuild.Location): string {
  if (!loc.suggestion) return "";
  const bytes = Buffer.from(loc.lineText);
  return ` ${bytes.subarray(0, loc.column).toString()}${loc.suggestion}${bytes.subarray(loc.column + loc.length).toString()}`;
}

/** esbuild counts columns in UTF-8 bytes; people count characters. */
function columnOf(loc: esbuild.Location): number {
  return Buffer.from(loc.lineText).subarray(0, loc.column).toString().length + 1;
}

/**
 * `src/chat/room.ts:14:3: error: <text>` with the line and a caret under the
 * column, for each error, then what it means for the running cluster.
 */
export function formatDiagnostics(diagnostics: CompileDiagnostic[]): string {
  const parts = diagnostics.map((d) => located(d, "error"));
  parts.push("Nothing was sent; the cluster keeps running the last good version.");
  return parts.join("\n");
}

/**
 * `src/app.ts:4:19: warning: <text> [<id>]` with the line, a caret and
 * esbuild's notes. A warning does not stop the save: the module is sent.
 */
export function formatWarning(d: CompileDiagnostic): string {
  const notes = (d.notes ?? []).map((n) => `\n  note: ${n}`).join("");
  return located(d, "warning", d.id ? ` [${d.id}]` : "") + notes;
}

function located(d: CompileDiagnostic, severity: "error" | "warning", tag = ""): string {
  if (!d.file) return `${severity}: ${d.text}${tag}`;
  if (d.line === 0) return `${d.file}: ${severity}: ${d.text}${tag}`;
  const gutter = Math.max(5, String(d.line).length);
  return (
    `${d.file}:${d.line}:${d.column}: ${severity}: ${d.text}${tag}\n` +
    `${String(d.line).padStart(gutter)} | ${d.lineText}\n` +
    // Keep tabs so the caret lines up under the column in a terminal.
    `${" ".repeat(gutter)} | ${d.lineText.slice(0, Math.max(0, d.column - 1)).replace(/[^\t]/g, " ")}^`
  );
}
