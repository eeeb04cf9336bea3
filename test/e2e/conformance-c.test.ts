import { join } from 'node:path';
import { execa } from 'execa';
import t, { type Test } from 'tap';
import { runFilesC } from '../../src/conformance/c-backend.js';
import { collectFiles, summarize, type CaseResult } from '../../src/conformance/runner.js';
import { caseId, caseWhere, reviewedList } from '../helpers/conformance.js';
import { HAVE_SHARED, SHARED } from '../helpers/paths.js';

// The C backend over the conformance data: every case the interpreter passes is compiled
// (-Wall -Wextra -Werror), run, and the values its check ops compare (the computed operand, not
// the expected literal) are diffed against the interpreter. A case the backend cannot lower yet
// fails with a located E0301/E0303; any other failure (a numeric mismatch, C that does not compile,
// a crash) is a bug and fails this test. The cases that pass are a reviewed per-case list
// (test/fixtures/conformance-c-passes.txt): losing any one of them fails, and so does a case
// that passes without being listed (add it). Cases whose C has no kernel (it only copies
// constants) are listed apart and never count as passes.
const LIST = 'conformance-c-passes.txt';

function judge(t: Test, results: readonly CaseResult[], what: string, within?: (id: string) => boolean): void {
  const s = summarize(results);
  t.comment(JSON.stringify(s));
  const bugs = results.filter((r) => r.outcome === 'failed' && !/error E030[13]:/.test(r.reason));
  for (const r of bugs.slice(0, 20)) t.comment(`${r.file}#${r.index}: ${r.reason}`);
  t.equal(bugs.length, 0, `${what}: every failure is a stated "not supported yet" (E0301/E0303), never a wrong answer, a build error or a sanitizer report`);
  const listed = results.filter((r) => r.outcome === 'passed' || r.outcome === 'no_kernel').map(caseId);
  const expected = [...reviewedList(LIST, within ? undefined : listed)].filter((id) => !within || within(id));
  const lost = expected.filter((id) => !listed.includes(id));
  const gained = listed.filter((id) => !expected.includes(id));
  const byWhere = new Map(results.map((r) => [caseWhere(r), r]));
  for (const id of lost) {
    const now = byWhere.get(id.slice(id.indexOf(' ') + 1));
    t.comment(`lost: ${id}: ${now ? `now ${caseId(now)}: ${now.reason}` : 'not run'}`);
  }
  for (const id of gained) t.comment(`not in ${LIST}: ${id}`);
  t.equal(lost.length, 0, `${what}: no listed case regresses`);
  t.equal(gained.length, 0, `${what}: every passing case is in the list (add new ones)`);
  t.ok(s.passed > 0, `${what}: ${s.passed} cases pass, ${s.no_kernel} more match without a kernel`);
}

t.test('C backend matches the interpreter on the conformance data', { skip: HAVE_SHARED ? false : 'no ../shared/conformance' }, async (t) => {
  const results = await runFilesC(collectFiles([join(SHARED, 'conformance')]), 2);
  const s = summarize(results);
  // Of the cases the interpreter passes (the others are skipped), those whose C has no kernel are
  // neither passes nor failures: the share counts the cases the C computes.
  const computed = s.passed + s.failed;
  t.comment(`C backend passes ${s.passed} of the ${computed} cases the interpreter passes and the C computes (${((100 * s.passed) / computed).toFixed(1)}%); ${s.no_kernel} more match without a kernel`);
  judge(t, results, 'gcc');
  t.ok(s.passed / computed >= 0.95, 'at least 95% of the cases the interpreter passes and the C computes');
});

// The same cases built with AddressSanitizer and UndefinedBehaviorSanitizer: any report (out of
// bounds, misaligned access, signed overflow, ...) fails its case, and so this test.
t.test('C backend runs clean under ASan+UBSan on the conformance data', { skip: HAVE_SHARED ? false : 'no ../shared/conformance' }, async (t) => {
  const flags = ['-O1', '-g', '-fsanitize=address,undefined', '-fno-sanitize-recover=all'];
  judge(t, await runFilesC(collectFiles([join(SHARED, 'conformance')]), 2, 'gcc', flags), 'gcc ASan+UBSan', () => true);
});

// The same cases built with clang (-Wall -Wextra -Werror too): `make test` installs it.
t.test('clang builds the generated C as well', { skip: HAVE_SHARED ? false : 'no ../shared/conformance' }, async (t) => {
  const which = await execa('sh', ['-c', 'command -v clang'], { reject: false });
  t.equal(which.exitCode, 0, 'clang is installed (make toolchains)');
  if (which.exitCode !== 0) return;
  const results = await runFilesC(collectFiles([join(SHARED, 'conformance', 'interpret')]), 2, 'clang');
  judge(t, results, 'clang', (id) => / interpret\//.test(id));
});
