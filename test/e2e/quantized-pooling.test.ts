/**
 * int8 paths whose results must equal, bit for bit, what they replace:
 *   - max pooling of a quantized contraction before its requantization (quantized-order.ts
 *     poolsBeforeRequantization): the same module with each contraction's result also returned
 *     (then it is requantized whole, as before) is the reference.
 */
import t from 'tap';
import { SourceFile } from '../../src/diag/source.js';
import { importModule } from '../../src/import/index.js';
import { Interpreter } from '../../src/interpret/eval.js';
import { randomInputs } from '../../src/interpret/inputs.js';
import type { Module } from '../../src/ir/core.js';
import { getElem, size, type Tensor } from '../../src/ir/tensor.js';
import { lookupTarget } from '../../src/target/targets.js';
import { runCompiled, SANITIZE_FLAGS } from '../../src/toolchain/run.js';

const interpret = (m: Module, args: readonly Tensor[]): Tensor[] =>
  new Interpreter(m).runFunc(m.funcs.get('main')!, args) as Tensor[];
const ints = (x: Tensor): number[] => Array.from({ length: size(x) }, (_, k) => Number(getElem(x, k)));

let seed = 23;
const int = (): number => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) % 255) - 127;
const literal = (dims: readonly number[]): string =>
  `dense<[${Array.from({ length: dims.reduce((a, b) => a * b) }, int).join(', ')}]>`;
const q = (storage: string, s: number | readonly number[], zp = 0, axis?: number): string =>
  typeof s === 'number'
    ? `!quant.uniform<${storage}:f32, ${s}${zp ? `:${zp}` : ''}>`
    : `!quant.uniform<${storage}:f32:${axis}, {${s.join(', ')}}>`;
const ty = (dims: readonly number[], elem: string): string => `tensor<${dims.join('x')}x${elem}>`;
const scales = (n: number, base: number): number[] => Array.from({ length: n }, (_, i) => base * (1 + i / 5));

/** A max pool's reduce_window of quantized `x` (init: `init` as stored). */
function maxPool(
  name: string,
  x: string,
  elem: string,
  dims: number[],
  out: number[],
  window: number[],
  strides: number[],
  init = -128,
): string[] {
  return [
    `  %${name}_init = stablehlo.constant dense<${init}> : tensor<${elem}>`,
    `  %${name} = "stablehlo.reduce_window"(${x}, %${name}_init) ({`,
    `  ^bb0(%a: tensor<${elem}>, %b: tensor<${elem}>):`,
    `    %m = stablehlo.maximum %a, %b : tensor<${elem}>`,
    `    stablehlo.return %m : tensor<${elem}>`,
    `  }) {window_dimensions = array<i64: ${window.join(', ')}>, window_strides = array<i64: ${strides.join(', ')}>} : (${ty(dims, elem)}, tensor<${elem}>) -> ${ty(out, elem)}`,
  ];
}

// Six pools of quantized contractions, each with the contraction's result read by nothing else
// (`alsoReturned`: each result returned too, which keeps the requantization before the pool):
//   a: per-channel convolution, padded, a ReLU (maximum with the zero point), 2x2 pool, stride 2
//   b: per-tensor weights, a 2x2x2 window across channels too (one requantization for all)
//   c: per-channel weights, a window across channels: not moved (the multipliers differ)
//   d: a clamp with scalar bounds, an overlapping 3x3 pool, stride 2
//   e: a dot_general with per-column weights, a ReLU, a pool over rows
//   f: an init above the storage minimum (-100, values saturating below it): not moved
// Where a pool moves: on Cortex-M55 (zero points folding) the share's subtraction follows the
// pool, except in b, whose share differs across the window's channels.
function poolModule(alsoReturned: boolean): { src: string; moved: number } {
  seed = 23;
  const xq = q('i8', 0.04, 5);
  const act = q('i8', 0.1, -3);
  const low = q('i8', 0.001, 0);
  const [wc, wt] = [q('i8', scales(4, 0.004), 0, 3), q('i8', 0.005)];
  const wd = q('i8', scales(8, 0.01), 0, 1);
  const conv = (name: string, w: string, wType: string, out: number[], res: string, window: string): string =>
    `  %${name} = stablehlo.convolution(%xq, ${w}) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {${window}} {batch_group_count = 1 : i64, feature_group_count = 1 : i64} : (${ty([2, 9, 9, 3], xq)}, ${ty([3, 3, 3, 4], wType)}) -> ${ty(out, res)}`;
  const lines = [
    `  %xq = stablehlo.uniform_quantize %x : (${ty([2, 9, 9, 3], 'f32')}) -> ${ty([2, 9, 9, 3], xq)}`,
    `  %yq = stablehlo.uniform_quantize %y : (${ty([6, 10], 'f32')}) -> ${ty([6, 10], xq)}`,
    `  %w = stablehlo.constant ${literal([3, 3, 3, 4])} : ${ty([3, 3, 3, 4], wc)}`,
    `  %wt = stablehlo.constant ${literal([3, 3, 3, 4])} : ${ty([3, 3, 3, 4], wt)}`,
    `  %wd = stablehlo.constant ${literal([10, 8])} : ${ty([10, 8], wd)}`,
    conv('ca', '%w', wc, [2, 9, 9, 4], act, 'stride = [1, 1], pad = [[1, 1], [1, 1]]'),
    `  %za = stablehlo.constant dense<-3> : ${ty([2, 9, 9, 4], act)}`,
    `  %ra = stablehlo.maximum %ca, %za : ${ty([2, 9, 9, 4], act)}`,
    ...maxPool('pa', '%ra', act, [2, 9, 9, 4], [2, 4, 4, 4], [1, 2, 2, 1], [1, 2, 2, 1]),
    conv('cb', '%wt', wt, [2, 7, 7, 4], act, 'stride = [1, 1]'),
    ...maxPool('pb', '%cb', act, [2, 7, 7, 4], [2, 3, 3, 2], [1, 2, 2, 2], [1, 2, 2, 2]),
    conv('cc', '%w', wc, [2, 7, 7, 4], act, 'stride = [1, 1]'),
    ...maxPool('pc', '%cc', act, [2, 7, 7, 4], [2, 7, 7, 2], [1, 1, 1, 2], [1, 1, 1, 2]),
    conv('cd', '%w', wc, [2, 9, 9, 4], act, 'stride = [1, 1], pad = [[1, 1], [1, 1]]'),
    `  %lo = stablehlo.constant dense<-3> : tensor<${act}>`,
    `  %hi = stablehlo.constant dense<40> : tensor<${act}>`,
    `  %rd = stablehlo.clamp %lo, %cd, %hi : (tensor<${act}>, ${ty([2, 9, 9, 4], act)}, tensor<${act}>) -> ${ty([2, 9, 9, 4], act)}`,
    ...maxPool('pd', '%rd', act, [2, 9, 9, 4], [2, 4, 4, 4], [1, 3, 3, 1], [1, 2, 2, 1]),
    `  %ce = stablehlo.dot_general %yq, %wd, contracting_dims = [1] x [0] : (${ty([6, 10], xq)}, ${ty([10, 8], wd)}) -> ${ty([6, 8], act)}`,
    `  %ze = stablehlo.constant dense<-3> : ${ty([6, 8], act)}`,
    `  %re = stablehlo.maximum %ce, %ze : ${ty([6, 8], act)}`,
    ...maxPool('pe', '%re', act, [6, 8], [3, 8], [2, 1], [2, 1]),
    conv('cf', '%w', wc, [2, 7, 7, 4], low, 'stride = [1, 1]'),
    ...maxPool('pf', '%cf', low, [2, 7, 7, 4], [2, 3, 3, 4], [1, 2, 2, 1], [1, 2, 2, 1], -100),
  ];
  const pools: [string, number[], string][] = [
    ['pa', [2, 4, 4, 4], act],
    ['pb', [2, 3, 3, 2], act],
    ['pc', [2, 7, 7, 2], act],
    ['pd', [2, 4, 4, 4], act],
    ['pe', [3, 8], act],
    ['pf', [2, 3, 3, 4], low],
  ];
  const extra: [string, number[], string][] = alsoReturned
    ? [
        ['ca', [2, 9, 9, 4], act],
        ['cb', [2, 7, 7, 4], act],
        ['cd', [2, 9, 9, 4], act],
        ['ce', [6, 8], act],
      ]
    : [];
  const outs = [...pools, ...extra];
  lines.push(
    ...outs.map(([n, d, e]) => `  %o_${n} = stablehlo.bitcast_convert %${n} : (${ty(d, e)}) -> ${ty(d, 'i8')}`),
    `  return ${outs.map(([n]) => `%o_${n}`).join(', ')} : ${outs.map(([, d]) => ty(d, 'i8')).join(', ')}`,
  );
  const header = `func.func @main(%x: ${ty([2, 9, 9, 3], 'f32')}, %y: ${ty([6, 10], 'f32')}) -> (${outs.map(([, d]) => ty(d, 'i8')).join(', ')}) {`;
  return { src: [header, ...lines, '}'].join('\n'), moved: alsoReturned ? 0 : 4 };
}

t.test('max pooling before requantization equals pooling the requantized values, bit for bit', async (t) => {
  const [pooled, reference] = [poolModule(false), poolModule(true)].map(({ src, moved }) => ({
    m: importModule(new SourceFile('qpool.mlir', src)),
    moved,
  }));
  const args = randomInputs(pooled!.m.funcs.get('main')!, 5, pooled!.m) as Tensor[];
  const want = interpret(pooled!.m, args);
  want.forEach((w, i) => t.ok(new Set(ints(w)).size >= 3, `pool ${'abcdef'[i]}: the reference is informative`));
  t.ok(ints(want[5]!).includes(-100) && ints(want[5]!).some((x) => x > -100), 'pool f: its init meets values below it');
  for (const target of ['host', 'cortex-m4', 'cortex-m55']) {
    const opts = { target: lookupTarget(target), ...(target === 'host' ? { flags: SANITIZE_FLAGS } : {}) };
    const [got, ref] = [
      await runCompiled(pooled!.m, 'main', args, opts),
      await runCompiled(reference!.m, 'main', args, opts),
    ];
    for (const [run, { moved }] of [
      [got, pooled!],
      [ref, reference!],
    ] as const) {
      const c = run.emitted.files.get('model.c') as string;
      const i32Pools = c.match(/RL_KERNEL void k\d+_reduce_window\(const int32_t\* restrict in0/g)?.length ?? 0;
      t.equal(i32Pools, moved, `${target}: ${moved} pools on i32 accumulators`);
    }
    want.forEach((w, i) => {
      t.same(
        ints(got.outputs[i]!),
        ints(ref.outputs[i]!),
        `${target}: pool ${'abcdef'[i]} equals the reference build's`,
      );
      const worst = ints(w).reduce((m, x, k) => Math.max(m, Math.abs(x - ints(got.outputs[i]!)[k]!)), 0);
      t.ok(worst <= 1, `${target}: pool ${'abcdef'[i]} within one quantum of the interpreter (${worst})`);
    });
  }
});
