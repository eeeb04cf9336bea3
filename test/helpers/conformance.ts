/**
 * @fileoverview Case identifiers of the conformance suite for the tests' reviewed lists
 * (test/fixtures/conformance-*.txt): `OUTCOME path[#case]`, the path relative to
 * ../shared/conformance; a failure also names its kind (check or error).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { CaseResult } from '../../src/conformance/runner.js';
import { FIXTURES, SHARED } from './paths.js';

const ROOT = join(SHARED, 'conformance');

/** `path[#case]`, the path relative to ../shared/conformance. */
export function caseWhere(r: CaseResult): string {
  return `${r.file.slice(ROOT.length + 1)}${r.index > 1 ? `#${r.index}` : ''}`;
}

export function caseId(r: CaseResult): string {
  const where = caseWhere(r);
  const outcome = r.outcome === 'failed' ? 'FAIL' : r.outcome === 'skipped' ? 'SKIP' : r.outcome.toUpperCase();
  return `${outcome} ${where}${r.outcome === 'failed' ? ` (${r.failure ?? 'error'})` : ''}`;
}

/** The lines of a reviewed list; with UPDATE_CONFORMANCE_LISTS=1 and `actual` given, the file is
 * first rewritten from it (then review the diff and commit it). */
export function reviewedList(name: string, actual?: readonly string[]): Set<string> {
  const path = join(FIXTURES, name);
  if (actual && process.env['UPDATE_CONFORMANCE_LISTS'] === '1') writeFileSync(path, [...actual].sort().join('\n') + '\n');
  return new Set(readFileSync(path, 'utf8').split('\n').filter((l) => l));
}
