/**
 * The CUDA backend (--target cuda). Without a GPU (CI has none) every build is checked twice:
 * nvcc compiles the generated .cu for sm_80 and sm_90 with warnings as errors (ptxas errors fail
 * too), and the same source, built by g++ against rl_cuda.h's host emulation (every block and
 * thread in turn, under ASan+UBSan), must reproduce the reference interpreter. On a machine with
 * a GPU the models also run on it.
 */
import { execa } from 'execa';
import t, { type Test } from 'tap';
import { writeFiles } from '../../src/toolchain/build.js';
import { compile, PHASE_NAMES } from '../../src/pipeline.js';
import { runCompiledCuda, SANITIZE_FLAGS } from '../../src/toolchain/run.js';
import { loadModel, MODEL_ENTRIES } from '../helpers/models.js';
import { expectMatch, reference } from '../helpers/reference.js';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, HAVE_SHARED, SHARED, scratchDir } from '../helpers/paths.js';
import { SourceFile } from '../../src/diag/source.js';
import { renderDiagnostic, type CompileError } from '../../src/diag/diagnostics.js';
import { importModule } from '../../src/import/index.js';
import type { Module } from '../../src/ir/core.js';

const NVCC = '/usr/local/cuda/bin/nvcc';
const haveNvcc = (await execa(NVCC, ['--version'], { reject: false })).exitCode === 0;
const haveGpu = (await execa('nvidia-smi', ['-L'], { reject: false })).exitCode === 0;
const SMALL = Object.keys(MODEL_ENTRIES).filter((n) => MODEL_ENTRIES[n]!.sanitize);

/** nvcc -c of the emitted .cu for sm_80 and sm_90 (warnings are errors). */
async function nvccBuilds(t: Test, m: Module, entry: string, label: string): Promise<void> {
  const dir = scratchDir('xla-aot-nvcc-');
  const r = compile(m, {
    entry,
    prefix: 'model',
    sourceName: label,
    cc: 'gcc',
    backend: 'cuda',
    gpuArchs: ['sm_80', 'sm_90'],
  });
  writeFiles(dir, r);
  const b = await execa('make', ['-C', dir, `NVCC=${NVCC}`, 'model.o'], { reject: false, all: true });
  t.equal(b.exitCode, 0, `${label}: nvcc builds model.cu for sm_80 and sm_90${b.exitCode ? `\n${b.all}` : ''}`);
}

t.test(
  'models: the CUDA build compiles with nvcc and, emulated on the CPU under ASan+UBSan, matches the interpreter',
  { skip: HAVE_SHARED ? false : 'no ../shared/models' },
  async (t) => {
    for (const name of SMALL) {
      const { entry, documented } = MODEL_ENTRIES[name]!;
      const m = loadModel(name);
      const { args, expected } = reference(m, entry, 11, documented);
      const run = await runCompiledCuda(m, entry, args, { flags: SANITIZE_FLAGS });
      expectMatch(t, run.outputs, expected, `${name} (CUDA, emulated)`, true);
      if (haveNvcc) await nvccBuilds(t, m, entry, name);
      if (haveGpu)
        expectMatch(
          t,
          (await runCompiledCuda(m, entry, args, { device: true })).outputs,
          expected,
          `${name} (CUDA, on the GPU)`,
          true,
        );
    }
    if (!haveNvcc) t.comment('skipped the nvcc builds: no nvcc at /usr/local/cuda/bin');
    if (!haveGpu) t.comment('not run on a GPU: this machine has none (nvidia-smi -L failed)');
  },
);

t.test('what the CUDA backend cannot do yet is a located refusal, not bad code', async (t) => {
  const src =
    'func.func @main(%a: tensor<4xcomplex<f32>>) -> tensor<4xcomplex<f32>> {\n  %0 = stablehlo.add %a, %a : tensor<4xcomplex<f32>>\n  func.return %0 : tensor<4xcomplex<f32>>\n}\n';
  const m = importModule(new SourceFile('complex.mlir', src));
  try {
    compile(m, { entry: 'main', prefix: 'model', sourceName: 'complex.mlir', cc: 'gcc', backend: 'cuda' });
    t.fail('complex types compiled for CUDA');
  } catch (e) {
    const d = (e as CompileError).diagnostic;
    t.match(d ? renderDiagnostic(d) : String(e), /^complex\.mlir:2:\d+: error E0301: .*complex<f32>.*CUDA backend/);
  }
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
    const emit = haveNvcc ? 'lib' : 'c';
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
      ...(haveNvcc ? ['model.so', 'libmodel.a'] : []),
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
