/**
 * @fileoverview Import phase: parse MLIR text and verify the module with the op table.
 */
import type { SourceFile } from '../diag/source.js';
import type { Module } from '../ir/core.js';
import { verifyModule } from '../ir/verify.js';
import { markPositiveElided } from './elided.js';
import { parseModule } from './parser.js';
import { attachOperandShardings } from '../partition/manual.js';

/** Parses and verifies; throws CompileError (file:line:col) on the first problem. */
export function importModule(source: SourceFile): Module {
  const m = parseModule(source);
  verifyModule(m);
  markPositiveElided(m);
  attachOperandShardings(m);
  return m;
}
