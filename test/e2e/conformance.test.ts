import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runFiles } from '../../src/conformance/parallel.js';
import { collectFiles, summarize } from '../../src/conformance/runner.js';
import { FIXTURES, HAVE_SHARED, SHARED } from '../helpers/paths.js';

// The interpreter against the official StableHLO test data (inputs and JAX/XLA expected outputs).
// Bar: >= 95% of all counted cases pass, and no case outside the reviewed list of known failures
// fails (a new failure is a regression).
t.test('reference interpreter passes the StableHLO conformance data', { skip: HAVE_SHARED ? false : `no ${SHARED}/conformance beside the checkout` }, async (t) => {
  const root = join(SHARED, 'conformance');
  const results = await runFiles(collectFiles([root]), 2);
  const s = summarize(results);
  t.comment(JSON.stringify(s));
  t.ok(s.total > 2900, `counted cases: ${s.total}`);
  t.ok(s.passed / s.total >= 0.95, `pass rate ${((100 * s.passed) / s.total).toFixed(2)}% >= 95%`);
  t.equal(s.disabled, 20, 'upstream RUN-DISABLED files are counted apart');
  const known = new Set(readFileSync(join(FIXTURES, 'conformance-known-failures.txt'), 'utf8').split('\n').filter((l) => l));
  const id = (r: { outcome: string; file: string; index: number }): string =>
    `${r.outcome === 'failed' ? 'FAIL' : 'SKIP'} ${r.file.slice(root.length + 1)}${r.index > 1 ? `#${r.index}` : ''}`;
  const unexpected = results.filter((r) => (r.outcome === 'failed' || r.outcome === 'skipped') && !known.has(id(r)));
  for (const r of unexpected) t.comment(`new ${r.outcome}: ${r.file}#${r.index}: ${r.reason}`);
  t.equal(unexpected.length, 0, 'no failure outside test/fixtures/conformance-known-failures.txt');
  const nowPassing = [...known].filter((k) => !results.some((r) => id(r) === k && (r.outcome === 'failed' || r.outcome === 'skipped')));
  for (const k of nowPassing) t.comment(`known failure now passes (remove it from the list): ${k}`);
});
