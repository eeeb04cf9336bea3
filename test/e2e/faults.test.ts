/**
 * Testing the tests: the C and CUDA backends compile deliberately wrong programs (src/flat/faults.ts:
 * an output element skipped, a loop one short, operands mixed up, constants moved, sums missing
 * their last term), and the same comparisons that judge the real programs must catch every one.
 * A fault that no comparison catches is a hole in the checks. The models get every fault in
 * test/e2e/models-*.test.ts (test/helpers/models.ts checkModel); this file samples the
 * conformance cases. Faulty programs build at -O0: they only have to run.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { runFilesC, type Backend } from '../../src/conformance/c-backend.js';
import { collectFiles } from '../../src/conformance/runner.js';
import { FAULT_KINDS } from '../../src/flat/faults.js';
import { HAVE_SHARED, SHARED } from '../helpers/paths.js';
import { caseWhere } from '../helpers/conformance.js';

const FAST_BUILD = ['-O0'];

/** Runs every fault on the sampled files with `backend`: of the cases that pass without a fault
 * and where the fault has a site, at least 95% must now fail. */
async function faultsCaught(
  t: Test,
  backend: Backend,
  general: readonly string[],
  reductions: readonly string[],
  minPassing: number,
): Promise<void> {
  const passing = async (files: readonly string[]): Promise<Set<string>> =>
    new Set(
      (await runFilesC(files, { jobs: 2, flags: FAST_BUILD, backend, comms: ['threads'] }))
        .filter((r) => r.outcome === 'passed')
        .map(caseWhere),
    );
  const [generalPassing, reductionPassing] = [await passing(general), await passing(reductions)];
  t.ok(generalPassing.size >= minPassing, `${generalPassing.size} sampled cases pass without a fault`);
  for (const fault of FAULT_KINDS) {
    const [files, clean] = fault === 'drop-last-term' ? [reductions, reductionPassing] : [general, generalPassing];
    const results = (await runFilesC(files, { jobs: 2, flags: FAST_BUILD, fault, backend, comms: ['threads'] })).filter(
      (r) => clean.has(caseWhere(r)),
    );
    const noSite = results.filter((r) => r.outcome === 'failed' && /has no /.test(r.reason));
    const applied = results.length - noSite.length;
    const missed = results.filter((r) => r.outcome === 'passed');
    for (const r of missed.slice(0, 10)) t.comment(`${fault} not caught: ${caseWhere(r)}`);
    t.ok(applied >= minPassing / 4, `${fault}: applies to ${applied} of ${results.length} sampled cases`);
    t.ok(
      missed.length <= 0.05 * applied,
      `${fault}: caught on ${applied - missed.length} of ${applied} cases where it applies (>= 95%)`,
    );
  }
}

const ALL = HAVE_SHARED ? collectFiles([join(SHARED, 'conformance')]) : [];
const REDUCTIONS = ALL.filter((f) =>
  /stablehlo\.(reduce|dot_general|dot|convolution)\b(?!_)/.test(readFileSync(f, 'utf8')),
);

// A deterministic sample of the conformance cases the C backend passes: every 8th file, and for
// drop-last-term every 2nd file with a reduce, dot or convolution in it (few files have one).
// With each fault a case must now fail. Cases where a fault has no site (no sum to shorten, no
// float constant to move in a program with float outputs) are counted apart; of the others at
// least 95% must catch it.
t.test(
  'injected faults are caught on a sample of the conformance cases',
  { skip: HAVE_SHARED ? false : 'no ../shared/conformance' },
  (t) =>
    faultsCaught(
      t,
      'c',
      ALL.filter((_, i) => i % 8 === 0),
      REDUCTIONS.filter((_, i) => i % 2 === 0),
      250,
    ),
);

// The CUDA backend's comparisons (emulated builds): every 16th file, and the same files with a sum.
t.test(
  'injected faults are caught in CUDA builds of a sample of the conformance cases',
  { skip: HAVE_SHARED ? false : 'no ../shared/conformance' },
  (t) =>
    faultsCaught(
      t,
      'cuda',
      ALL.filter((_, i) => i % 16 === 0),
      REDUCTIONS.filter((_, i) => i % 2 === 0),
      120,
    ),
);
