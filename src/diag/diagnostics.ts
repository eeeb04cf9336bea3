/**
 * @fileoverview Diagnostics: a catalog of message codes, the Diagnostic record, a bag that
 * collects them, and GCC-style rendering (`file:line:col: error: ...` + source line + caret).
 * User errors are reported through these, never thrown as raw exceptions to the user.
 */
import type { Loc, SourceFile } from './source.js';

/** A failure while running or building a program (bad input values, a tool that failed), as
 * opposed to a located diagnostic in the source. */
export class RuntimeError extends Error {}

const MESSAGES = {
  E0100: 'unexpected character {ch}',
  E0101: 'unexpected {tok}, expected {expected}',
  E0102: 'unterminated {what}',
  E0103: 'bad literal: {detail}',
  E0104: 'unknown type {name}',
  E0105: 'use of undefined value {name}',
  E0106: 'redefinition of value {name}',
  E0107: 'unknown function @{name}',
  E0108: '{what} nested deeper than {limit} levels',
  E0110: '{file}: byte offset {offset}: {detail}',
  E0201: "unknown op '{op}'",
  E0202: '{op}: declared result type {declared} does not match inferred type {inferred}',
  E0203: '{op}: {detail} [{constraint}]',
  E0204: '{op}: {detail}',
  E0205: '{op}: expected {expected} operand(s), got {got}',
  E0206: '{op}: missing attribute {name}',
  E0301: "op '{op}' is not supported by target '{target}'",
  E0302: 'check failed: {detail}',
  E0303: '{op}: reduction body is not a single elementwise op; cannot generate code',
} as const;
export type DiagCode = keyof typeof MESSAGES;
export type Severity = 'error' | 'warning' | 'note';

export interface Diagnostic {
  readonly code: DiagCode;
  readonly severity: Severity;
  readonly message: string;
  readonly loc?: Loc;
}

/** Fills `{name}` placeholders of a catalog message. */
function formatMessage(code: DiagCode, args: Record<string, string | number>): string {
  return MESSAGES[code].replace(/\{(\w+)\}/g, (_, k: string) => String(args[k] ?? `{${k}}`));
}

/** A user-facing error: carries a diagnostic; caught at the CLI/runner boundary and rendered. */
export class CompileError extends Error {
  constructor(readonly diagnostic: Diagnostic) {
    super(diagnostic.message);
  }
}

export function error(code: DiagCode, args: Record<string, string | number>, loc?: Loc): CompileError {
  const message = formatMessage(code, args);
  return new CompileError(loc ? { code, severity: 'error', message, loc } : { code, severity: 'error', message });
}

/** Renders like GCC/clang: location, severity, code, message, then the source line and a caret. */
export function renderDiagnostic(d: Diagnostic, source?: SourceFile): string {
  const where = d.loc ? `${d.loc.file}:${d.loc.line}:${d.loc.col}: ` : '';
  let out = `${where}${d.severity} ${d.code}: ${d.message}`;
  if (d.loc && source && source.name === d.loc.file) {
    const text = source.lineText(d.loc.line);
    const gutter = String(d.loc.line).padStart(5);
    out += `\n${gutter} | ${text}\n${' '.repeat(gutter.length)} | ${' '.repeat(Math.max(0, d.loc.col - 1))}^`;
  }
  if (d.loc?.origin) out += `\n${where}note: from source location ${d.loc.origin}`;
  return out;
}
