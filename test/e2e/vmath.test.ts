/**
 * The vector transcendental functions of runtime-lite/include/rl_simd.h: their maximum error in
 * ULP, measured on every instruction set a test can run (AVX-512 and AVX2 natively, NEON on
 * aarch64 and armv7-a under qemu-user) against double-precision libm over a sweep of all f32 bit
 * patterns (test/c/vmath_ulp.c); and the same functions in generated vector loops, Helium
 * included (Cortex-M55 under QEMU), against the interpreter's double-precision values.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import tmp from 'tmp';
import { SourceFile } from '../../src/diag/source.js';
import { CFLAGS } from '../../src/emit-c/emit.js';
import { simdMacro } from '../../src/emit-c/gemm.js';
import { runCompiled } from '../../src/toolchain/run.js';
import { importModule } from '../../src/import/index.js';
import { Interpreter } from '../../src/interpret/eval.js';
import type { Tensor } from '../../src/ir/tensor.js';
import type { TensorType } from '../../src/ir/types.js';
import { parseInput } from '../../src/interpret/inputs.js';
import { erf } from '../../src/ops/special.js';
import { cannotRunHere, compilerOf, lookupTarget } from '../../src/target/targets.js';
import { ROOT } from '../helpers/paths.js';

/** The bounds rl_simd.h states, in ULP of the f32 result. */
const BOUNDS: Readonly<Record<string, number>> = { exp: 1, logistic: 2.5, tanh: 1.5, erf: 1.5 };

t.test(
  'rl_simd.h exp/logistic/tanh/erf stay within their stated ULP bounds on every f32 input swept; vector max/min match the scalar ones',
  async (t) => {
    for (const name of ['host', 'x86-64-v3', 'aarch64', 'armv7a']) {
      const target = lookupTarget(name);
      const macro = simdMacro(target);
      if (!macro) {
        t.fail(
          `${name}: no SIMD instruction set detected, so its vector math cannot be measured here (counted as not passing)`,
        );
        continue;
      }
      const why = cannotRunHere(target);
      if (why) {
        t.pass(`${name}: not run`, { skip: why });
        continue;
      }
      const dir = tmp.dirSync({ prefix: 'xla-aot-vmath-', unsafeCleanup: true }).name;
      const exe = join(dir, 'vmath_ulp');
      const args = [
        ...CFLAGS.split(' '),
        ...target.cflags,
        ...target.exeFlags,
        `-D${macro}`,
        `-I${join(ROOT, 'runtime-lite', 'include')}`,
        join(ROOT, 'test', 'c', 'vmath_ulp.c'),
        '-o',
        exe,
        '-lm',
      ];
      await execa(compilerOf(target, undefined), args);
      // Every 257th bit pattern natively (16.7 M inputs per function), every 4099th under emulation.
      const emulated = target.runner.kind === 'qemu-user';
      const [cmd, ...run] = target.runner.kind === 'qemu-user' ? [target.runner.command, exe] : [exe];
      const r = await execa(cmd!, [
        ...run,
        emulated ? '4099' : '257',
        ...(target.simdFlushesSubnormals ? ['ftz'] : []),
      ]);
      const lines = r.stdout
        .trim()
        .split('\n')
        .map(
          (l) =>
            JSON.parse(l) as {
              function?: string;
              max_ulp: number;
              at: number;
              samples: number;
              check?: string;
              mismatches: number;
              pairs: number;
            },
        );
      const results = lines.filter((x): x is (typeof lines)[number] & { function: string } => x.function !== undefined);
      t.same(
        results.map((x) => x.function),
        Object.keys(BOUNDS),
        `${name}: every function measured`,
      );
      const maxMin = lines.find((x) => x.check === 'max_min');
      t.ok(
        maxMin && maxMin.pairs > 100 && maxMin.mismatches === 0,
        `${name}: rl_vf_max/min give rl_maxf/rl_minf's bits on ${maxMin?.pairs} special pairs (${maxMin?.mismatches} mismatches)`,
      );
      for (const x of results) {
        t.ok(
          x.samples > 1_000_000 && x.max_ulp <= BOUNDS[x.function]!,
          `${name} (${target.simd}) ${x.function}: max ${x.max_ulp} ULP at ${x.at} over ${x.samples} inputs (bound ${BOUNDS[x.function]})`,
        );
      }
    }
  },
);

/** ULP distance of `y` from the exact `ref`, in the spacing of f32 values at ref. */
function ulpError(y: number, ref: number): number {
  if (Number.isNaN(ref) || Number.isNaN(y)) return Number.isNaN(ref) && Number.isNaN(y) ? 0 : Infinity;
  if (!Number.isFinite(ref) || !Number.isFinite(y)) return Math.fround(ref) === y ? 0 : Infinity;
  const e = Math.max(Math.floor(Math.log2(Math.abs(ref) || 1e-45)) - 23, -149);
  return Math.abs(y - ref) / 2 ** e;
}

t.test(
  'vector loops of generated C use those functions: fused and single ops on AVX-512, AVX2, NEON and Helium stay within the bounds',
  async (t) => {
    // Inputs spread over each function's interesting range, 1-D so every element takes the vector loop
    // (the length is a multiple of every target's lanes).
    const n = 4096;
    const xs = Float32Array.from({ length: n }, (_, i) => Math.fround(-12 + (24 * i) / (n - 1)));
    const ty = `tensor<${n}xf32>`;
    const src = [
      `func.func @main(%x: ${ty}) -> (${ty}, ${ty}, ${ty}, ${ty}, ${ty}) {`,
      `  %e = stablehlo.exponential %x : ${ty}`,
      `  %l = stablehlo.logistic %x : ${ty}`,
      `  %t = stablehlo.tanh %x : ${ty}`,
      `  %f = chlo.erf %x : ${ty} -> ${ty}`,
      // A fused chain: gelu-like x * logistic(1.702 x) + tanh(x) * 0.5.
      '  %k = stablehlo.constant dense<1.702> : ' + ty,
      `  %kx = stablehlo.multiply %x, %k : ${ty}`,
      `  %s = stablehlo.logistic %kx : ${ty}`,
      `  %g = stablehlo.multiply %x, %s : ${ty}`,
      '  %h = stablehlo.constant dense<0.5> : ' + ty,
      `  %th = stablehlo.multiply %t, %h : ${ty}`,
      `  %y = stablehlo.add %g, %th : ${ty}`,
      `  func.return %e, %l, %t, %f, %y : ${ty}, ${ty}, ${ty}, ${ty}, ${ty}`,
      '}',
    ].join('\n');
    const m = importModule(new SourceFile('vmath.mlir', src));
    const input: Tensor = {
      kind: 'tensor',
      type: m.funcs.get('main')!.params[0]!.type as TensorType,
      data: Float64Array.from(xs),
    };
    // Exact (double) values for the ULP measure; the interpreter's (rounded after each op) for the chain.
    const exact = [Math.exp, (x: number) => 1 / (1 + Math.exp(-x)), Math.tanh, erf].map((f) =>
      Float64Array.from(xs, (x) => f(x)),
    );
    const chain = (new Interpreter(m).runFunc(m.funcs.get('main')!, [input]) as Tensor[])[4]!.data as Float64Array;
    for (const name of ['host', 'x86-64-v3', 'aarch64', 'cortex-m55']) {
      const target = lookupTarget(name);
      const why = cannotRunHere(target);
      if (why) {
        t.pass(`${name}: not run`, { skip: why });
        continue;
      }
      const run = await runCompiled(m, 'main', [input], { target });
      const c = run.emitted.files.get('model.c') as string;
      for (const fn of ['exp', 'logistic', 'tanh', 'erf'])
        t.match(c, new RegExp(`rl_vf_${fn}\\(`), `${name}: ${fn} runs in a vector loop`);
      ['exp', 'logistic', 'tanh', 'erf'].forEach((fn, i) => {
        const got = run.outputs[i]!.data as Float64Array;
        const want = exact[i]!;
        let worst = 0;
        for (let j = 0; j < n; j++) worst = Math.max(worst, ulpError(got[j]!, want[j]!));
        t.ok(worst <= BOUNDS[fn]!, `${name} ${fn}: max ${worst.toFixed(3)} ULP over ${n} inputs (bound ${BOUNDS[fn]})`);
      });
      // The chain rounds after every op; each transcendental contributes its bound, scaled by the
      // magnitudes it enters with, so it is compared with a relative bound (f32 elementwise: 1e-6).
      const got = run.outputs[4]!.data as Float64Array;
      const want = chain;
      let worst = 0;
      for (let j = 0; j < n; j++)
        worst = Math.max(worst, Math.abs(got[j]! - want[j]!) / Math.max(Math.abs(want[j]!), 1e-3));
      t.ok(worst < 1e-6, `${name} fused chain: max relative error ${worst.toExponential(2)}`);
    }
  },
);

// StableHLO maximum/minimum in Helium vectors (rl_simd.h: VMAXNM/VMINNM and a predicated NaN
// test in asm; max(x, +0) as a compare and select) over every pair of special values (signed zeros, NaN, infinities, the least
// subnormals, equal values), on Cortex-M55 under QEMU: bit for bit the interpreter's, NaN for NaN,
// with subnormal operands taken as zeros of their sign (Helium's floating point runs with the
// standard FPSCR, flush to zero: the target says so). (test/c/vmath_ulp.c checks the other
// instruction sets.)
t.test('maximum and minimum in Helium vectors give the interpreter bits on special pairs', async (t) => {
  const special = ['0', '-0', '1', '-1', '1e-45', '-1e-45', 'inf', '-inf', 'nan', '3.5', '3.5', '-2'];
  const n = special.length * special.length;
  const src = [
    `func.func @main(%a: tensor<${n}xf32>, %b: tensor<${n}xf32>) -> (tensor<${n}xf32>, tensor<${n}xf32>, tensor<${n}xf32>) {`,
    `  %x = stablehlo.maximum %a, %b : tensor<${n}xf32>`,
    `  %y = stablehlo.minimum %a, %b : tensor<${n}xf32>`,
    `  %zero = stablehlo.constant dense<0.0> : tensor<${n}xf32>`,
    `  %r = stablehlo.maximum %a, %zero : tensor<${n}xf32>`,
    `  return %x, %y, %r : tensor<${n}xf32>, tensor<${n}xf32>, tensor<${n}xf32>`,
    '}',
  ].join('\n');
  const m = importModule(new SourceFile('maxmin.mlir', src));
  const f = m.funcs.get('main')!;
  const inputs = (values: readonly string[]): Tensor[] =>
    [
      parseInput(`${n}xf32=${values.flatMap((x) => values.map(() => x)).join(',')}`, f, 0),
      parseInput(`${n}xf32=${values.flatMap(() => values).join(',')}`, f, 1),
    ] as Tensor[];
  t.ok(lookupTarget('cortex-m55').simdFlushesSubnormals, 'cortex-m55 declares that its vectors flush subnormals');
  const args = inputs(special);
  const flushed = special.map((x) => (x === '1e-45' ? '0' : x === '-1e-45' ? '-0' : x));
  const want = new Interpreter(m).runFunc(f, inputs(flushed)) as Tensor[];
  const run = await runCompiled(m, 'main', args, { target: lookupTarget('cortex-m55') });
  t.match(run.emitted.files.get('model.c') as string, /rl_vf_max\(/, 'maximum runs in Helium vectors');
  t.match(run.emitted.files.get('model.c') as string, /rl_vf_relu\(/, 'max(x, +0) as a ReLU (compare and select)');
  const f32bits = (x: number): number => new Uint32Array(Float32Array.of(x).buffer)[0]!;
  ['maximum', 'minimum', 'maximum with +0'].forEach((op, o) => {
    const got = run.outputs[o]!.data as ArrayLike<number>;
    const ref = want[o]!.data as ArrayLike<number>;
    const bad = Array.from({ length: n }, (_, i) => i).filter((i) =>
      Number.isNaN(ref[i]!) ? !Number.isNaN(got[i]!) : f32bits(got[i]!) !== f32bits(ref[i]!),
    );
    t.same(bad, [], `${op}: all ${n} pairs bit for bit (zeros' signs included), NaN for NaN`);
  });
});
