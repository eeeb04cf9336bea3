/**
 * Max pooling before a float activation (src/canonicalize/pool-first.ts): a max pool of a chain
 * non-decreasing in one operand pools that operand and runs the chain on the pooled values. Exact:
 * the same module with each chain's values also returned (then the chain runs whole, before the
 * pool) is the reference, bit for bit (NaN for NaN), on the host (ASan+UBSan), Cortex-M4 and M55.
 */
import t from 'tap';
import { SourceFile } from '../../src/diag/source.js';
import { importModule } from '../../src/import/index.js';
import { Interpreter } from '../../src/interpret/eval.js';
import { randomInputs } from '../../src/interpret/inputs.js';
import { compareTensors } from '../../src/ir/compare.js';
import { getElem, setElem, size, type Tensor } from '../../src/ir/tensor.js';
import type { FlatProgram } from '../../src/flat/program.js';
import { runPipeline, type PhaseResult } from '../../src/pipeline.js';
import { lookupTarget } from '../../src/target/targets.js';
import { runCompiled, SANITIZE_FLAGS } from '../../src/toolchain/run.js';

const ty = (dims: readonly number[]): string => `tensor<${dims.join('x')}xf32>`;

/** A max pool of `x` (init: `init`). */
function maxPool(
  name: string,
  x: string,
  dims: number[],
  out: number[],
  window: number[],
  strides: number[],
  init = '0xFF800000',
): string[] {
  return [
    `  %${name}_init = stablehlo.constant dense<${init}> : tensor<f32>`,
    `  %${name} = "stablehlo.reduce_window"(${x}, %${name}_init) ({`,
    '  ^bb0(%a: tensor<f32>, %b: tensor<f32>):',
    '    %m = stablehlo.maximum %a, %b : tensor<f32>',
    '    stablehlo.return %m : tensor<f32>',
    `  }) {window_dimensions = array<i64: ${window.join(', ')}>, window_strides = array<i64: ${strides.join(', ')}>} : (${ty(dims)}, tensor<f32>) -> ${ty(out)}`,
  ];
}

// Pools of a convolution's output (2x9x9x4) through:
//   a: a bias (broadcast along the channels) and a ReLU, 2x2 stride 2: moved
//   b: a subtracted splat and a minimum with 6 (ReLU6's top), an overlapping 3x3 stride 2: moved
//   c: a splat minus the value (decreasing): not moved
//   d: a bias broadcast along a spatial dimension the window spans: not moved
//   e: an init of 0 (it could exceed the values): not moved
// `alsoReturned`: each chain's last value returned too (then no pool moves).
function module(alsoReturned: boolean): string {
  const c = [2, 9, 9, 4];
  const p = [2, 4, 4, 4];
  const chains: [string, string, number[], number[], number[], string?][] = [
    ['a', 'ra', [1, 2, 2, 1], [1, 2, 2, 1], p],
    ['b', 'rb', [1, 3, 3, 1], [1, 2, 2, 1], p],
    ['c', 'rc', [1, 2, 2, 1], [1, 2, 2, 1], p],
    ['d', 'rd', [1, 2, 2, 1], [1, 2, 2, 1], p],
    ['e', 're', [1, 2, 2, 1], [1, 2, 2, 1], p, '0.0'],
  ];
  const lines = [
    `  %conv = stablehlo.convolution(%x, %w) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {stride = [1, 1], pad = [[1, 1], [1, 1]]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64} : (${ty([2, 9, 9, 3])}, ${ty([3, 3, 3, 4])}) -> ${ty(c)}`,
    `  %bias4 = stablehlo.broadcast_in_dim %bias, dims = [3] : (${ty([4])}) -> ${ty(c)}`,
    `  %bias9 = stablehlo.broadcast_in_dim %row, dims = [1] : (${ty([9])}) -> ${ty(c)}`,
    `  %zero = stablehlo.constant dense<0.0> : ${ty(c)}`,
    `  %six = stablehlo.constant dense<6.0> : ${ty(c)}`,
    `  %quarter = stablehlo.constant dense<0.25> : ${ty(c)}`,
    `  %aa = stablehlo.add %conv, %bias4 : ${ty(c)}`,
    `  %ra = stablehlo.maximum %aa, %zero : ${ty(c)}`,
    `  %bb = stablehlo.subtract %conv, %quarter : ${ty(c)}`,
    `  %rb = stablehlo.minimum %six, %bb : ${ty(c)}`,
    `  %rc = stablehlo.subtract %quarter, %conv : ${ty(c)}`,
    `  %rd = stablehlo.add %conv, %bias9 : ${ty(c)}`,
    `  %re = stablehlo.maximum %conv, %zero : ${ty(c)}`,
  ];
  for (const [n, r, window, strides, out, init] of chains)
    lines.push(...maxPool(`p${n}`, `%${r}`, c, out, window, strides, init));
  const outs: [string, number[]][] = [
    ...chains.map(([n, , , , out]): [string, number[]] => [`p${n}`, out]),
    ...(alsoReturned ? chains.map(([, r]): [string, number[]] => [r, c]) : []),
  ];
  return [
    `func.func @main(%x: ${ty([2, 9, 9, 3])}, %w: ${ty([3, 3, 3, 4])}, %bias: ${ty([4])}, %row: ${ty([9])}) -> (${outs.map(([, d]) => ty(d)).join(', ')}) {`,
    ...lines,
    `  return ${outs.map(([n]) => `%${n}`).join(', ')} : ${outs.map(([, d]) => ty(d)).join(', ')}`,
    '}',
  ].join('\n');
}

/** Pools reading a convolution directly in the canonical program. */
function poolsOfConvolution(src: string): number {
  let prog: FlatProgram | undefined;
  const observe = (r: PhaseResult): void => {
    if (r.phase === 'canonicalize') prog = r.prog;
  };
  const m = importModule(new SourceFile('pool.mlir', src));
  runPipeline(m, {
    entry: 'main',
    prefix: 'model',
    sourceName: 'pool.mlir',
    cc: 'gcc',
    stopAfter: 'canonicalize',
    observe,
  });
  const producer = new Map(prog!.ops.flatMap((f) => f.outs.map((s) => [s, f] as const)));
  return prog!.ops.filter(
    (f) => f.op.name === 'stablehlo.reduce_window' && producer.get(f.ins[0]!)?.op.name === 'stablehlo.convolution',
  ).length;
}

t.test('a max pool of a bias and ReLU pools first, bit for bit', async (t) => {
  const [pooled, reference] = [module(false), module(true)];
  t.equal(poolsOfConvolution(pooled), 2, 'pools a and b read the convolution');
  t.equal(poolsOfConvolution(reference), 0, 'the reference keeps every chain before its pool');
  const m = importModule(new SourceFile('pool.mlir', pooled));
  const ref = importModule(new SourceFile('pool.mlir', reference));
  const args = randomInputs(m.funcs.get('main')!, 4, m) as Tensor[];
  // A NaN and an infinity in the image: NaN must come out of the pools that see it either way.
  setElem(args[0]!, 40, NaN);
  setElem(args[0]!, 100, Infinity);
  const want = new Interpreter(m).runFunc(m.funcs.get('main')!, args) as Tensor[];
  t.ok(
    want.some((w) => Array.from({ length: size(w) }, (_, k) => getElem(w, k)).some((v) => Number.isNaN(v))),
    'a NaN reaches the outputs',
  );
  for (const target of ['host', 'cortex-m4', 'cortex-m55']) {
    const opts = { target: lookupTarget(target), ...(target === 'host' ? { flags: SANITIZE_FLAGS } : {}) };
    const [got, base] = [await runCompiled(m, 'main', args, opts), await runCompiled(ref, 'main', args, opts)];
    want.forEach((w, i) => {
      const bits = (x: Tensor): string[] =>
        Array.from({ length: size(x) }, (_, k) => getElem(x, k)).map((v) =>
          Number.isNaN(v) ? 'NaN' : Object.is(v, -0) ? '-0' : String(v),
        );
      t.same(
        bits(got.outputs[i]!),
        bits(base.outputs[i]!),
        `${target}: pool ${'abcde'[i]} equals the reference build's`,
      );
      t.ok(compareTensors(got.outputs[i]!, w).ok, `${target}: pool ${'abcde'[i]} matches the interpreter`);
    });
  }
});
