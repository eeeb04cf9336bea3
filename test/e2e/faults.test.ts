/**
 * Testing the tests: the C backend compiles deliberately wrong programs (src/flat/faults.ts:
 * an output element skipped, a loop one short, operands mixed up, constants moved, sums missing
 * their last term), and the same comparisons that judge the real programs must catch every one.
 * A fault that no comparison catches is a hole in the checks. The models get every fault in
 * test/e2e/models-*.test.ts (test/helpers/models.ts checkModel); this file samples the
 * conformance cases. Faulty programs build at -O0: they only have to run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runFilesC } from '../../src/conformance/c-backend.js';
import { collectFiles } from '../../src/conformance/runner.js';
import { FAULT_KINDS } from '../../src/flat/faults.js';
import { HAVE_SHARED, SHARED } from '../helpers/paths.js';
import { caseWhere } from '../helpers/conformance.js';

const FAST_BUILD = ['-O0'];

// A deterministic sample of the conformance cases the C backend passes: every 8th file, and for
// drop-last-term every 2nd file with a reduce, dot or convolution in it (few files have one).
// With each fault a case must now fail. Cases where a fault has no site (no sum to shorten, no
// float constant to move in a program with float outputs) are counted apart; of the others at
// least 95% must catch it.
t.test(
  'injected faults are caught on a sample of the conformance cases',
  { skip: HAVE_SHARED ? false : 'no ../shared/conformance' },
  async (t) => {
    const all = collectFiles([join(SHARED, 'conformance')]);
    const reductions = all
      .filter((f) => /stablehlo\.(reduce|dot_general|dot|convolution)\b(?!_)/.test(readFileSync(f, 'utf8')))
      .filter((_, i) => i % 2 === 0);
    const general = all.filter((_, i) => i % 8 === 0);
    const passing = async (files: readonly string[]): Promise<Set<string>> =>
      new Set((await runFilesC(files, 2, 'gcc', FAST_BUILD)).filter((r) => r.outcome === 'passed').map(caseWhere));
    const [generalPassing, reductionPassing] = [await passing(general), await passing(reductions)];
    t.ok(generalPassing.size >= 250, `${generalPassing.size} sampled cases pass without a fault`);
    for (const fault of FAULT_KINDS) {
      const [files, clean] = fault === 'drop-last-term' ? [reductions, reductionPassing] : [general, generalPassing];
      const results = (await runFilesC(files, 2, 'gcc', FAST_BUILD, fault)).filter((r) => clean.has(caseWhere(r)));
      const noSite = results.filter((r) => r.outcome === 'failed' && /has no /.test(r.reason));
      const applied = results.length - noSite.length;
      const missed = results.filter((r) => r.outcome === 'passed');
      for (const r of missed.slice(0, 10)) t.comment(`${fault} not caught: ${caseWhere(r)}`);
      t.ok(applied >= 60, `${fault}: applies to ${applied} of ${results.length} sampled cases`);
      t.ok(
        missed.length <= 0.05 * applied,
        `${fault}: caught on ${applied - missed.length} of ${applied} cases where it applies (>= 95%)`,
      );
    }
  },
);
