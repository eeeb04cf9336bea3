/**
 * @fileoverview Import phase: parse MLIR text and verify the module with the op table.
 */
import type { SourceFile } from '../diag/source.js';
import type { Module } from '../ir/core.js';
import { verifyModule } from '../ir/verify.js';
import { markPositiveElided } from './elided.js';
import { parseModule } from './parser.js';
import { attachOperandShardings } from '../ops/sharding-calls.js';
import { shardyToGspmd } from '../partition/shardy.js';

/** Parses and verifies; throws CompileError (file:line:col) on the first problem. */
export function importModule(source: SourceFile): Module {
  // Shardy's shard_map becomes the GSPMD form both backends read (partition/shardy.ts).
  const m = shardyToGspmd(parseModule(source));
  verifyModule(m);
  markPositiveElided(m);
  attachOperandShardings(m);
  return m;
}
