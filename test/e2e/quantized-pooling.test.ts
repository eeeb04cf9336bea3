/**
 * int8 paths whose results must equal, bit for bit, what they replace:
 *   - max pooling of a quantized contraction before its requantization (quantized-order.ts
 *     poolsBeforeRequantization): the same module with each contraction's result also returned
 *     (then it is requantized whole, as before) is the reference;
 *   - Helium's one-vector convolution windows read in place by a gather load (int-windows.ts
 *     windowTapOffsets): the host build is the reference;
 *   - uniform_quantize's clamp before rounding (rl.h rl_quantize_narrow; VMAXNM/VMINNM on
 *     Armv8-M with FP): exact against the interpreter for NaN, infinities, ties and values far out
 *     of range;
 *   - the DSP kernels' four-column LDM step (rl.h rl_dsp_step4) in a loop for a long K: the host
 *     build is the reference.
 */
import t from 'tap';
import { SourceFile } from '../../src/diag/source.js';
import { importModule } from '../../src/import/index.js';
import { Interpreter } from '../../src/interpret/eval.js';
import { parseInput, randomInputs } from '../../src/interpret/inputs.js';
import type { Module } from '../../src/ir/core.js';
import { getElem, size, type Tensor } from '../../src/ir/tensor.js';
import { lookupTarget } from '../../src/target/targets.js';
import { runCompiled, SANITIZE_FLAGS } from '../../src/toolchain/run.js';
import { withinOneQuantum } from '../helpers/reference.js';

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

// Seven pools of quantized contractions, each with the contraction's result read by nothing else
// (`alsoReturned`: each result returned too, which keeps the requantization before the pool):
//   a: per-channel convolution, padded, a ReLU (maximum with the zero point), 2x2 pool, stride 2
//   b: per-tensor weights, a 2x2x2 window across channels too (one requantization for all)
//   c: per-channel weights, a window across channels: not moved (the multipliers differ)
//   d: a clamp with scalar bounds, an overlapping 3x3 pool, stride 2
//   e: a dot_general with per-column weights, a ReLU, a pool over rows
//   f: an init above the storage minimum (-100, values saturating below it): not moved
//   g: the QDQ form (uniform_quantize of a float convolution of dequantized operands)
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
    `  %xf = stablehlo.uniform_dequantize %xq : (${ty([2, 9, 9, 3], xq)}) -> ${ty([2, 9, 9, 3], 'f32')}`,
    `  %wf = stablehlo.uniform_dequantize %w : (${ty([3, 3, 3, 4], wc)}) -> ${ty([3, 3, 3, 4], 'f32')}`,
    `  %fg = stablehlo.convolution(%xf, %wf) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {stride = [1, 1]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64} : (${ty([2, 9, 9, 3], 'f32')}, ${ty([3, 3, 3, 4], 'f32')}) -> ${ty([2, 7, 7, 4], 'f32')}`,
    `  %cg = stablehlo.uniform_quantize %fg : (${ty([2, 7, 7, 4], 'f32')}) -> ${ty([2, 7, 7, 4], act)}`,
    ...maxPool('pg', '%cg', act, [2, 7, 7, 4], [2, 3, 3, 4], [1, 2, 2, 1], [1, 2, 2, 1]),
  ];
  const pools: [string, number[], string][] = [
    ['pa', [2, 4, 4, 4], act],
    ['pb', [2, 3, 3, 2], act],
    ['pc', [2, 7, 7, 2], act],
    ['pd', [2, 4, 4, 4], act],
    ['pe', [3, 8], act],
    ['pf', [2, 3, 3, 4], low],
    ['pg', [2, 3, 3, 4], act],
  ];
  const extra: [string, number[], string][] = alsoReturned
    ? [
        ['ca', [2, 9, 9, 4], act],
        ['cb', [2, 7, 7, 4], act],
        ['cd', [2, 9, 9, 4], act],
        ['ce', [6, 8], act],
        ['cg', [2, 7, 7, 4], act],
      ]
    : [];
  const outs = [...pools, ...extra];
  lines.push(
    ...outs.map(([n, d, e]) => `  %o_${n} = stablehlo.bitcast_convert %${n} : (${ty(d, e)}) -> ${ty(d, 'i8')}`),
    `  return ${outs.map(([n]) => `%o_${n}`).join(', ')} : ${outs.map(([, d]) => ty(d, 'i8')).join(', ')}`,
  );
  const header = `func.func @main(%x: ${ty([2, 9, 9, 3], 'f32')}, %y: ${ty([6, 10], 'f32')}) -> (${outs.map(([, d]) => ty(d, 'i8')).join(', ')}) {`;
  return { src: [header, ...lines, '}'].join('\n'), moved: alsoReturned ? 0 : 5 };
}

t.test('max pooling before requantization equals pooling the requantized values, bit for bit', async (t) => {
  const [pooled, reference] = [poolModule(false), poolModule(true)].map(({ src, moved }) => ({
    m: importModule(new SourceFile('qpool.mlir', src)),
    moved,
  }));
  const args = randomInputs(pooled!.m.funcs.get('main')!, 5, pooled!.m) as Tensor[];
  const want = interpret(pooled!.m, args);
  want.forEach((w, i) => t.ok(new Set(ints(w)).size >= 3, `pool ${'abcdefg'[i]}: the reference is informative`));
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
    want.forEach((_, i) =>
      t.same(
        ints(got.outputs[i]!),
        ints(ref.outputs[i]!),
        `${target}: pool ${'abcdefg'[i]} equals the reference build's`,
      ),
    );
    withinOneQuantum(t, got.outputs, want, target);
  }
});

// One-vector convolution windows on Helium: a one-channel 3x3 window (K = 9, int8 activations
// kept as stored) strided and dilated, read in place by VLDRB gathers; a 2x2x2 window of int8
// activations widened to i16 (the weights' zero point is not 0: no folding) by VLDRH gathers;
// and an image too wide for 8-bit offsets (a row 300 apart), copied as before.
t.test('Helium one-vector convolution windows gathered in place equal the host build', async (t) => {
  seed = 31;
  const xq = q('i8', 0.05, 7);
  const res = q('i8', 0.2, -2);
  const [w1, w2] = [q('i8', scales(6, 0.01), 0, 3), q('i8', 0.01, 3)];
  const conv = (x: string, xd: number[], w: string, wd: number[], wType: string, out: number[], window: string) =>
    `stablehlo.convolution(${x}, ${w}) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {${window}} {batch_group_count = 1 : i64, feature_group_count = 1 : i64} : (${ty(xd, xq)}, ${ty(wd, wType)}) -> ${ty(out, res)}`;
  const src = [
    `func.func @main(%x: ${ty([2, 12, 10, 1], 'f32')}, %y: ${ty([2, 6, 7, 2], 'f32')}, %z: ${ty([1, 3, 300, 1], 'f32')}) -> (${ty([2, 5, 6, 6], 'i8')}, ${ty([2, 5, 6, 5], 'i8')}, ${ty([1, 1, 298, 6], 'i8')}) {`,
    `  %xq = stablehlo.uniform_quantize %x : (${ty([2, 12, 10, 1], 'f32')}) -> ${ty([2, 12, 10, 1], xq)}`,
    `  %yq = stablehlo.uniform_quantize %y : (${ty([2, 6, 7, 2], 'f32')}) -> ${ty([2, 6, 7, 2], xq)}`,
    `  %zq = stablehlo.uniform_quantize %z : (${ty([1, 3, 300, 1], 'f32')}) -> ${ty([1, 3, 300, 1], xq)}`,
    `  %w1 = stablehlo.constant ${literal([3, 3, 1, 6])} : ${ty([3, 3, 1, 6], w1)}`,
    `  %w2 = stablehlo.constant ${literal([2, 2, 2, 5])} : ${ty([2, 2, 2, 5], w2)}`,
    `  %c1 = ${conv('%xq', [2, 12, 10, 1], '%w1', [3, 3, 1, 6], w1, [2, 5, 6, 6], 'stride = [2, 1], rhs_dilate = [1, 2]')}`,
    `  %c2 = ${conv('%yq', [2, 6, 7, 2], '%w2', [2, 2, 2, 5], w2, [2, 5, 6, 5], 'stride = [1, 1]')}`,
    `  %c3 = ${conv('%zq', [1, 3, 300, 1], '%w1', [3, 3, 1, 6], w1, [1, 1, 298, 6], 'stride = [1, 1]')}`,
    `  %o1 = stablehlo.bitcast_convert %c1 : (${ty([2, 5, 6, 6], res)}) -> ${ty([2, 5, 6, 6], 'i8')}`,
    `  %o2 = stablehlo.bitcast_convert %c2 : (${ty([2, 5, 6, 5], res)}) -> ${ty([2, 5, 6, 5], 'i8')}`,
    `  %o3 = stablehlo.bitcast_convert %c3 : (${ty([1, 1, 298, 6], res)}) -> ${ty([1, 1, 298, 6], 'i8')}`,
    `  return %o1, %o2, %o3 : ${ty([2, 5, 6, 6], 'i8')}, ${ty([2, 5, 6, 5], 'i8')}, ${ty([1, 1, 298, 6], 'i8')}`,
    '}',
  ].join('\n');
  const m = importModule(new SourceFile('qgather.mlir', src));
  const args = randomInputs(m.funcs.get('main')!, 3, m) as Tensor[];
  const want = interpret(m, args);
  const host = await runCompiled(m, 'main', args, { flags: SANITIZE_FLAGS });
  const mcu = await runCompiled(m, 'main', args, { target: lookupTarget('cortex-m55') });
  const c = mcu.emitted.files.get('model.c') as string;
  t.equal(c.match(/rl_vd_gather_s8\(/g)?.length, 1, 'the int8 window gathered');
  t.equal(c.match(/rl_vd_gather_s16\(/g)?.length, 1, 'the i16 window gathered');
  t.match(c, /_taps\[16\] = \{0, 2, 4, 10, 12, 14, 20, 22, 24, 0,/, 'tap offsets: rows 10 apart, columns 2 apart');
  want.forEach((_, i) =>
    t.same(ints(mcu.outputs[i]!), ints(host.outputs[i]!), `convolution ${i + 1}: Cortex-M55 equals the host build`),
  );
  withinOneQuantum(t, host.outputs, want, 'host');
});

// uniform_quantize to 8- and 16-bit storage clamps in f32 before rounding (rl_quantize_narrow):
// exact (the spec's round half to even) for NaN, infinities, values past every bound, ties either
// way, and -0, on the host, Cortex-M4 (selects) and Cortex-M55 (VMAXNM/VMINNM).
t.test('uniform_quantize to narrow storage is exact on every path', async (t) => {
  const values = [
    'nan',
    '-nan',
    'inf',
    '-inf',
    '1e30',
    '-1e30',
    '3e9',
    '-3e9',
    '-0',
    '0.125',
    '0.375',
    '-0.125',
    '-0.375',
    '31.875',
    '-32.125',
    '63.9',
    '-64.1',
    '70000',
    '-70000',
    '0.2',
  ];
  const types = [q('i8', 0.25, -3), q('u8', 0.25, 100), q('i16', 0.25, 5), q('u16', 0.25, 0)];
  const n = values.length;
  const src = [
    `func.func @main(%x: ${ty([n], 'f32')}) -> (${types.map((_, i) => ty([n], ['i8', 'ui8', 'i16', 'ui16'][i]!)).join(', ')}) {`,
    ...types.flatMap((e, i) => [
      `  %q${i} = stablehlo.uniform_quantize %x : (${ty([n], 'f32')}) -> ${ty([n], e)}`,
      `  %o${i} = stablehlo.bitcast_convert %q${i} : (${ty([n], e)}) -> ${ty([n], ['i8', 'ui8', 'i16', 'ui16'][i]!)}`,
    ]),
    `  return ${types.map((_, i) => `%o${i}`).join(', ')} : ${types.map((_, i) => ty([n], ['i8', 'ui8', 'i16', 'ui16'][i]!)).join(', ')}`,
    '}',
  ].join('\n');
  const m = importModule(new SourceFile('quantize.mlir', src));
  const args = [parseInput(`${n}xf32=${values.join(',')}`, m.funcs.get('main')!, 0)] as Tensor[];
  const want = interpret(m, args);
  for (const target of ['host', 'cortex-m4', 'cortex-m55']) {
    const { outputs } = await runCompiled(m, 'main', args, { target: lookupTarget(target) });
    want.forEach((w, i) => t.same(ints(outputs[i]!), ints(w), `${target}: ${['i8', 'u8', 'i16', 'u16'][i]} exact`));
  }
});

// The DSP kernels' four-column LDM step (rl.h rl_dsp_step4) past 40 steps runs in a loop of four:
// K = 170 is 42 steps (the first, whose SMUAD starts the sums, ten loops of four and one more)
// and a pair (rl_dsp_pair4); 7 columns are a panel of four and one of three. int8 activations of zero point 3 (widened to i16 less it) and of zero point 0 (kept
// as int8, split by SXTB16): Cortex-M4 and M7 equal the host build bit for bit.
t.test('the DSP four-column step with a long K equals the host build', async (t) => {
  seed = 41;
  const wt = q('i8', scales(7, 0.003), 0, 1);
  const res = q('i8', 0.5, 1);
  const lines = [
    `  %w = stablehlo.constant ${literal([170, 7])} : ${ty([170, 7], wt)}`,
    ...[q('i8', 0.02, 3), q('i8', 0.02)].flatMap((xq, i) => [
      `  %x${i} = stablehlo.uniform_quantize %x : (${ty([3, 170], 'f32')}) -> ${ty([3, 170], xq)}`,
      `  %d${i} = stablehlo.dot_general %x${i}, %w, contracting_dims = [1] x [0] : (${ty([3, 170], xq)}, ${ty([170, 7], wt)}) -> ${ty([3, 7], res)}`,
      `  %o${i} = stablehlo.bitcast_convert %d${i} : (${ty([3, 7], res)}) -> ${ty([3, 7], 'i8')}`,
    ]),
  ];
  const src = [
    `func.func @main(%x: ${ty([3, 170], 'f32')}) -> (${ty([3, 7], 'i8')}, ${ty([3, 7], 'i8')}) {`,
    ...lines,
    `  return %o0, %o1 : ${ty([3, 7], 'i8')}, ${ty([3, 7], 'i8')}`,
    '}',
  ].join('\n');
  const m = importModule(new SourceFile('qlong.mlir', src));
  const args = randomInputs(m.funcs.get('main')!, 9, m) as Tensor[];
  const host = await runCompiled(m, 'main', args, { flags: SANITIZE_FLAGS });
  const want = interpret(m, args);
  for (const target of ['cortex-m4', 'cortex-m7']) {
    const mcu = await runCompiled(m, 'main', args, { target: lookupTarget(target) });
    const c = mcu.emitted.files.get('model.c') as string;
    t.equal(
      c.match(/for \(rl_index_t s = 0; s < 10; \+\+s\)/g)?.length,
      2,
      `${target}: ten loops of four steps, twice`,
    );
    want.forEach((w, i) => {
      t.notOk(new Set(ints(w)).size < 3, `dot ${i}: the reference is informative`);
      t.same(ints(mcu.outputs[i]!), ints(host.outputs[i]!), `${target}: dot ${i} equals the host build`);
    });
  }
});

// Window rows on the DSP kernels' convolutions are copied four words per LDM/STM where every row
// starts on a word (rl.h rl_copy_words): 3x3 windows of i16 activations (zero point 3: widened)
// over 2 channels (rows of 12 bytes: three single words), 4 (24: a block of four and two), of
// int8 ones (zero point 0: kept) over 8 channels (24), and of i16 over 3 channels (6-byte pixels:
// memcpy). Cortex-M4 equals the host build bit for bit.
t.test('DSP window rows copied by LDM/STM equal the host build', async (t) => {
  seed = 53;
  const res = q('i8', 0.3, -1);
  const cases = [
    { c: 2, x: q('i8', 0.02, 3) },
    { c: 4, x: q('i8', 0.02, 3) },
    { c: 8, x: q('i8', 0.02) },
    { c: 3, x: q('i8', 0.02, 3) },
  ];
  const lines: string[] = [];
  const outs: string[] = [];
  cases.forEach(({ c, x }, i) => {
    const w = q('i8', scales(5, 0.004), 0, 3);
    lines.push(
      `  %x${i} = stablehlo.uniform_quantize %a${i} : (${ty([1, 6, 7, c], 'f32')}) -> ${ty([1, 6, 7, c], x)}`,
      `  %w${i} = stablehlo.constant ${literal([3, 3, c, 5])} : ${ty([3, 3, c, 5], w)}`,
      `  %c${i} = stablehlo.convolution(%x${i}, %w${i}) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {stride = [1, 1]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64} : (${ty([1, 6, 7, c], x)}, ${ty([3, 3, c, 5], w)}) -> ${ty([1, 4, 5, 5], res)}`,
      `  %o${i} = stablehlo.bitcast_convert %c${i} : (${ty([1, 4, 5, 5], res)}) -> ${ty([1, 4, 5, 5], 'i8')}`,
    );
    outs.push(`%o${i}`);
  });
  const src = [
    `func.func @main(${cases.map(({ c }, i) => `%a${i}: ${ty([1, 6, 7, c], 'f32')}`).join(', ')}) -> (${cases.map(() => ty([1, 4, 5, 5], 'i8')).join(', ')}) {`,
    ...lines,
    `  return ${outs.join(', ')} : ${cases.map(() => ty([1, 4, 5, 5], 'i8')).join(', ')}`,
    '}',
  ].join('\n');
  const m = importModule(new SourceFile('qcopy.mlir', src));
  const args = randomInputs(m.funcs.get('main')!, 13, m) as Tensor[];
  const host = await runCompiled(m, 'main', args, { flags: SANITIZE_FLAGS });
  const mcu = await runCompiled(m, 'main', args, { target: lookupTarget('cortex-m4') });
  const c = mcu.emitted.files.get('model.c') as string;
  t.equal(c.match(/rl_copy_words\(dst, src/g)?.length, 3, 'three windows copied by words');
  t.equal(c.match(/memcpy\(dst, src/g)?.length, 1, 'the 6-byte pixels by memcpy');
  interpret(m, args).forEach((w, i) => {
    t.ok(new Set(ints(w)).size >= 3, `convolution ${i}: the reference is informative`);
    t.same(
      ints(mcu.outputs[i]!),
      ints(host.outputs[i]!),
      `convolution ${i} (${cases[i]!.c} channels) equals the host build`,
    );
  });
});
