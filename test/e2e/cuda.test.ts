/**
 * The CUDA backend (--target cuda) beyond the models (their CUDA checks are in
 * test/helpers/models.ts checkCuda) and the conformance data (conformance-cuda.test.ts): complex
 * numbers, architecture names, the CLI and --dump-after. Without a GPU (CI has none) a build is
 * checked twice: nvcc compiles the .cu for sm_80 and sm_90 with warnings as errors, and the same
 * source, built by g++ against rl_cuda.h's host emulation, must reproduce the interpreter.
 */
import { execa } from 'execa';
import t from 'tap';
import { compile, PHASE_NAMES } from '../../src/pipeline.js';
import { runCompiledCuda, SANITIZE_FLAGS } from '../../src/toolchain/run.js';
import { expectMatch, reference } from '../helpers/reference.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, HAVE_SHARED, SHARED, scratchDir } from '../helpers/paths.js';
import { SourceFile } from '../../src/diag/source.js';
import { importModule } from '../../src/import/index.js';
import { HAVE_NVCC, NO_NVCC, nvccBuilds } from '../helpers/cuda.js';

// complex<f32> and complex<f64> through arithmetic with real operands, the complex.h functions
// rl.h's C++ section provides, parts, a contraction and a reduction.
const COMPLEX = `func.func @main(%a: tensor<4xcomplex<f32>>, %b: tensor<4xcomplex<f64>>, %m: tensor<3x4xcomplex<f32>>) -> (tensor<4xcomplex<f32>>, tensor<4xcomplex<f64>>, tensor<4xf32>, tensor<3xcomplex<f32>>, tensor<complex<f64>>) {
  %0 = stablehlo.multiply %a, %a : tensor<4xcomplex<f32>>
  %1 = stablehlo.exponential %0 : tensor<4xcomplex<f32>>
  %2 = stablehlo.tanh %1 : tensor<4xcomplex<f32>>
  %3 = stablehlo.sqrt %b : tensor<4xcomplex<f64>>
  %4 = stablehlo.divide %3, %b : tensor<4xcomplex<f64>>
  %5 = stablehlo.log_plus_one %4 : tensor<4xcomplex<f64>>
  %6 = stablehlo.abs %2 : (tensor<4xcomplex<f32>>) -> tensor<4xf32>
  %7 = stablehlo.real %a : (tensor<4xcomplex<f32>>) -> tensor<4xf32>
  %8 = stablehlo.atan2 %6, %7 : tensor<4xf32>
  %9 = stablehlo.dot_general %m, %a, contracting_dims = [1] x [0] : (tensor<3x4xcomplex<f32>>, tensor<4xcomplex<f32>>) -> tensor<3xcomplex<f32>>
  %z = stablehlo.constant dense<(0.0, 0.0)> : tensor<complex<f64>>
  %10 = stablehlo.reduce(%5 init: %z) applies stablehlo.add across dimensions = [0] : (tensor<4xcomplex<f64>>, tensor<complex<f64>>) -> tensor<complex<f64>>
  func.return %2, %5, %8, %9, %10 : tensor<4xcomplex<f32>>, tensor<4xcomplex<f64>>, tensor<4xf32>, tensor<3xcomplex<f32>>, tensor<complex<f64>>
}
`;

t.test(
  'complex numbers: the CUDA build matches the interpreter (emulated, ASan+UBSan) and nvcc builds it',
  async (t) => {
    const m = importModule(new SourceFile('complex.mlir', COMPLEX));
    const { args, expected } = reference(m, 'main', 5);
    const run = await runCompiledCuda(m, 'main', args, { flags: SANITIZE_FLAGS });
    t.match(run.emitted.files.get('model.cu'), /rl_c64_t/, "complex<f32> is rl.h's C++ complex");
    expectMatch(t, run.outputs, expected, 'complex (CUDA, emulated)', true);
    if (HAVE_NVCC) await nvccBuilds(t, m, 'main', 'complex.mlir');
    else t.comment(NO_NVCC);
  },
);

t.test('--gpu-arch takes sm_XX names only', async (t) => {
  const m = importModule(new SourceFile('complex.mlir', COMPLEX));
  t.throws(
    () =>
      compile(m, {
        entry: 'main',
        prefix: 'model',
        sourceName: 'x',
        cc: 'gcc',
        backend: 'cuda',
        gpuArchs: ['compute_80'],
      }),
    /--gpu-arch: 'compute_80' is not an sm_XX architecture/,
  );
});

t.test(
  'the CLI: --target cuda writes the CUDA sources (and with nvcc the library), run --backend cuda diffs against the interpreter',
  { skip: HAVE_SHARED ? false : 'no ../shared/models' },
  async (t) => {
    const out = scratchDir('xla-aot-cli-cuda-');
    const model = join(SHARED, 'models', 'iree_e2e_fullyconnected.mlir');
    const emit = HAVE_NVCC ? 'lib' : 'c';
    const c = await execa(
      'node',
      [CLI, model, '--target', 'cuda', '--gpu-arch', 'sm_90', '-o', out, `--emit=${emit}`],
      { reject: false, all: true },
    );
    t.equal(c.exitCode, 0, c.all);
    for (const f of [
      'model.h',
      'model.cu',
      'rl.h',
      'rl_cuda.h',
      'Makefile',
      ...(HAVE_NVCC ? ['model.so', 'libmodel.a'] : []),
    ])
      t.ok(existsSync(join(out, f)), `wrote ${f}`);
    t.match(readFileSync(join(out, 'Makefile'), 'utf8'), /code=sm_90/, 'built for the --gpu-arch given');
    const r = await execa('node', [CLI, 'run', model, '--backend', 'cuda', '--random-seed', '3'], {
      reject: false,
      all: true,
    });
    t.equal(r.exitCode, 0, r.all);
    t.match(r.stdout, /result\[0\] vs interpreter: match/);
  },
);

t.test('--dump-after works for every phase of a CUDA build', async (t) => {
  const src =
    'func.func @main(%a: tensor<64x32xf32>) -> tensor<64xf32> {\n  %e = stablehlo.exponential %a : tensor<64x32xf32>\n  %z = stablehlo.constant dense<0.0> : tensor<f32>\n  %s = stablehlo.reduce(%e init: %z) applies stablehlo.add across dimensions = [1] : (tensor<64x32xf32>, tensor<f32>) -> tensor<64xf32>\n  func.return %s : tensor<64xf32>\n}\n';
  const dumps = new Map<string, string>();
  const m = importModule(new SourceFile('sum_exp.mlir', src));
  compile(m, {
    entry: 'main',
    prefix: 'model',
    sourceName: 'sum_exp.mlir',
    cc: 'gcc',
    backend: 'cuda',
    dumpAfter: PHASE_NAMES,
    dump: (p, text) => dumps.set(p, text),
  });
  t.same(
    [...dumps.keys()],
    PHASE_NAMES.filter((p) => p !== 'import' && p !== 'verify'),
    'every phase after verify printed',
  );
  t.match(dumps.get('lower'), /kernel k\d+_fused_reduce\(in in0: f32\[2048\], in in1: f32\[1\], out out0: f32\[64\]\)/);
  t.match(dumps.get('emit'), /__global__ void k\d+_fused_reduce\(const float\* __restrict__ in0/);
  t.match(
    dumps.get('emit'),
    /for \(int64_t t = \(int64_t\)blockIdx\.x \* blockDim\.x \+ threadIdx\.x; t < 64;/,
    'the kept dimension is spread over the threads',
  );
});
