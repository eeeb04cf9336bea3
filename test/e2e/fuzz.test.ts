import { join } from 'node:path';
import t from 'tap';
import { fuzz, fuzzInputs, mutate, Rng } from '../../src/fuzz/fuzz.js';
import { FIXTURES, HAVE_SHARED, SHARED } from '../helpers/paths.js';

// Fuzzing as a habit (src/fuzz/fuzz.ts; `make fuzz` runs long): a bounded, seeded run over the
// StableHLO interpreter tests, our op and SPMD fixtures and the small models. Every mutant must
// end in a located diagnostic or compile (-Werror), run and match the interpreter; any other end
// is a bug, printed with the mutant. The seed is fixed: the same mutants on every machine.
t.test('mutation is deterministic and changes the program', async (t) => {
  const text =
    'func.func @main(%a: tensor<2xf32>) -> tensor<2xf32> {\n  %0 = stablehlo.add %a, %a : tensor<2xf32>\n  return %0 : tensor<2xf32>\n}\n';
  const [a, b] = [new Rng(3), new Rng(3)];
  const runs = Array.from({ length: 20 }, () => [mutate(text, a), mutate(text, b)] as const);
  t.ok(
    runs.every(([x, y]) => x === y),
    'same seed, same mutants',
  );
  t.ok(runs.filter(([x]) => x !== text).length >= 15, 'most mutants differ from the input');
});

t.test(
  'a bounded fuzz run finds no crash, no bad C and no wrong value',
  { skip: HAVE_SHARED ? false : 'no ../shared' },
  async (t) => {
    const corpus = fuzzInputs([
      join(SHARED, 'conformance', 'interpret'),
      join(FIXTURES, 'ops'),
      join(FIXTURES, 'spmd'),
      join(SHARED, 'models', 'iree_e2e_fullyconnected.mlir'),
      join(SHARED, 'models', 'byteir_mlp_inference_mhlo.mlir'),
    ]);
    const report = await fuzz(corpus, 20261126, 60, 600);
    for (const b of report.bugs) t.comment(`BUG from ${b.source}: ${b.detail.split('\n')[0]}\n${b.mutant}`);
    const c = report.counts;
    t.comment(
      `${c.diagnostic + c.refused + c.match + c.bug} mutants: ${c.diagnostic} located diagnostics, ${c.refused} refused (E030x), ${c.match} compiled and matched, ${c.bug} bugs`,
    );
    t.ok(c.match >= 20, `at least 20 mutants were accepted, compiled and compared (${c.match})`);
    t.equal(c.bug, 0, 'no bugs');
  },
);
