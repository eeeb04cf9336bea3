/**
 * @fileoverview Case identifiers of the conformance suite for the tests' reviewed lists
 * (test/fixtures/conformance-*.txt): `OUTCOME path[#case]`, the path relative to
 * ../shared/conformance; a failure also names its kind (check or error).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import type { Test } from 'tap';
import { collectFiles, summarize, type CaseResult } from '../../src/conformance/runner.js';
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
  if (actual && process.env['UPDATE_CONFORMANCE_LISTS'] === '1')
    writeFileSync(path, [...actual].sort().join('\n') + '\n');
  return new Set(
    readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l),
  );
}

/** The reviewed list of the C backend's passing (and no-kernel) cases. */
const C_PASSES = 'conformance-c-passes.txt';

/** Judges a C-backend conformance run: only located "not supported" failures, and the passing
 * cases exactly those listed (within `within`, when the run covered part of the suite). */
export function judgeC(t: Test, results: readonly CaseResult[], what: string, within?: (id: string) => boolean): void {
  const s = summarize(results);
  t.comment(JSON.stringify(s));
  const bugs = results.filter((r) => r.outcome === 'failed' && !/error E030[13]:/.test(r.reason));
  for (const r of bugs.slice(0, 20)) t.comment(`${r.file}#${r.index}: ${r.reason}`);
  t.equal(
    bugs.length,
    0,
    `${what}: every failure is a stated "not supported yet" (E0301/E0303), never a wrong answer, a build error or a sanitizer report`,
  );
  const listed = results.filter((r) => r.outcome === 'passed' || r.outcome === 'no_kernel').map(caseId);
  const expected = [...reviewedList(C_PASSES, within ? undefined : listed)].filter((id) => !within || within(id));
  const lost = expected.filter((id) => !listed.includes(id));
  const gained = listed.filter((id) => !expected.includes(id));
  const byWhere = new Map(results.map((r) => [caseWhere(r), r]));
  for (const id of lost) {
    const now = byWhere.get(id.slice(id.indexOf(' ') + 1));
    t.comment(`lost: ${id}: ${now ? `now ${caseId(now)}: ${now.reason}` : 'not run'}`);
  }
  for (const id of gained) t.comment(`not in ${C_PASSES}: ${id}`);
  t.equal(lost.length, 0, `${what}: no listed case regresses`);
  t.equal(gained.length, 0, `${what}: every passing case is in the list (add new ones)`);
  t.ok(s.passed > 0, `${what}: ${s.passed} cases pass, ${s.no_kernel} more match without a kernel`);
}

/** Half of the conformance files (a: interpret/ and the first half of testdata/ by name; b: the
 * rest), and the matching filter of the reviewed list's case ids, for a suite split over two files. */
export function conformanceHalf(half: 'a' | 'b'): { files: string[]; within: (id: string) => boolean } {
  const all = collectFiles([join(SHARED, 'conformance')]);
  const names = all
    .filter((f) => !f.includes('interpret/'))
    .map((f) => basename(f))
    .sort();
  const boundary = names[Math.floor(names.length / 2)] ?? '';
  const inA = (path: string): boolean => path.includes('interpret/') || basename(path.replace(/#\d+$/, '')) < boundary;
  return {
    files: all.filter((f) => inA(f) === (half === 'a')),
    within: (id) => inA(id.slice(id.indexOf(' ') + 1)) === (half === 'a'),
  };
}
