/**
 * @fileoverview Import phase: parse MLIR text, then verify the module with the op table. The two
 * steps are phases of their own in src/pipeline.ts; importModule runs both.
 */
import type { SourceFile } from '../diag/source.js';
import type { Module } from '../ir/core.js';
import { verifyModule } from '../ir/verify.js';
import { markPositiveElided } from './elided.js';
import { parseModule } from './parser.js';
import { attachOperandShardings } from '../ops/sharding-calls.js';
import { shardyToGspmd } from '../partition/shardy.js';

/** Parses; throws CompileError (file:line:col) on bad syntax. */
export function parseSource(source: SourceFile): Module {
  // Shardy's shard_map becomes the GSPMD form both backends read (partition/shardy.ts).
  return shardyToGspmd(parseModule(source));
}

/** Verifies with the op table and annotates what later phases read (elided weights, operand shardings). */
export function verifyImported(m: Module): Module {
  verifyModule(m);
  markPositiveElided(m);
  attachOperandShardings(m);
  return m;
}

/** Parses and verifies; throws CompileError (file:line:col) on the first problem. */
export function importModule(source: SourceFile): Module {
  return verifyImported(parseSource(source));
}
