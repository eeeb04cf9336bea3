/**
 * The two C tools of the GPU runs (test/gpu/bundle.ts), which run where node does not:
 * gen-inputs.c must draw exactly the bytes inputs.ts randomInputs draws (every element type it
 * takes, inputs with a scale and with an integer bound), and bench_compare.c must measure the
 * difference of two outputs (zero for equal ones, the 2-norm ratio otherwise, non-finite elements
 * counted) in each float type it reads; and the arch a GPU machine's builds target, and
 * bench-gpu's report from a bundle's results.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { BENCH_ITEMS, COMPARE, outputCheck, parseGpu, reportPacked } from '../../src/bench/gpu.js';
import { archForComputeCap } from '../../src/toolchain/run.js';
import { SourceFile } from '../../src/diag/source.js';
import { toStorageBytes } from '../../src/emit-common/ctypes.js';
import { importModule } from '../../src/import/index.js';
import { randomInputRecipes, randomInputs } from '../../src/interpret/inputs.js';
import type { Tensor } from '../../src/ir/tensor.js';
import { storageElem } from '../../src/ir/types.js';
import { ROOT, scratchDir } from '../helpers/paths.js';

const dir = scratchDir('xla-aot-gpu-tools-');
const build = async (source: string, exe: string): Promise<string> => {
  const out = join(dir, exe);
  await execa('cc', ['-O2', '-std=c99', '-Wall', '-Wextra', '-Werror', source, '-o', out, '-lm']);
  return out;
};

// %a, %b: a contraction's operands (scaled ranges); %i: an index (integer bound 5); the rest plain.
const INPUTS = `func.func @main(%a: tensor<6x40xf32>, %b: tensor<40x3xf32>, %t: tensor<5x4xf64>, %i: tensor<i32>, %u: tensor<17xui8>, %w: tensor<9xi64>, %p: tensor<11xi1>, %s: tensor<7xi16>) -> (tensor<6x3xf32>, tensor<1x4xf64>) {
  %d = stablehlo.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<6x40xf32>, tensor<40x3xf32>) -> tensor<6x3xf32>
  %z = stablehlo.constant dense<0> : tensor<i32>
  %r = stablehlo.dynamic_slice %t, %i, %z, sizes = [1, 4] : (tensor<5x4xf64>, tensor<i32>, tensor<i32>) -> tensor<1x4xf64>
  func.return %d, %r : tensor<6x3xf32>, tensor<1x4xf64>
}
`;

t.test('gen-inputs.c draws the bytes randomInputs draws', async (t) => {
  const gen = await build(join(ROOT, 'test', 'gpu', 'gen-inputs.c'), 'gen-inputs');
  const m = importModule(new SourceFile('inputs.mlir', INPUTS));
  const f = m.funcs.get('main')!;
  const tensors = randomInputs(f, 11, m) as Tensor[];
  const recipes = randomInputRecipes(f, 11, m);
  t.ok(
    recipes.some((r) => r?.range.scale !== undefined && r.range.scale !== 1),
    'a scaled input is among them',
  );
  t.ok(
    recipes.some((r) => r?.range.intBound !== undefined),
    'a bounded integer input is among them',
  );
  for (const [i, x] of tensors.entries()) {
    const r = recipes[i]!;
    const e = storageElem(x.type.elem);
    const kind =
      e.kind === 'bool'
        ? 'bool'
        : e.kind === 'float'
          ? e.name
          : `${e.kind === 'int' && e.signed ? 'i' : 'u'}${e.kind === 'int' ? e.bits : 0}`;
    const bytes = toStorageBytes(x);
    const file = join(dir, `in${i}.bin`);
    const count = bytes.length / (kind === 'bool' ? 1 : Number(kind.slice(1)) / 8);
    await execa(gen, [
      file,
      kind,
      String(count),
      String(r.seed),
      r.range.scale?.toPrecision(17) ?? '1',
      String(r.range.intBound ?? 8),
    ]);
    t.ok(readFileSync(file).equals(bytes), `input ${i} (${kind}, ${count} elements): the same bytes`);
  }
});

t.test('bench_compare.c measures the difference of two outputs', async (t) => {
  const compare = await build(COMPARE, 'compare');
  const run = async (kind: string, ours: number[], theirs: number[]): Promise<ReturnType<typeof outputCheck>> => {
    const bytes = (xs: number[]): Buffer =>
      kind === 'f32' ? Buffer.from(new Float32Array(xs).buffer) : Buffer.from(new Uint16Array(xs).buffer);
    writeFileSync(join(dir, 'ours.bin'), bytes(ours));
    writeFileSync(join(dir, 'theirs.bin'), bytes(theirs));
    const r = await execa(compare, [kind, join(dir, 'ours.bin'), join(dir, 'theirs.bin')]);
    return outputCheck(r.stdout);
  };
  t.same(await run('f32', [1, 2, 3], [1, 2, 3]), { rel: 0, n: 3, nonfinite: 0 }, 'equal: 0');
  t.same(await run('f32', [3, 0], [0, 4]), { rel: 1.25, n: 2, nonfinite: 0 }, 'f32: |(3,-4)| / |(0,4)|');
  // f16 0x3C00 = 1, 0x4000 = 2, 0x7E00 NaN, 0x0001 = 2^-24; bf16 0x3F80 = 1, 0x4000 = 2.
  t.same(await run('f16', [0x3c00, 0x7e00], [0x4000, 0x3c00]), { rel: 0.4472, n: 2, nonfinite: 1 }, 'f16 NaN counted');
  t.same(await run('f16', [0x0001], [0x0002]), { rel: 0.5, n: 1, nonfinite: 0 }, 'f16 subnormals');
  t.same(await run('bf16', [0x3f80], [0x4000]), { rel: 0.5, n: 1, nonfinite: 0 }, 'bf16');
});

t.test("a GPU's nvidia-smi line names the arch its builds target (Hopper: sm_90a, for wgmma)", (t) => {
  t.same(parseGpu('NVIDIA H100 80GB HBM3, 9.0\n'), { name: 'NVIDIA H100 80GB HBM3', arch: 'sm_90a' });
  t.same(parseGpu('NVIDIA A100-SXM4-80GB, 8.0'), { name: 'NVIDIA A100-SXM4-80GB', arch: 'sm_80' });
  t.equal(archForComputeCap('8.9'), 'sm_89');
  t.equal(archForComputeCap('10.0'), 'sm_100', 'wgmma is Hopper only: no "a" elsewhere');
  t.equal(parseGpu('garbage'), undefined);
  t.end();
});

t.test("bench-gpu's report from a bundle's results: every item carried must have left a median", (t) => {
  const results = scratchDir('xla-aot-bench-report-');
  writeFileSync(join(results, 'gpu.txt'), 'NVIDIA H100 80GB HBM3, 9.0\n');
  for (const item of BENCH_ITEMS) {
    mkdirSync(join(results, item.name), { recursive: true });
    if (item.name !== 'lstm_s64') writeFileSync(join(results, item.name, 'bench.log'), '{"ms": 0.5}\n');
  }
  t.equal(reportPacked(results, ['lstm_s64']), 0, 'the one without a median was not carried');
  t.equal(reportPacked(results), 1, 'carried, it fails the report');
  t.ok(
    BENCH_ITEMS.some((i) => i.name === 'bert_layer_s128' && !i.gemm && i.bytes === undefined),
    'models timed',
  );
  t.end();
});
