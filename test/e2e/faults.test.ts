/**
 * Testing the tests: the C backend compiles deliberately wrong programs (src/emit-c/faults.ts:
 * an output element skipped, a loop one short, operands swapped, a constant moved, a reduction
 * missing its last term), and the same comparisons that judge the real programs must catch every
 * one. A fault that no comparison catches is a hole in the checks. Faulty programs build at -O0:
 * they only have to run, and big models build several times faster.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runFilesC } from '../../src/conformance/c-backend.js';
import { collectFiles } from '../../src/conformance/runner.js';
import { FAULT_KINDS } from '../../src/emit-c/faults.js';
import { runCompiled } from '../../src/emit-c/run.js';
import { compareTensors } from '../../src/interpret/compare.js';
import { HAVE_SHARED, SHARED } from '../helpers/paths.js';
import { loadModel, MODEL_ENTRIES } from '../helpers/models.js';
import { reference } from '../helpers/reference.js';
import { caseWhere } from '../helpers/conformance.js';

const FAST_BUILD = ['-O0'];

t.test('every injected fault is caught on every model', { skip: HAVE_SHARED ? false : 'no ../shared/models' }, async (t) => {
  for (const [name, { entry, documented }] of Object.entries(MODEL_ENTRIES)) {
    t.test(name, async (t) => {
      const m = loadModel(name);
      const { args, expected } = reference(m, entry, 11, documented);
      for (const fault of FAULT_KINDS) {
        const run = await runCompiled(m, entry, args, { fault, flags: FAST_BUILD });
        t.equal(run.outputs.length, expected.length, `${fault}: output count`);
        const caught = run.outputs.map((o, i) => compareTensors(o, expected[i]!)).find((d) => !d.ok);
        t.ok(caught, `${fault} (${run.emitted.fault}) is caught${caught ? `: ${caught.message}` : ''}`);
      }
    });
  }
});

// A deterministic sample of the conformance cases the C backend passes: every 8th file, and for
// drop-last-term every 2nd file with a reduce, dot or convolution in it (few files have one).
// With each fault a case must now fail. Cases where a fault has no site (no sum to shorten, no
// float constant to move in a program with float outputs) are counted apart; of the others at
// least 95% must catch it.
t.test('injected faults are caught on a sample of the conformance cases', { skip: HAVE_SHARED ? false : 'no ../shared/conformance' }, async (t) => {
  const all = collectFiles([join(SHARED, 'conformance')]);
  const reductions = all.filter((f) => /stablehlo\.(reduce|dot_general|dot|convolution)\b(?!_)/.test(readFileSync(f, 'utf8'))).filter((_, i) => i % 2 === 0);
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
    t.ok(missed.length <= 0.05 * applied, `${fault}: caught on ${applied - missed.length} of ${applied} cases where it applies (>= 95%)`);
  }
});
