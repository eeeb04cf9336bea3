/**
 * int8 end to end: the quantize phase (src/canonicalize/quantized.ts: quantized dots and
 * convolutions in integer arithmetic, QDQ patterns recognised, per-axis values as their stored
 * integers) and the fixtures of test/fixtures/quantized (an MLP; a CNN with per-channel
 * convolution weights, a depthwise-separable block and a residual add; each in quantized-type
 * and QDQ form). The bound against the interpreter, whose quantized ops dequantize, compute in f32
 * and quantize: every int8 output within one quantum (the integer path does not round the
 * dequantized operands or the f32 sum), with the number of outputs off by one reported.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { SourceFile } from '../../src/diag/source.js';
import { CompileError } from '../../src/diag/diagnostics.js';
import { importModule } from '../../src/import/index.js';
import { Interpreter } from '../../src/interpret/eval.js';
import { parseInput, randomInputs } from '../../src/interpret/inputs.js';
import { degenerate } from '../../src/ir/compare.js';
import type { Module, Op, Region } from '../../src/ir/core.js';
import { getElem, size, type Tensor } from '../../src/ir/tensor.js';
import { compile } from '../../src/pipeline.js';
import { fixedPoint } from '../../src/canonicalize/quantized.js';
import { lookupTarget } from '../../src/target/targets.js';
import { runCompiled, SANITIZE_FLAGS } from '../../src/toolchain/run.js';
import { FIXTURES } from '../helpers/paths.js';
import { withinOneQuantum } from '../helpers/reference.js';

const DIR = join(FIXTURES, 'quantized');
const FILES = readdirSync(DIR)
  .filter((f) => f.endsWith('.mlir'))
  .sort();
const load = (name: string): Module => importModule(new SourceFile(name, readFileSync(join(DIR, name), 'utf8')));
const inputsOf = (m: Module): Tensor[] => randomInputs(m.funcs.get('main')!, 7, m) as Tensor[];
const run = (m: Module, args: readonly Tensor[]): Tensor[] =>
  new Interpreter(m).runFunc(m.funcs.get('main')!, args) as Tensor[];

function contractions(r: Region): Op[] {
  return r.blocks.flatMap((b) =>
    b.ops.flatMap((op) => [
      ...(['stablehlo.dot_general', 'stablehlo.dot', 'stablehlo.convolution'].includes(op.name) ? [op] : []),
      ...op.regions.flatMap(contractions),
    ]),
  );
}

t.ok(FILES.length >= 4, `${FILES.length} quantized fixtures`);

t.test('the quantize phase: every contraction in integers, and the same values in the interpreter', async (t) => {
  for (const name of FILES) {
    const m = load(name);
    let rewritten: Module | undefined;
    compile(m, {
      entry: 'main',
      prefix: 'model',
      sourceName: name,
      cc: 'gcc',
      target: lookupTarget('host'),
      observe: (r) => {
        if (r.phase === 'quantize') rewritten = r.module;
      },
    });
    const ops = contractions(rewritten!.funcs.get('main')!.body!);
    t.ok(ops.length >= 2, `${name}: ${ops.length} contractions`);
    for (const op of ops) {
      const types = [...op.operands, ...op.results].map((v) => (v.type.kind === 'tensor' ? v.type.elem.name : '?'));
      t.ok(
        types.slice(0, 2).every((e) => e === 'i8' || e === 'i16') && types[2] === 'i32',
        `${name}: ${op.name} at ${op.loc.line}:${op.loc.col} is (${types.slice(0, 2).join(', ')}) -> ${types[2]}`,
      );
    }
    const args = inputsOf(m);
    withinOneQuantum(t, run(rewritten!, args), run(m, args), `${name} rewritten, interpreted`);
  }
});

t.test(
  'quantized fixtures compiled for host (ASan+UBSan), aarch64 (with and without SDOT), Cortex-M4, M55 and M0 match the interpreter',
  async (t) => {
    for (const name of FILES) {
      const m = load(name);
      const args = inputsOf(m);
      const expected = run(m, args);
      for (const target of ['host', 'aarch64', 'aarch64-dotprod', 'cortex-m4', 'cortex-m55', 'cortex-m0']) {
        const opts = target === 'host' ? { flags: SANITIZE_FLAGS } : { target: lookupTarget(target) };
        const { outputs, emitted } = await runCompiled(m, 'main', args, opts);
        withinOneQuantum(t, outputs, expected, `${name} on ${target}`);
        // Microcontrollers take the MLP's integer dots as register-blocked micro-kernels (SMLAD pairs).
        if (name.startsWith('qmlp') && target.startsWith('cortex'))
          t.match(
            emitted.files.get('model.c') as string,
            /Integer GEMM \[1 x 64\] \* \[64 x 32\]/,
            `${name} on ${target}: integer GEMM kernel`,
          );
      }
    }
  },
);

t.test('fixed-point requantization multipliers: M0 * 2^-n within 2^-30 of the multiplier', async (t) => {
  const loc = { file: 'm.mlir', line: 1, col: 1 };
  for (const mult of [1, 0.5, 0.999999997, 1 / 3, 2.5e-4, 7.3, 1234.5]) {
    const { m0, n } = fixedPoint(mult, loc);
    t.ok(m0 >= 2 ** 30 && m0 < 2 ** 31 && n >= 1 && n <= 62, `${mult}: M0 ${m0}, n ${n}`);
    t.ok(Math.abs(m0 / 2 ** n - mult) <= mult * 2 ** -30, `${mult}: ${m0} * 2^-${n} = ${m0 / 2 ** n}`);
  }
  // Below 2^-31 the shift stops at 62 and M0 keeps fewer bits: an absolute error of 2^-63.
  const tiny = fixedPoint(3e-12, loc);
  t.ok(tiny.n === 62 && Math.abs(tiny.m0 / 2 ** 62 - 3e-12) <= 2 ** -63, `3e-12: ${tiny.m0} * 2^-62`);
  t.same(fixedPoint(1, loc), { m0: 2 ** 30, n: 30 }, 'a multiplier of 1 is exact');
  t.equal(
    (() => {
      try {
        fixedPoint(0, loc);
        return 'accepted';
      } catch (e) {
        return e instanceof CompileError ? e.diagnostic.code : String(e);
      }
    })(),
    'E0301',
    'a zero scale is refused',
  );
});

t.test('requantization by a multiplier below 2^-25 (a shift of 56 bits, constants past 2^53)', async (t) => {
  // 4096 inputs of 127 times each column's weight, then 1 / 50331648: -1 .. 1.
  const w = Array.from({ length: 4096 }, () => `[${[-127, -64, 32, 127].join(', ')}]`).join(', ');
  const src = [
    'func.func @main(%x: tensor<1x4096xi8>) -> tensor<1x4xi8> {',
    '  %q = stablehlo.bitcast_convert %x : (tensor<1x4096xi8>) -> tensor<1x4096x!quant.uniform<i8:f32, 1.0>>',
    `  %w = stablehlo.constant dense<[${w}]> : tensor<4096x4x!quant.uniform<i8:f32, 1.0>>`,
    '  %d = stablehlo.dot_general %q, %w, contracting_dims = [1] x [0] : (tensor<1x4096x!quant.uniform<i8:f32, 1.0>>, tensor<4096x4x!quant.uniform<i8:f32, 1.0>>) -> tensor<1x4x!quant.uniform<i8:f32, 50331648.0>>',
    '  %o = stablehlo.bitcast_convert %d : (tensor<1x4x!quant.uniform<i8:f32, 50331648.0>>) -> tensor<1x4xi8>',
    '  return %o : tensor<1x4xi8>',
    '}',
  ].join('\n');
  const m = importModule(new SourceFile('shift.mlir', src));
  const f = m.funcs.get('main')!;
  t.equal(fixedPoint(1 / 50331648, { file: 'shift.mlir', line: 1, col: 1 }).n, 56, 'a shift of 56');
  const args = [parseInput('1x4096xi8=127', f, 0)] as Tensor[];
  const want = run(m, args);
  t.same(
    Array.from({ length: 4 }, (_, k) => Number(getElem(want[0]!, k))),
    [-1, -1, 0, 1],
    'the interpreter',
  );
  withinOneQuantum(t, (await runCompiled(m, 'main', args, { flags: SANITIZE_FLAGS })).outputs, want, 'compiled');
});

t.test('integer GEMM micro-kernels on Cortex-M4, M0 and M55: rows and columns past the tile, an odd K', async (t) => {
  // 9 x 23 by 23 x 3, 6 and 11, for int8 activations of zero point 3 (M4, M0: widened to i16
  // less it; M55: kept as stored, the zero point's share of the sums subtracted after) and 0, and
  // int16 ones. M0 (pairs, 2 x 3 tiles): a last row alone, and (11 columns) a last column alone;
  // 23 = 11 pairs and a last k of one. M4 (DSP, four k per step): 3 and 11 columns by four (the
  // LDM step: a last panel of 3 of 4 columns), 6 by six (a column's LDRD each); 23 = 5 steps, a
  // pair and a last k. AArch64 and Armv7-A (NEON vectors of 4 columns, qemu-user): partial vectors
  // and panels, the odd K. M55 (Helium column dots, 4 columns per call): 3, 6 and 11 columns leave
  // partial calls; 23 k's are a vector and a predicated tail of 7 (i8) or 15 (i16) lanes.
  let seed = 5;
  const int = (): number => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) % 255) - 127;
  const weights = (n: number): string => {
    const scales = Array.from({ length: n }, (_, i) => (0.011 + i / 1000).toFixed(3)).join(', ');
    const w = Array.from({ length: 23 }, () => `[${Array.from({ length: n }, int).join(', ')}]`).join(', ');
    return `dense<[${w}]> : tensor<23x${n}x!quant.uniform<i8:f32:1, {${scales}}>>`;
  };
  const activations = [
    { id: 'zp3', q: 'i8:f32, 0.01:3', pairs: 'i16', columns: 'i8' },
    { id: 'zp0', q: 'i8:f32, 0.01', pairs: 'i8', columns: 'i8' },
    { id: 'i16', q: 'i16:f32, 0.0001', pairs: 'i16', columns: 'i16' },
  ];
  const outs: { id: string; n: number; pairs: string; columns: string }[] = [];
  const lines: string[] = [];
  for (const act of activations) {
    const xq = `tensor<9x23x!quant.uniform<${act.q}>>`;
    lines.push(`  %q${act.id} = stablehlo.uniform_quantize %x : (tensor<9x23xf32>) -> ${xq}`);
    for (const n of [3, 6, 11]) {
      const wt = weights(n);
      const rt = `tensor<9x${n}x!quant.uniform<i8:f32, 0.05:-2>>`;
      const id = `${act.id}_${n}`;
      lines.push(
        `  %w${id} = stablehlo.constant ${wt}`,
        `  %d${id} = stablehlo.dot_general %q${act.id}, %w${id}, contracting_dims = [1] x [0] : (${xq}, ${wt.split(' : ')[1]}) -> ${rt}`,
        `  %o${id} = stablehlo.bitcast_convert %d${id} : (${rt}) -> tensor<9x${n}xi8>`,
      );
      outs.push({ id, n, pairs: act.pairs, columns: act.columns });
    }
  }
  const types = outs.map((o) => `tensor<9x${o.n}xi8>`).join(', ');
  const src = [
    `func.func @main(%x: tensor<9x23xf32>) -> (${types}) {`,
    ...lines,
    `  return ${outs.map((o) => `%o${o.id}`).join(', ')} : ${types}`,
    '}',
  ].join('\n');
  const m = importModule(new SourceFile('igemm.mlir', src));
  const args = inputsOf(m);
  const want = run(m, args);
  for (const target of ['cortex-m4', 'cortex-m0', 'cortex-m55', 'aarch64', 'aarch64-dotprod', 'armv7a']) {
    const { outputs, emitted } = await runCompiled(m, 'main', args, { target: lookupTarget(target) });
    const c = emitted.files.get('model.c') as string;
    const gemms = c.match(/Integer GEMM \[9 x 23\] \* \[23 x \d+\] [^.]*/g) ?? [];
    t.equal(gemms.length, outs.length, `${target}: ${outs.length} integer GEMMs`);
    outs.forEach((o, i) => {
      const g = gemms[i] ?? '';
      if (target === 'cortex-m55')
        t.match(
          g,
          new RegExp(`23 x ${o.n}\\] ${o.columns} x i8 -> i32: tile 1 x 4 .*as ${o.columns.slice(1)}-bit columns`),
          `${target}: ${o.id} by ${o.columns} column dots`,
        );
      else if (target === 'aarch64-dotprod')
        // int8 activations stay as stored (the zero point folded out of the sums, as on M55).
        t.match(
          g,
          new RegExp(
            `23 x ${o.n}\\] ${o.columns} x i8 -> i32: tile \\d+ x \\d+ .*${o.columns === 'i8' ? 'one SDOT' : 'one dual multiply-add \\(NEON'}`,
          ),
          `${target}: ${o.id} in NEON vector tiles of ${o.columns === 'i8' ? 'int8 quads (SDOT)' : 'i16 pairs'}`,
        );
      else if (target === 'aarch64' || target === 'armv7a')
        t.match(
          g,
          new RegExp(
            `23 x ${o.n}\\] ${o.pairs} x i8 -> i32: tile \\d+ x \\d+ .*vector\\(s\\) of 4 columns, one dual multiply-add \\(NEON`,
          ),
          `${target}: ${o.id} in NEON vector tiles of ${o.pairs} pairs`,
        );
      else if (target === 'cortex-m4')
        t.match(
          g,
          new RegExp(
            `23 x ${o.n}\\] ${o.pairs} x i8 -> i32: tile 1 x ${o.n === 6 ? '6 .*four k per step.*one LDRD' : '4 .*four k per step.*two LDM'}`,
          ),
          `${target}: ${o.id} in 1 x ${o.n === 6 ? 6 : 4} tiles of ${o.pairs}, four k per step (and a tail of three)`,
        );
      else
        t.match(
          g,
          new RegExp(`23 x ${o.n}\\] ${o.pairs} x i8 -> i32: tile 2 x 3`),
          `${target}: ${o.id} in 2 x 3 tiles of ${o.pairs} pairs`,
        );
    });
    withinOneQuantum(t, outputs, want, target);
  }
});

/** Compiles `m` for x86-64-v3 (AVX2), x86-64-v4 (AVX-512) and the host (VNNI where this CPU has
 * it; a target this CPU cannot run is skipped, saying why), runs it under ASan+UBSan, and for
 * AArch64 with and without SDOT under qemu-user; lets `check` look at the C, and asserts every
 * output equal to the interpreter's. */
async function exactOnCpus(
  t: Test,
  m: Module,
  args: readonly Tensor[],
  labels: readonly string[],
  check: (target: string, c: string) => void,
): Promise<void> {
  const { cannotRunHere } = await import('../../src/target/targets.js');
  const want = run(m, args);
  for (const target of ['x86-64-v3', 'x86-64-v4', 'host', 'aarch64', 'aarch64-dotprod']) {
    const why = cannotRunHere(lookupTarget(target));
    if (why) {
      t.pass(`${target}: not run`, { skip: why });
      continue;
    }
    const { outputs, emitted } = await runCompiled(m, 'main', args, {
      target: lookupTarget(target),
      ...(target.startsWith('aarch64') ? {} : { flags: SANITIZE_FLAGS }),
    });
    check(target, emitted.files.get('model.c') as string);
    want.forEach((w, i) =>
      t.same(
        Array.from({ length: size(w) }, (_, k) => getElem(outputs[i]!, k)),
        Array.from({ length: size(w) }, (_, k) => getElem(w, k)),
        `${target}: ${labels[i]} equals the interpreter's exactly`,
      ),
    );
  }
}

t.test(
  'integer GEMM vectors on x86 (AVX2, AVX-512, this CPU: VNNI where it has it) and AArch64 (NEON, SDOT), exact',
  async (t) => {
    // i8 x i8, i16 x i8 and i16 x i16 -> i32 with constant weights, 7 rows by an odd K of 37 into 5, 21
    // and 40 columns: partial vectors and panels, a last row alone, the last k alone. The i16 x i16
    // weights start with two k's of -32768 that meet A's -32768s: that pair's products sum to 2^31,
    // vpmaddwd's one overflowing case, which must wrap (a saturating form such as vpdpwssds would
    // give another i32 result than the interpreter's wrapping contraction).
    let seed = 9;
    const int = (bound: number): number =>
      ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) % (2 * bound)) - bound;
    const lines: string[] = [];
    const results: string[] = [];
    for (const [a, b] of [
      ['i8', 'i8'],
      ['i16', 'i8'],
      ['i16', 'i16'],
    ] as const)
      for (const n of [5, 21, 40]) {
        const bound = (e: string): number => (e === 'i8' ? 128 : 32768);
        const w = Array.from(
          { length: 37 },
          (_, k) => `[${Array.from({ length: n }, () => (b === 'i16' && k < 2 ? -32768 : int(bound(b)))).join(', ')}]`,
        );
        const id = `${a}_${b}_${n}`;
        lines.push(
          `  %w_${id} = stablehlo.constant dense<[${w.join(', ')}]> : tensor<37x${n}x${b}>`,
          `  %d_${id} = stablehlo.dot_general %x_${a}, %w_${id}, contracting_dims = [1] x [0] : (tensor<7x37x${a}>, tensor<37x${n}x${b}>) -> tensor<7x${n}xi32>`,
        );
        results.push(id);
      }
    const src = [
      `func.func @main(%x_i8: tensor<7x37xi8>, %x_i16: tensor<7x37xi16>) -> (${results.map((id) => `tensor<7x${id.split('_')[2]}xi32>`).join(', ')}) {`,
      ...lines,
      `  return ${results.map((id) => `%d_${id}`).join(', ')} : ${results.map((id) => `tensor<7x${id.split('_')[2]}xi32>`).join(', ')}`,
      '}',
    ].join('\n');
    const m = importModule(new SourceFile('igemm_x86.mlir', src));
    const f = m.funcs.get('main')!;
    const values = (bound: number, first: number): string =>
      Array.from({ length: 7 * 37 }, (_, i) => (i % 37 < 2 ? first : int(bound))).join(',');
    const args = [
      parseInput(`7x37xi8=${values(128, -128)}`, f, 0) as Tensor,
      parseInput(`7x37xi16=${values(32768, -32768)}`, f, 1) as Tensor,
    ];
    await exactOnCpus(t, m, args, results, (target, c) => {
      t.equal(c.match(/Integer GEMM \[7 x 37\]/g)?.length, 9, `${target}: all nine dots on the integer GEMM path`);
      t.match(c, /vector\(s\) of (4|8|16) columns/, `${target}: in vectors`);
      if (target === 'aarch64-dotprod') t.equal(c.match(/one SDOT/g)?.length, 3, `${target}: the i8 x i8 dots on SDOT`);
    });
  },
);

t.test(
  'integer convolutions on x86 and AArch64 as implicit GEMMs (the image gathered while packing A), exact',
  async (t) => {
    // NHWC x HWIO -> NHWC, i8 x i8 and i16 x i8 -> i32 with constant kernels: 3 x 3 taps over 3 input
    // channels (K = 27, odd: pairs cross taps), strides 2 x 1, padding on every side, a column
    // dilation of 2, two images; and a 1 x 1 convolution over 4 channels.
    let seed = 3;
    const int = (bound: number): number =>
      ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) % (2 * bound)) - bound;
    const kernel = (dims: number[]): string =>
      `dense<[${Array.from({ length: dims.reduce((a, b) => a * b) }, () => int(128)).join(', ')}]> : tensor<${dims.join('x')}xi8>`;
    const conv = (x: string, xt: string, w: string, wt: string, rt: string, window: string): string =>
      `stablehlo.convolution(${x}, ${w}) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {${window}} {batch_group_count = 1 : i64, feature_group_count = 1 : i64} : (${xt}, ${wt}) -> ${rt}`;
    const win3 = 'stride = [2, 1], pad = [[1, 2], [1, 1]], rhs_dilate = [1, 2]';
    const src = [
      'func.func @main(%a: tensor<2x7x6x3xi8>, %b: tensor<2x7x6x3xi16>, %c: tensor<1x5x4x4xi8>) -> (tensor<2x4x4x5xi32>, tensor<2x4x4x5xi32>, tensor<1x5x4x6xi32>) {',
      `  %w = stablehlo.constant ${kernel([3, 3, 3, 5])}`,
      `  %v = stablehlo.constant ${kernel([1, 1, 4, 6])}`,
      `  %r0 = ${conv('%a', 'tensor<2x7x6x3xi8>', '%w', 'tensor<3x3x3x5xi8>', 'tensor<2x4x4x5xi32>', win3)}`,
      `  %r1 = ${conv('%b', 'tensor<2x7x6x3xi16>', '%w', 'tensor<3x3x3x5xi8>', 'tensor<2x4x4x5xi32>', win3)}`,
      `  %r2 = ${conv('%c', 'tensor<1x5x4x4xi8>', '%v', 'tensor<1x1x4x6xi8>', 'tensor<1x5x4x6xi32>', 'stride = [1, 1]')}`,
      '  return %r0, %r1, %r2 : tensor<2x4x4x5xi32>, tensor<2x4x4x5xi32>, tensor<1x5x4x6xi32>',
      '}',
    ].join('\n');
    const m = importModule(new SourceFile('iconv_x86.mlir', src));
    const f = m.funcs.get('main')!;
    const values = (n: number, bound: number): string => Array.from({ length: n }, () => int(bound)).join(',');
    const args = [
      parseInput(`2x7x6x3xi8=${values(252, 128)}`, f, 0) as Tensor,
      parseInput(`2x7x6x3xi16=${values(252, 32768)}`, f, 1) as Tensor,
      parseInput(`1x5x4x4xi8=${values(80, 128)}`, f, 2) as Tensor,
    ];
    await exactOnCpus(t, m, args, ['convolution 0', 'convolution 1', 'convolution 2'], (target, c) => {
      t.equal(
        c.match(/Integer GEMM \[(32 x 27|20 x 4)\]/g)?.length,
        3,
        `${target}: the three convolutions as integer GEMMs`,
      );
      // SDOT: the i8 image gathered four k per word (K = 27: words cross taps; the last one partial).
      if (target === 'aarch64-dotprod') t.equal(c.match(/one SDOT/g)?.length, 2, `${target}: the i8 x i8 ones on SDOT`);
    });
  },
);

t.test('a per-axis value where the backends cannot take it is a located E0301', async (t) => {
  const src = [
    'func.func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {',
    '  %q = stablehlo.uniform_quantize %x : (tensor<2x3xf32>) -> tensor<2x3x!quant.uniform<i8:f32:1, {0.1, 0.2, 0.3}>>',
    '  %n = stablehlo.negate %q : tensor<2x3x!quant.uniform<i8:f32:1, {0.1, 0.2, 0.3}>>',
    '  %d = stablehlo.uniform_dequantize %n : (tensor<2x3x!quant.uniform<i8:f32:1, {0.1, 0.2, 0.3}>>) -> tensor<2x3xf32>',
    '  return %d : tensor<2x3xf32>',
    '}',
  ].join('\n');
  const m = importModule(new SourceFile('axis.mlir', src));
  try {
    compile(m, { entry: 'main', prefix: 'model', sourceName: 'axis.mlir', cc: 'gcc', target: lookupTarget('host') });
    t.fail('compiled');
  } catch (e) {
    t.ok(e instanceof CompileError, 'a diagnostic, not a crash');
    const d = (e as CompileError).diagnostic;
    t.equal(d.code, 'E0301');
    t.match(d.message, /stablehlo\.negate on per-axis quantized values/);
    t.same([d.loc?.line, d.loc?.col], [3, 8], 'at the negate');
  }
});

// The bench's int8 CNN (make bench, bench-embedded): its first convolution has int8 rows (zero
// point 0), so on Cortex-M4 each output pixel's window is gathered and split by SXTB16; the
// second widens to int16 less its zero point. The integer path is exact arithmetic, so every
// build computes the same bits: Cortex-M4, M55 (Helium column dots on gathered windows) and M3
// (pairs, no DSP) must equal the host build exactly, and the host build the interpreter within
// two quanta (per-layer requantization may round a hidden value one quantum the other way: the
// bench's bound).
t.test("the bench's int8 CNN: Cortex-M4, M55 and M3 equal the host build bit for bit", async (t) => {
  const { quantizedCnn } = await import('../../src/bench/models.js');
  const q = quantizedCnn();
  const m = importModule(new SourceFile('qcnn_b1.mlir', q.mlir));
  const args = inputsOf(m);
  const host = await runCompiled(m, 'main', args, {});
  const want = run(m, args);
  const worst = Math.max(
    ...Array.from({ length: size(want[0]!) }, (_, k) =>
      Math.abs(Number(getElem(host.outputs[0]!, k)) - Number(getElem(want[0]!, k))),
    ),
  );
  t.ok(worst <= 2, `host vs the interpreter: at most ${worst} quanta apart (bound 2)`);
  t.notOk(degenerate(want[0]!), 'the reference output is informative');
  for (const target of ['cortex-m4', 'cortex-m55', 'cortex-m3']) {
    const mcu = await runCompiled(m, 'main', args, { target: lookupTarget(target) });
    t.same(
      Array.from({ length: size(want[0]!) }, (_, k) => getElem(mcu.outputs[0]!, k)),
      Array.from({ length: size(want[0]!) }, (_, k) => getElem(host.outputs[0]!, k)),
      `${target} equals the host build`,
    );
    if (target === 'cortex-m4')
      t.match(
        mcu.emitted.files.get('model.c') as string,
        /Integer GEMM \[784 x 9\] \* \[9 x 16\] i8 x i8 -> i32: tile 1 x 4 .*four k per step.*two LDM/,
        'the first convolution: int8 windows, four k per step in LDM steps',
      );
  }
});

// The requantization's rounding, exactly: q = clamp(zr + floor(acc * m + 1/2)) (round half up,
// TFLite's and CMSIS-NN's single rounding) for every int8 acc, with dyadic multipliers m, so the
// rule is computed here in exact rationals, independently of the compiler's fixed point (the
// weights' scales are the multipliers of acc, and x * weight * scale = x * sign(weight) * num /
// den as each line below writes it). One
// dot per form the quantize phase picks: shifts of 33 and 34 bits (the high word, then a shift by
// s = 1, 2), of 35 bits and more (the high word, then a second high word), and of 31 (the 64-bit
// product). The interpreter rounds the spec's way (half to even): ties are where they differ.
t.test('requantization rounds half up, exactly, in each fixed-point form', async (t) => {
  // bound: a ReLU (the maximum with the zero point) or a minimum after it, which the
  // simplifier moves into the requantization's clamp.
  const dots: { scales: number[]; denominator: number; zp: number; bound?: [string, number]; weights: number[] }[] = [
    { scales: [16, 3], denominator: 32, zp: 3, bound: ['maximum', 3], weights: [4, 1] }, // acc by 1/8, 3/32
    { scales: [4, 5], denominator: 128, zp: -2, bound: ['minimum', 1], weights: [1, -2] }, // acc by 1/32, 5/256
    { scales: [3], denominator: 4, zp: 0, weights: [-1] }, // acc by 3/4
  ];
  const act = '!quant.uniform<i8:f32, 1.0>';
  const lines = ['func.func @main(%x: tensor<256x1xi8>) -> (tensor<256x2xi8>, tensor<256x2xi8>, tensor<256x1xi8>) {'];
  lines.push(`  %q = stablehlo.bitcast_convert %x : (tensor<256x1xi8>) -> tensor<256x1x${act}>`);
  dots.forEach((d, i) => {
    const n = d.scales.length;
    // Weights of a power of two in magnitude: each scale, and so each multiplier, exactly dyadic.
    const scales = d.scales.map((s, c) => s / d.denominator / Math.abs(d.weights[c]!));
    const w = `tensor<1x${n}x!quant.uniform<i8:f32:1, {${scales.map((s) => s.toPrecision(17)).join(', ')}}>>`;
    const r = `tensor<256x${n}x!quant.uniform<i8:f32, 1.0:${d.zp}>>`;
    lines.push(
      `  %w${i} = stablehlo.constant dense<[[${d.weights.join(', ')}]]> : ${w}`,
      `  %d${i} = stablehlo.dot_general %q, %w${i}, contracting_dims = [1] x [0] : (tensor<256x1x${act}>, ${w}) -> ${r}`,
    );
    if (d.bound)
      lines.push(
        `  %z${i} = stablehlo.constant dense<${d.bound[1]}> : ${r}`,
        `  %r${i} = stablehlo.${d.bound[0]} %d${i}, %z${i} : ${r}`,
      );
    lines.push(`  %o${i} = stablehlo.bitcast_convert %${d.bound ? 'r' : 'd'}${i} : (${r}) -> tensor<256x${n}xi8>`);
  });
  lines.push('  return %o0, %o1, %o2 : tensor<256x2xi8>, tensor<256x2xi8>, tensor<256x1xi8>', '}');
  const m = importModule(new SourceFile('rounding.mlir', lines.join('\n')));
  const f = m.funcs.get('main')!;
  const args = [parseInput(`256x1xi8=${Array.from({ length: 256 }, (_, i) => i - 128).join(',')}`, f, 0)] as Tensor[];
  // The rule: acc * m = x * weight * scale = x * sign(weight) * num / den; floor(that + 1/2).
  const floorDiv = (a: bigint, b: bigint): bigint => (a >= 0n ? a / b : -((-a + b - 1n) / b));
  const rule = dots.map((d) =>
    Array.from({ length: 256 }, (_, i) =>
      d.scales.map((s, c) => {
        const acc = BigInt((i - 128) * Math.sign(d.weights[c]!));
        const den = BigInt(d.denominator);
        let q = BigInt(d.zp) + floorDiv(acc * BigInt(s) * 2n + den, 2n * den);
        q = q < -128n ? -128n : q > 127n ? 127n : q;
        const [op, b] = d.bound ?? ['', 0];
        return op === 'maximum' ? Math.max(Number(q), b) : op === 'minimum' ? Math.min(Number(q), b) : Number(q);
      }),
    ).flat(),
  );
  const want = run(m, args);
  const ties = rule.reduce((n, r, o) => n + r.filter((q, k) => q !== Number(getElem(want[o]!, k))).length, 0);
  t.ok(ties >= 8, `${ties} ties, where half up and the interpreter's half to even differ`);
  for (const target of ['host', 'cortex-m4', 'cortex-m55']) {
    const opts = target === 'host' ? { flags: SANITIZE_FLAGS } : { target: lookupTarget(target) };
    const { outputs, emitted } = await runCompiled(m, 'main', args, opts);
    const c = emitted.files.get('model.c') as string;
    for (const form of ['rl_mulhi_int32_t', 'rl_shra_int32_t', 'rl_shra_int64_t'])
      t.ok(c.includes(`${form}(`), `${target}: ${form} (each form is taken)`);
    rule.forEach((r, o) =>
      t.same(
        Array.from({ length: r.length }, (_, k) => Number(getElem(outputs[o]!, k))),
        r,
        `${target}: dot ${o} rounds half up`,
      ),
    );
    withinOneQuantum(t, outputs, want, `${target}: against the interpreter`);
  }
});

// Microcontrollers' quantized convolutions pad explicitly (the quantize phase's padWithZeroPoint:
// a pad with the input's zero point, then no bounds checks in the window gather, whole window rows
// copied, by Helium vectors on M55) and, on Helium, keep int8 activations of a non-zero zero point
// as stored (its share of the sums subtracted after). Padding on every side, strides, lhs
// dilation, two images, rhs dilation along rows (window rows copied whole) and along columns (taps
// gathered one by one), and an unpadded 3 x 3 window: the integer path is exact, so Cortex-M4
// (pad, then widened to i16 less the zero point), M55 (pad, fold) and M0 (neither) must equal the
// host build bit for bit, and all the interpreter within one quantum.
t.test('quantized convolutions padded with the zero point on microcontrollers equal the host build', async (t) => {
  const scales = (n: number, base: number) => Array.from({ length: n }, (_, i) => (base * (1 + i / 7)).toPrecision(6));
  const wt = (dims: number[], base: number) =>
    `tensor<${dims.join('x')}x!quant.uniform<i8:f32:3, {${scales(dims[3]!, base).join(', ')}}>>`;
  let seed = 11;
  const int = (): number => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) % 255) - 127;
  const weights = (dims: number[], base: number) =>
    `dense<[${Array.from({ length: dims.reduce((a, b) => a * b) }, int).join(', ')}]> : ${wt(dims, base)}`;
  const xq = 'tensor<2x7x6x3x!quant.uniform<i8:f32, 0.05:7>>';
  const conv = (w: string, wType: string, out: string, window: string): string =>
    `stablehlo.convolution(%q, ${w}) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {${window}} {batch_group_count = 1 : i64, feature_group_count = 1 : i64} : (${xq}, ${wType}) -> ${out}`;
  const [r0, r1, r2] = [
    'tensor<2x3x11x5x!quant.uniform<i8:f32, 0.3:-3>>',
    'tensor<2x5x4x4x!quant.uniform<i8:f32, 0.2:2>>',
    'tensor<2x4x9x5x!quant.uniform<i8:f32, 0.3:-3>>',
  ];
  const padded = 'stride = [2, 1], pad = [[1, 2], [1, 1]], lhs_dilate = [1, 2]';
  const src = [
    'func.func @main(%x: tensor<2x7x6x3xf32>) -> (tensor<2x3x11x5xi8>, tensor<2x5x4x4xi8>, tensor<2x4x9x5xi8>) {',
    `  %q = stablehlo.uniform_quantize %x : (tensor<2x7x6x3xf32>) -> ${xq}`,
    `  %w = stablehlo.constant ${weights([3, 3, 3, 5], 0.004)}`,
    `  %v = stablehlo.constant ${weights([3, 3, 3, 4], 0.003)}`,
    `  %c0 = ${conv('%w', wt([3, 3, 3, 5], 0.004), r0, `${padded}, rhs_dilate = [2, 1]`)}`,
    `  %c1 = ${conv('%v', wt([3, 3, 3, 4], 0.003), r1, 'stride = [1, 1]')}`,
    `  %c2 = ${conv('%w', wt([3, 3, 3, 5], 0.004), r2, `${padded}, rhs_dilate = [1, 2]`)}`,
    `  %o0 = stablehlo.bitcast_convert %c0 : (${r0}) -> tensor<2x3x11x5xi8>`,
    `  %o1 = stablehlo.bitcast_convert %c1 : (${r1}) -> tensor<2x5x4x4xi8>`,
    `  %o2 = stablehlo.bitcast_convert %c2 : (${r2}) -> tensor<2x4x9x5xi8>`,
    '  return %o0, %o1, %o2 : tensor<2x3x11x5xi8>, tensor<2x5x4x4xi8>, tensor<2x4x9x5xi8>',
    '}',
  ].join('\n');
  const m = importModule(new SourceFile('qconv_pad.mlir', src));
  const args = inputsOf(m);
  const want = run(m, args);
  const host = await runCompiled(m, 'main', args, { flags: SANITIZE_FLAGS });
  withinOneQuantum(t, host.outputs, want, 'host');
  const bits = (ts: readonly Tensor[]) => ts.map((x) => Array.from({ length: size(x) }, (_, k) => getElem(x, k)));
  for (const target of ['cortex-m4', 'cortex-m55', 'cortex-m0']) {
    const mcu = await runCompiled(m, 'main', args, { target: lookupTarget(target) });
    t.same(bits(mcu.outputs), bits(host.outputs), `${target} equals the host build`);
    const c = mcu.emitted.files.get('model.c') as string;
    if (target !== 'cortex-m0') {
      t.match(c, /stablehlo\.pad/, `${target}: the padding as a pad`);
      t.match(c, /Integer GEMM \[40 x 27\]/, `${target}: the unpadded convolution on the integer GEMM kernel`);
      // Rows of 3 taps x 3 channels: 2 image rows apart (c0: rhs dilation 2 over 13 columns), 1 (c1).
      for (const step of [78, 18])
        t.match(
          c,
          new RegExp(
            `${target === 'cortex-m55' ? 'rl_vd_copy' : 'memcpy'}\\(dst, src \\+ ky \\* ${step}, 9 \\* sizeof`,
          ),
          `${target}: window rows copied whole (${step})`,
        );
    }
  }
});

// The integer add and multiply (canonicalize/quantized-arith.ts): residual-style adds of int8
// operands of different scales and zero points to a third quantization, u8, and i16 (a 12-bit
// shift), and an int8 multiply, each operand over its whole storage range (with saturation at
// the result's bounds), on the host under ASan+UBSan and on Cortex-M4, M0 and M55: within one
// quantum of the interpreter.
t.test(
  'quantized add and multiply in integer arithmetic: within one quantum on host and microcontrollers',
  async (t) => {
    const q8a = '!quant.uniform<i8:f32, 0.05:-3>';
    const q8b = '!quant.uniform<i8:f32, 0.02:7>';
    const q8r = '!quant.uniform<i8:f32, 0.06:2>';
    const qu = '!quant.uniform<u8:f32, 0.1:128>';
    const qur = '!quant.uniform<u8:f32, 0.15:120>';
    const q16 = '!quant.uniform<i16:f32, 0.001>';
    const q16r = '!quant.uniform<i16:f32, 0.0015:5>';
    const q8m = '!quant.uniform<i8:f32, 0.15:-5>';
    const add = (x: string, y: string, s: string, a: string, b: string, r: string, n: string, op = 'add'): string[] => [
      `  %${x}q = stablehlo.bitcast_convert %${x} : (tensor<${n}x${s}>) -> tensor<${n}x${a}>`,
      `  %${y}q = stablehlo.bitcast_convert %${y} : (tensor<${n}x${s}>) -> tensor<${n}x${b}>`,
      `  %${x}${y} = stablehlo.${op} %${x}q, %${y}q : (tensor<${n}x${a}>, tensor<${n}x${b}>) -> tensor<${n}x${r}>`,
      `  %${x}${y}s = stablehlo.bitcast_convert %${x}${y} : (tensor<${n}x${r}>) -> tensor<${n}x${s}>`,
    ];
    const src = [
      'func.func @main(%a: tensor<256xi8>, %b: tensor<256xi8>, %c: tensor<256xui8>, %d: tensor<256xui8>, %e: tensor<64xi16>, %f: tensor<64xi16>, %g: tensor<256xi8>, %h: tensor<256xi8>) -> (tensor<256xi8>, tensor<256xui8>, tensor<64xi16>, tensor<256xi8>) {',
      ...add('a', 'b', 'i8', q8a, q8b, q8r, '256'),
      ...add('c', 'd', 'ui8', qu, qu, qur, '256'),
      ...add('e', 'f', 'i16', q16, q16, q16r, '64'),
      ...add('g', 'h', 'i8', q8a, q8b, q8m, '256', 'multiply'),
      '  return %abs, %cds, %efs, %ghs : tensor<256xi8>, tensor<256xui8>, tensor<64xi16>, tensor<256xi8>',
      '}',
    ].join('\n');
    const m = importModule(new SourceFile('qadd.mlir', src));
    const f = m.funcs.get('main')!;
    // Every stored value of each operand, its partner in another order (i * 97 mod 256, i * 12345
    // mod 65536): sums over the whole range, saturating at both ends.
    const spread = (n: number, lo: number, mult: number, mod: number): string =>
      Array.from({ length: n }, (_, i) => lo + ((i * mult) % mod)).join(',');
    const args = [
      parseInput(`256xi8=${spread(256, -128, 1, 256)}`, f, 0),
      parseInput(`256xi8=${spread(256, -128, 97, 256)}`, f, 1),
      parseInput(`256xui8=${spread(256, 0, 1, 256)}`, f, 2),
      parseInput(`256xui8=${spread(256, 0, 97, 256)}`, f, 3),
      parseInput(`64xi16=${spread(64, -32768, 1040, 65536)}`, f, 4),
      parseInput(`64xi16=${spread(64, -32768, 12345, 65536)}`, f, 5),
      parseInput(`256xi8=${spread(256, -128, 1, 256)}`, f, 6),
      parseInput(`256xi8=${spread(256, -128, 97, 256)}`, f, 7),
    ] as Tensor[];
    const want = run(m, args);
    const lowered = compile(m, { entry: 'main', prefix: 'model', sourceName: 'qadd.mlir', cc: 'gcc' });
    t.notMatch(
      lowered.files.get('model.c') as string,
      /\bfloat\b.*stablehlo\.(add|multiply)/,
      'no add or multiply in float',
    );
    const host = (await runCompiled(m, 'main', args, { flags: SANITIZE_FLAGS })).outputs;
    withinOneQuantum(t, host, want, 'host');
    // The products (up to 18 at a scale of 0.15: no saturation) exactly as the rule says: the
    // interpreter rounds ties to even, the integer form up (2 of 256 here), nothing else differs.
    const ints = (x: Tensor): number[] => Array.from({ length: size(x) }, (_, i) => Number(getElem(x, i)));
    const [g, h] = [ints(args[6]!), ints(args[7]!)];
    const multiplier = (Math.fround(0.05) * Math.fround(0.02)) / Math.fround(0.15);
    const rule = g.map((a, i) =>
      Math.min(127, Math.max(-128, -5 + Math.floor((a + 3) * (h[i]! - 7) * multiplier + 0.5))),
    );
    t.same(ints(host[3]!), rule, 'the multiply: round half up of (a - za)(b - zb) sa sb / sr, plus zr');
    for (const target of ['cortex-m4', 'cortex-m0', 'cortex-m55'])
      withinOneQuantum(t, (await runCompiled(m, 'main', args, { target: lookupTarget(target) })).outputs, want, target);
  },
);

// Average pooling in QDQ form (canonicalize/quantized-pool.ts): dequantize, sum windows from 0.0,
// divide (or multiply) by a constant, quantize, on the stored integers. Four pools of 1x8x8x4
// inputs over their whole storage range: a: int8 2x2 stride 2, divided by 4; b: u8 3x3 stride 1
// padded by 1 (the padding counted: divided by 9); c: int8 global pool (a reduce over H and W)
// times 1/64; d: i16 2x2 stride 2. On the host under ASan+UBSan and on Cortex-M4, M0 and M55:
// within one quantum of the interpreter; a exactly as the rule says.
t.test(
  'quantized average pools (QDQ) in integer arithmetic: within one quantum on host and microcontrollers',
  async (t) => {
    const [qa, qar] = ['!quant.uniform<i8:f32, 0.05:-3>', '!quant.uniform<i8:f32, 0.04:2>'];
    const [qb, qbr] = ['!quant.uniform<u8:f32, 0.1:128>', '!quant.uniform<u8:f32, 0.07:120>'];
    const [qd, qdr] = ['!quant.uniform<i16:f32, 0.001:3>', '!quant.uniform<i16:f32, 0.0012>'];
    const x = (dims: string, elem: string): string => `tensor<${dims}x${elem}>`;
    const ints = (v: Tensor): number[] => Array.from({ length: size(v) }, (_, i) => Number(getElem(v, i)));
    const pool = (
      name: string,
      storage: string,
      q: string,
      r: string,
      window: string,
      out: string,
      divisor: string,
    ) => [
      `  %${name}q = stablehlo.bitcast_convert %${name} : (${x('1x8x8x4', storage)}) -> ${x('1x8x8x4', q)}`,
      `  %${name}f = stablehlo.uniform_dequantize %${name}q : (${x('1x8x8x4', q)}) -> ${x('1x8x8x4', 'f32')}`,
      `  %${name}s = "stablehlo.reduce_window"(%${name}f, %zero) ({`,
      '  ^bb0(%l: tensor<f32>, %r: tensor<f32>):',
      '    %sum = stablehlo.add %l, %r : tensor<f32>',
      '    stablehlo.return %sum : tensor<f32>',
      `  }) {${window}} : (${x('1x8x8x4', 'f32')}, tensor<f32>) -> ${x(out, 'f32')}`,
      `  %${name}c = stablehlo.constant dense<${divisor}> : ${x(out, 'f32')}`,
      `  %${name}m = stablehlo.divide %${name}s, %${name}c : ${x(out, 'f32')}`,
      `  %${name}o = stablehlo.uniform_quantize %${name}m : (${x(out, 'f32')}) -> ${x(out, r)}`,
      `  %${name}i = stablehlo.bitcast_convert %${name}o : (${x(out, r)}) -> ${x(out, storage)}`,
    ];
    const stride2 = 'window_dimensions = array<i64: 1, 2, 2, 1>, window_strides = array<i64: 1, 2, 2, 1>';
    const padded =
      'window_dimensions = array<i64: 1, 3, 3, 1>, padding = dense<[[0, 0], [1, 1], [1, 1], [0, 0]]> : tensor<4x2xi64>';
    const src = [
      `func.func @main(%a: ${x('1x8x8x4', 'i8')}, %b: ${x('1x8x8x4', 'ui8')}, %c: ${x('1x8x8x4', 'i8')}, %d: ${x('1x8x8x4', 'i16')}) -> (${x('1x4x4x4', 'i8')}, ${x('1x8x8x4', 'ui8')}, ${x('1x4', 'i8')}, ${x('1x4x4x4', 'i16')}) {`,
      '  %zero = stablehlo.constant dense<0.0> : tensor<f32>',
      ...pool('a', 'i8', qa, qar, stride2, '1x4x4x4', '4.0'),
      ...pool('b', 'ui8', qb, qbr, padded, '1x8x8x4', '9.0'),
      `  %cq = stablehlo.bitcast_convert %c : (${x('1x8x8x4', 'i8')}) -> ${x('1x8x8x4', qa)}`,
      `  %cf = stablehlo.uniform_dequantize %cq : (${x('1x8x8x4', qa)}) -> ${x('1x8x8x4', 'f32')}`,
      `  %cs = stablehlo.reduce(%cf init: %zero) applies stablehlo.add across dimensions = [1, 2] : (${x('1x8x8x4', 'f32')}, tensor<f32>) -> ${x('1x4', 'f32')}`,
      `  %cc = stablehlo.constant dense<0.015625> : ${x('1x4', 'f32')}`,
      `  %cm = stablehlo.multiply %cc, %cs : ${x('1x4', 'f32')}`,
      `  %co = stablehlo.uniform_quantize %cm : (${x('1x4', 'f32')}) -> ${x('1x4', qar)}`,
      `  %ci = stablehlo.bitcast_convert %co : (${x('1x4', qar)}) -> ${x('1x4', 'i8')}`,
      ...pool('d', 'i16', qd, qdr, stride2, '1x4x4x4', '4.0'),
      `  return %ai, %bi, %ci, %di : ${x('1x4x4x4', 'i8')}, ${x('1x8x8x4', 'ui8')}, ${x('1x4', 'i8')}, ${x('1x4x4x4', 'i16')}`,
      '}',
    ].join('\n');
    const m = importModule(new SourceFile('qavg.mlir', src));
    const f = m.funcs.get('main')!;
    const spread = (lo: number, mult: number, mod: number): string =>
      Array.from({ length: 256 }, (_, i) => lo + ((i * mult) % mod)).join(',');
    const args = [
      parseInput(`1x8x8x4xi8=${spread(-128, 97, 256)}`, f, 0),
      parseInput(`1x8x8x4xui8=${spread(0, 89, 256)}`, f, 1),
      parseInput(`1x8x8x4xi8=${spread(-128, 61, 256)}`, f, 2),
      parseInput(`1x8x8x4xi16=${spread(-32768, 12345, 65536)}`, f, 3),
    ] as Tensor[];
    const want = run(m, args);
    const c = compile(m, { entry: 'main', prefix: 'model', sourceName: 'qavg.mlir', cc: 'gcc' }).files.get('model.c');
    t.notMatch(c as string, /\bfloat\b/, 'no float anywhere: every pool on the stored integers');
    const host = (await runCompiled(m, 'main', args, { flags: SANITIZE_FLAGS })).outputs;
    withinOneQuantum(t, host, want, 'host');
    // a by the rule: round half up of the window's sum of (x - zx) times sx / (4 sr), plus zr.
    const a = ints(args[0]!);
    const multiplier = Math.fround(0.05) / (4 * Math.fround(0.04));
    const rule = Array.from({ length: 64 }, (_, o) => {
      const [oy, ox, ch] = [Math.floor(o / 16), Math.floor(o / 4) % 4, o % 4];
      let sum = 0;
      for (const [dy, dx] of [
        [0, 0],
        [0, 1],
        [1, 0],
        [1, 1],
      ])
        sum += a[((oy * 2 + dy!) * 8 + ox * 2 + dx!) * 4 + ch]! + 3;
      return Math.min(127, Math.max(-128, 2 + Math.floor(sum * multiplier + 0.5)));
    });
    t.same(ints(host[0]!), rule, 'a: round half up of the sum of (x - zx) times sx / (4 sr), plus zr');
    for (const target of ['cortex-m4', 'cortex-m0', 'cortex-m55'])
      withinOneQuantum(t, (await runCompiled(m, 'main', args, { target: lookupTarget(target) })).outputs, want, target);
  },
);

// Integer depthwise convolutions (kernel/lower-contract.ts depthwiseInts: the quantize phase's
// MobileNet-style blocks): pixels whose taps all lie inside the image sum each channel's taps in
// a register (taps unrolled), the others accumulate in the output tap by tap. Exact against the
// interpreter for strides, asymmetric and negative padding, rhs dilation, lhs dilation (always
// checked), window reversal and a batch of two, 15 channels (whole vectors or pairs and a tail),
// i32 values over a wide range (sums that wrap too) and i16 values (as the quantize phase gives
// DSP cores), on the host under ASan+UBSan, on Cortex-M4 (i16: channel pairs, SMLABB / SMLATT) and
// on Cortex-M55 (Helium: the channel loops in i32 vectors).
t.test('integer depthwise convolutions (each tap across all channels) match the interpreter exactly', async (t) => {
  for (const [elem, spread] of [
    ['i32', (i: number, mult: number) => ((i * mult) % 4001) * 536870 - 1073741824],
    ['i16', (i: number, mult: number) => ((i * mult) % 4001) * 16 - 32000],
  ] as const) {
    const [x, w] = [`tensor<2x9x11x15x${elem}>`, `tensor<3x2x1x15x${elem}>`];
    const conv = (name: string, window: string, out: string): string =>
      `  %${name} = stablehlo.convolution(%x, %w) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {${window}} {batch_group_count = 1 : i64, feature_group_count = 15 : i64} : (${x}, ${w}) -> tensor<${out}xi32>`;
    const outs = ['2x5x6x15', '2x9x9x15', '2x17x20x15', '2x7x10x15'];
    const src = [
      `func.func @main(%x: ${x}, %w: ${w}) -> (${outs.map((o) => `tensor<${o}xi32>`).join(', ')}) {`,
      conv('a', 'stride = [2, 2], pad = [[1, 1], [1, 0]]', outs[0]!),
      conv('b', 'stride = [1, 1], pad = [[2, 2], [0, -1]], rhs_dilate = [2, 1]', outs[1]!),
      conv('c', 'stride = [1, 1], pad = [[1, 1], [0, 0]], lhs_dilate = [2, 2]', outs[2]!),
      conv('d', 'stride = [1, 1], pad = [[0, 0], [0, 0]], reverse = [true, false]', outs[3]!),
      `  return %a, %b, %c, %d : ${outs.map((o) => `tensor<${o}xi32>`).join(', ')}`,
      '}',
    ].join('\n');
    const m = importModule(new SourceFile(`dw${elem}.mlir`, src));
    const f = m.funcs.get('main')!;
    const values = (n: number, mult: number): string => Array.from({ length: n }, (_, i) => spread(i, mult)).join(',');
    const args = [
      parseInput(`2x9x11x15x${elem}=${values(2970, 97)}`, f, 0),
      parseInput(`3x2x1x15x${elem}=${values(90, 31)}`, f, 1),
    ] as Tensor[];
    const want = run(m, args);
    const c = compile(m, { entry: 'main', prefix: 'model', sourceName: 'dw.mlir', cc: 'gcc' }).files.get('model.c');
    t.equal(String(c).match(/const rl_index_t ob = /g)?.length, 4, `${elem}: all four as depthwise loops`);
    for (const [label, o] of [
      ['host', { flags: SANITIZE_FLAGS }],
      ['cortex-m4', { target: lookupTarget('cortex-m4') }],
      ['cortex-m55', { target: lookupTarget('cortex-m55') }],
    ] as const) {
      const r = await runCompiled(m, 'main', args, o);
      want.forEach((w, i) =>
        t.same(r.outputs[i]!.data, w.data, `${elem}, ${label}: output ${i} equals the interpreter's`),
      );
      const code = r.emitted.files.get('model.c') as string;
      if (label === 'cortex-m55')
        t.match(
          code,
          new RegExp(`acc = rl_vn_add\\(acc, rl_vn_mul\\(rl_vn_load_s${elem.slice(1)}\\(in0 \\+ lo \\+ f`),
          `${elem}, cortex-m55: interior taps in Helium vectors of channels`,
        );
      if (label === 'cortex-m4')
        t.equal(
          /acc = rl_vp_mac\(acc, rl_vh_load_s16\(in0 \+ lo \+ f/.test(code),
          elem === 'i16',
          `${elem}, cortex-m4: interior taps in channel pairs ${elem === 'i16' ? '' : 'only '}for i16 operands`,
        );
    }
  }
});

// A requantization's clamp of i32 sums to a signed width's range is one SSAT on Arm cores that
// have it (rl.h rl_ssat_int32); other bounds, and cores without it (Cortex-M0), keep max/min.
// Exact against the interpreter for values across and far past each range.
t.test('an i32 clamped to a signed range is rl_ssat_int32 (SSAT on Cortex-M3/M4), exact', async (t) => {
  const clamp = (name: string, lo: number, hi: number): string[] => [
    `  %${name}_lo = stablehlo.constant dense<${lo}> : tensor<64xi32>`,
    `  %${name}_hi = stablehlo.constant dense<${hi}> : tensor<64xi32>`,
    `  %${name} = stablehlo.clamp %${name}_lo, %x, %${name}_hi : tensor<64xi32>`,
  ];
  const src = [
    'func.func @main(%x: tensor<64xi32>) -> (tensor<64xi32>, tensor<64xi32>, tensor<64xi32>) {',
    ...clamp('a', -128, 127),
    ...clamp('b', -32768, 32767),
    ...clamp('c', -128, 100),
    '  return %a, %b, %c : tensor<64xi32>, tensor<64xi32>, tensor<64xi32>',
    '}',
  ].join('\n');
  const m = importModule(new SourceFile('ssat.mlir', src));
  const f = m.funcs.get('main')!;
  const values = Array.from({ length: 64 }, (_, i) => Math.round((i - 32) ** 5 / 2) + (i % 3) - 1);
  const args = [parseInput(`64xi32=${values.join(',')}`, f, 0)] as Tensor[];
  const want = run(m, args);
  for (const target of ['host', 'cortex-m4', 'cortex-m3', 'cortex-m0']) {
    const r = await runCompiled(m, 'main', args, { target: lookupTarget(target) });
    want.forEach((w, i) => t.same(r.outputs[i]!.data, w.data, `${target}: output ${i} equals the interpreter's`));
    const code = r.emitted.files.get('model.c') as string;
    t.equal(code.match(/rl_ssat_int32\(/g)?.length, 2, `${target}: the two signed ranges as rl_ssat_int32`);
  }
});
