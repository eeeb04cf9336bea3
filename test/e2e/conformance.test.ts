import { join } from 'node:path';
import t from 'tap';
import { runFiles } from '../../src/conformance/parallel.js';
import { collectFiles, summarize } from '../../src/conformance/runner.js';
import { caseId, reviewedList } from '../helpers/conformance.js';
import { HAVE_SHARED, SHARED } from '../helpers/paths.js';

// The interpreter against the official StableHLO test data (inputs and JAX/XLA expected outputs).
// Bar: >= 95% of all counted cases pass, and the cases that fail are exactly the reviewed list of
// known failures, each with its kind: a new failure is a regression, and a stale entry (a case
// that passes now, or fails another way) fails too, so the list can never hide a later change.
t.test(
  'reference interpreter passes the StableHLO conformance data',
  { skip: HAVE_SHARED ? false : `no ${SHARED}/conformance beside the checkout` },
  async (t) => {
    const results = await runFiles(collectFiles([join(SHARED, 'conformance')]), 2);
    const s = summarize(results);
    t.comment(JSON.stringify(s));
    t.ok(s.total > 2900, `counted cases: ${s.total}`);
    t.ok(s.passed / s.total >= 0.95, `pass rate ${((100 * s.passed) / s.total).toFixed(2)}% >= 95%`);
    t.equal(s.disabled, 20, 'upstream RUN-DISABLED files are counted apart');
    t.equal(s.no_check, 4, 'cases without a check op are counted apart, never as passed');
    const failing = results.filter((r) => r.outcome === 'failed' || r.outcome === 'skipped').map(caseId);
    const known = reviewedList('conformance-known-failures.txt', failing);
    const unexpected = failing.filter((id) => !known.has(id));
    for (const id of unexpected) t.comment(`new: ${id}: ${results.find((r) => caseId(r) === id)?.reason}`);
    t.equal(unexpected.length, 0, 'no failure outside test/fixtures/conformance-known-failures.txt');
    const stale = [...known].filter((k) => !failing.includes(k));
    for (const k of stale) t.comment(`stale entry: ${k} no longer fails this way (update the list)`);
    t.equal(stale.length, 0, 'every entry of the known-failure list still fails as listed');
  },
);
