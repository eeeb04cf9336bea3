import t from 'tap';
import { compareTensors, degenerate, integerBound } from '../../src/ir/compare.js';
import { SourceFile } from '../../src/diag/source.js';
import { importModule } from '../../src/import/index.js';
import { makeTensor } from '../../src/ir/tensor.js';
import { floatElem, intElem, tensorType } from '../../src/ir/types.js';

const f32 = (values: readonly number[]) =>
  makeTensor(tensorType([values.length], floatElem('f32')!), Float64Array.from(values.map(Math.fround)));
const ulpUp = (x: number, n: number): number => {
  const b = new DataView(new ArrayBuffer(4));
  b.setFloat32(0, x);
  b.setUint32(0, b.getUint32(0) + n);
  return b.getFloat32(0);
};

t.test('the comparison rule: rounding-level differences pass, a one-element corruption fails', async (t) => {
  const ref = [1.5, -2.25, 1e-3, 0, 3.75, -0.5];
  t.ok(compareTensors(f32(ref.map((x) => ulpUp(x, 8))), f32(ref)).ok, 'a few ULP everywhere pass');
  // Cancellation: a small result next to large ones may differ at the tensor's rounding level.
  t.ok(
    compareTensors(f32([1000, 3e-3]), f32([1000, 1e-3])).ok,
    '2e-3 absolute in a tensor of magnitude 1000 passes (1e-5 x 1000)',
  );
  t.notOk(compareTensors(f32([1, 3e-3]), f32([1, 1e-3])).ok, 'the same 2e-3 in a tensor of magnitude 1 fails');
  t.notOk(
    compareTensors(f32([1e-7, 2e-7]), f32([1e-7, 5e-7])).ok,
    'a tensor of tiny values is not accepted whatever it holds',
  );
  for (let i = 0; i < ref.length; i++) {
    const bad = [...ref];
    bad[i] = bad[i]! + 0.01;
    t.notOk(compareTensors(f32(bad), f32(ref)).ok, `element ${i} moved by 0.01 fails`);
  }
  t.notOk(compareTensors(f32([NaN, 1]), f32([0, 1])).ok, 'NaN against a number fails');
  t.ok(compareTensors(f32([NaN, 1]), f32([NaN, 1])).ok, 'NaN matches NaN');
  t.notOk(compareTensors(f32([Infinity]), f32([-Infinity])).ok, 'infinities match exactly');
  const i32 = (v: readonly bigint[]) => makeTensor(tensorType([v.length], intElem(32, true)), [...v]);
  t.notOk(compareTensors(i32([1n, 2n]), i32([1n, 3n])).ok, 'integers are exact');
  // A program with quantized values: its integers (stored int8 results) within one quantum.
  t.ok(compareTensors(i32([1n, 2n]), i32([1n, 3n]), undefined, 1).ok, 'one quantum apart passes');
  t.notOk(compareTensors(i32([1n, 1n]), i32([1n, 3n]), undefined, 1).ok, 'two quanta apart fail');
  t.notOk(compareTensors(i32([-1n, 2n]), i32([1n, 2n]), undefined, 1).ok, 'below by two fails');
  const q = importModule(
    new SourceFile(
      'q.mlir',
      'func.func @main(%x: tensor<2xf32>) -> tensor<2xi8> {\n  %q = stablehlo.uniform_quantize %x : (tensor<2xf32>) -> tensor<2x!quant.uniform<i8:f32, 0.5>>\n  %o = stablehlo.bitcast_convert %q : (tensor<2x!quant.uniform<i8:f32, 0.5>>) -> tensor<2xi8>\n  return %o : tensor<2xi8>\n}',
    ),
  );
  const plain = importModule(
    new SourceFile('p.mlir', 'func.func @main(%x: tensor<2xi8>) -> tensor<2xi8> {\n  return %x : tensor<2xi8>\n}'),
  );
  t.same(
    [integerBound(q), integerBound(plain)],
    [1, 0],
    'the bound is one quantum only where the program has quantized values',
  );
  t.notOk(compareTensors(f32([1, 2]), f32([1, 2, 3])).ok, 'a different shape fails');
});

t.test('degenerate references are recognised', async (t) => {
  t.match(degenerate(f32([NaN, NaN, 1])), /2 of 3 elements are NaN or infinite/);
  t.match(degenerate(f32([0, 0, 0, 0])), /all 4 elements are 0/);
  t.match(degenerate(f32([7, 7])), /all 2 elements are 7/);
  t.equal(degenerate(f32([0, 1, 0])), undefined, 'varied and finite');
  t.equal(degenerate(f32([5])), undefined, 'one element cannot vary');
});
