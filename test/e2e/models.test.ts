import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { SourceFile } from '../../src/diag/source.js';
import { importModule } from '../../src/import/index.js';
import { Interpreter } from '../../src/interpret/eval.js';
import { parseInput, randomInputs } from '../../src/interpret/inputs.js';
import { getElem, size, type Tensor } from '../../src/ir/tensor.js';
import { HAVE_SHARED, SHARED } from '../helpers/paths.js';

const MODELS = join(SHARED, 'models');
const load = (name: string) =>
  importModule(new SourceFile(join(MODELS, name), readFileSync(join(MODELS, name), 'utf8')));
const values = (t: Tensor): number[] => Array.from({ length: size(t) }, (_, i) => Number(getElem(t, i)));

t.test('every model parses and verifies', { skip: HAVE_SHARED ? false : 'no ../shared/models' }, async (t) => {
  const names = readdirSync(MODELS).filter((f) => f.endsWith('.mlir'));
  t.equal(names.length, 9);
  for (const name of names) t.ok(load(name).funcs.size > 0, name);
});

t.test(
  'LSTM (unstructured control flow) runs in the interpreter',
  { skip: HAVE_SHARED ? false : 'no ../shared/models' },
  async (t) => {
    const m = load('iree_e2e_unidirectional_lstm.mlir');
    const f = m.funcs.get('main')!;
    const results = new Interpreter(m).runFunc(f, randomInputs(f, 7));
    t.equal(results.length, 1);
  },
);

// Upstream IREE test data: inputs and expected outputs from the RUN/CHECK lines of the model files.
t.test(
  'fully-connected model matches its upstream expected output',
  { skip: HAVE_SHARED ? false : 'no ../shared/models' },
  async (t) => {
    const m = load('iree_e2e_fullyconnected.mlir');
    const f = m.funcs.get('main')!;
    const args = [
      parseInput('1x5xf32=1,-2,-3,4,-5', f, 0),
      parseInput('1x5x3x1xf32=15,14,13,12,11,10,9,8,7,6,5,4,3,2,1', f, 1),
    ];
    const [out] = new Interpreter(m).runFunc(f, args) as Tensor[];
    const got = values(out!);
    // CHECK lines give two decimals: rows [0 0 0 0 0], [3.79 4.99 0.90 0 0], [2.80 3.78 0.56 0 0], [0...], [0.87 1.21 0.13 0 0]
    const expected = [
      0, 0, 0, 0, 0, 3.79, 4.99, 0.9, 0, 0, 2.8, 3.78, 0.56, 0, 0, 0, 0, 0, 0, 0, 0.87, 1.21, 0.13, 0, 0,
    ];
    got.forEach((v, i) => t.ok(Math.abs(v - expected[i]!) < 0.011, `element ${i}: ${v} vs ${expected[i]}`));
  },
);

t.test(
  'LSTM model matches its upstream expected output',
  { skip: HAVE_SHARED ? false : 'no ../shared/models' },
  async (t) => {
    const m = load('iree_e2e_unidirectional_lstm.mlir');
    const f = m.funcs.get('main')!;
    const args = [
      parseInput('1x5xf32=0,1,0,3,4', f, 0),
      parseInput('1x5x2x2xf32=1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20', f, 1),
    ];
    const [out] = new Interpreter(m).runFunc(f, args) as Tensor[];
    const v = values(out!);
    t.equal(v.length, 50);
    // Expected rows of ten: 0.7.. twice, then 0.9.., then two rows of zeros.
    const rows = [0, 1, 2, 3, 4].map((r) => v.slice(r * 10, r * 10 + 10));
    t.ok(
      rows[0]!.every((x) => x >= 0.7 && x < 0.8),
      `row 0 is 0.7..: ${rows[0]}`,
    );
    t.ok(
      rows[1]!.every((x) => x >= 0.7 && x < 0.8),
      `row 1 is 0.7..: ${rows[1]}`,
    );
    t.ok(
      rows[2]!.every((x) => x >= 0.9 && x < 1.0),
      `row 2 is 0.9..: ${rows[2]}`,
    );
    t.ok(rows[3]!.every((x) => x === 0) && rows[4]!.every((x) => x === 0), 'rows 3 and 4 are zero');
  },
);

t.test(
  'trained MNIST model gives a probability distribution',
  { skip: HAVE_SHARED ? false : 'no ../shared/models' },
  async (t) => {
    const m = load('iree_samples_mnist.mlir');
    const f = m.funcs.get('predict')!;
    const [out] = new Interpreter(m).runFunc(f, randomInputs(f, 3)) as Tensor[];
    const p = values(out!);
    t.equal(p.length, 10);
    t.ok(
      p.every((x) => x >= 0 && x <= 1),
      'probabilities in [0, 1]',
    );
    t.ok(Math.abs(p.reduce((a, b) => a + b, 0) - 1) < 1e-5, 'sum to 1');
  },
);
