/**
 * @fileoverview Import phase: parse MLIR text, then verify the module with the op table. The two
 * steps are phases of their own in src/pipeline.ts; importModule runs both.
 */
import { readFileSync } from 'node:fs';
import { RuntimeError } from '../diag/diagnostics.js';
import { SourceFile } from '../diag/source.js';
import type { Module } from '../ir/core.js';
import { verifyModule } from '../ir/verify.js';
import { markPositiveElided } from './elided.js';
import { parseModule } from './parser.js';
import { attachOperandShardings } from '../ops/sharding-calls.js';
import { shardyToGspmd } from '../partition/shardy.js';
import { isBytecode, readArtifact } from './bytecode/index.js';

/**
 * A model file as StableHLO text: MLIR text as is, a portable artifact (MLIR bytecode of VHLO,
 * recognized by its magic number, whatever its name) decoded. Diagnostics of a decoded artifact
 * name the file with line:col in its StableHLO text (what `--compile-to import` prints).
 */
export function readSourceFile(path: string): SourceFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch {
    throw new RuntimeError(`cannot read ${path}`);
  }
  if (isBytecode(bytes)) {
    const art = readArtifact(bytes, path);
    return new SourceFile(path, art.text, art.blobs);
  }
  return new SourceFile(path, bytes.toString('utf8'));
}

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
