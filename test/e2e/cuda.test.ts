/**
 * The CUDA backend (--target cuda) beyond the models (their CUDA checks are in
 * test/helpers/models.ts checkCuda) and the conformance data (conformance-cuda.test.ts): complex
 * numbers, architecture names, the CLI and --dump-after. Without a GPU (CI has none) a build is
 * checked twice: nvcc compiles the .cu for sm_80 and sm_90 with warnings as errors, and the same
 * source, built by g++ against rl_cuda.h's host emulation, must reproduce the interpreter.
 */
import { execa } from 'execa';
import t, { type Test } from 'tap';
import { compile, PHASE_NAMES } from '../../src/pipeline.js';
import { CUDA_EMULATION_FLAGS, runCompiledCuda, SANITIZE_FLAGS } from '../../src/toolchain/run.js';
import { RUNTIME_DIR } from '../../src/emit-common/templates.js';
import { expectMatch, reference } from '../helpers/reference.js';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CLI, HAVE_SHARED, SHARED, scratchDir } from '../helpers/paths.js';
import { SourceFile } from '../../src/diag/source.js';
import { importModule } from '../../src/import/index.js';
import { HAVE_NVCC, NO_NVCC, nvccBuilds } from '../helpers/cuda.js';
import { gemmText, writeBench } from '../../src/bench/gpu-harness.js';

/** Runs an emulated build's model_run (run: runCompiledCuda's, its in*.bin and out*.bin in
 * run.dir) once more with every input 4 bytes past a 16-byte boundary: the tiled GEMMs then stage
 * their tiles one element at a time instead of by cp.async (their rl_vec check), and the outputs
 * must equal the aligned run's bit for bit (the same sums in the same order). */
async function misalignedInputsMatch(
  t: Test,
  run: { dir: string; emitted: { inputs: readonly unknown[]; outputs: readonly unknown[] } },
  label: string,
): Promise<void> {
  const [ni, no] = [run.emitted.inputs.length, run.emitted.outputs.length];
  const driver = `#include <stdio.h>
#include <stdlib.h>
#include "model.h"
static long size_of(const char* path) {
  FILE* f = fopen(path, "rb");
  if (!f) exit(2);
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fclose(f);
  return n;
}
static unsigned char* load(const char* path, long bytes, long offset) {
  unsigned char* base = (unsigned char*)aligned_alloc(64, (size_t)(bytes + offset + 63) / 64 * 64);
  FILE* f = fopen(path, "rb");
  if (!base || !f || fread(base + offset, 1, (size_t)bytes, f) != (size_t)bytes) exit(2);
  fclose(f);
  return base;
}
int main(void) {
  void* arena = aligned_alloc(MODEL_ARENA_ALIGNMENT, (MODEL_ARENA_BYTES + MODEL_ARENA_ALIGNMENT - 1) / MODEL_ARENA_ALIGNMENT * MODEL_ARENA_ALIGNMENT);
  if (!arena || model_init(arena, 0) != RL_OK) return 3;
  unsigned char* in_bases[${ni}];
  const void* ins[${ni}];
  void* outs[${no}];
  unsigned char* want[${no}];
  long out_bytes[${no}];
  char path[32];
  for (int i = 0; i < ${ni}; ++i) {
    snprintf(path, sizeof path, "in%d.bin", i);
    in_bases[i] = load(path, size_of(path), 4);
    ins[i] = in_bases[i] + 4;
  }
  for (int i = 0; i < ${no}; ++i) {
    snprintf(path, sizeof path, "out%d.bin", i);
    out_bytes[i] = size_of(path);
    want[i] = load(path, out_bytes[i], 0);
    outs[i] = aligned_alloc(64, (size_t)(out_bytes[i] + 63) / 64 * 64);
  }
  if (model_run(ins, outs, arena, 0) != RL_OK) return 4;
  long differ = 0;
  for (int i = 0; i < ${no}; ++i)
    for (long j = 0; j < out_bytes[i]; ++j) differ += ((unsigned char*)outs[i])[j] != want[i][j];
  printf("%ld bytes differ\\n", differ);
  for (int i = 0; i < ${ni}; ++i) free(in_bases[i]);
  for (int i = 0; i < ${no}; ++i) free(want[i]), free(outs[i]);
  free(arena);
  return differ != 0;
}
`;
  writeFileSync(join(run.dir, 'misaligned.cu'), driver);
  const weights = join(run.dir, 'model_weights.S');
  const flags = [...CUDA_EMULATION_FLAGS, ...SANITIZE_FLAGS, '-I', run.dir, '-I', join(RUNTIME_DIR, 'include')];
  const build = await execa(
    'g++',
    [...flags, '-x', 'c++', 'model.cu', 'misaligned.cu', '-x', 'assembler-with-cpp', weights, '-o', 'misaligned'],
    { cwd: run.dir, reject: false, all: true },
  );
  t.equal(build.exitCode, 0, `${label}: the misaligned-input driver builds${build.exitCode ? `\n${build.all}` : ''}`);
  const r = await execa('./misaligned', [], { cwd: run.dir, reject: false, all: true });
  t.equal(r.exitCode, 0, `${label}: inputs 4 bytes off 16-byte alignment give the same bits (${r.all?.trim()})`);
}

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

// Reductions with enough elements per output run as block reductions (emit-cuda/block-reduce.ts):
// f32 sums (fused with an exponential), i32 sums (init 5: not the identity), f16 sums (each step rounded to f16),
// a boolean and over a whole tensor (no kept dimension), f32 minimum; 2500 elements per output
// (256 threads, 8 warps), 300 (64 threads), 77 and 64 (one warp: no shared memory), and 2500.
const REDUCTIONS = `func.func @main(%a: tensor<3x2500xf32>, %b: tensor<5x300xi32>, %c: tensor<2x77xf16>, %d: tensor<64xi1>) -> (tensor<3xf32>, tensor<5xi32>, tensor<2xf16>, tensor<i1>, tensor<3xf32>) {
  %z = stablehlo.constant dense<0.0> : tensor<f32>
  %e = stablehlo.exponential %a : tensor<3x2500xf32>
  %0 = stablehlo.reduce(%e init: %z) applies stablehlo.add across dimensions = [1] : (tensor<3x2500xf32>, tensor<f32>) -> tensor<3xf32>
  %m = stablehlo.constant dense<5> : tensor<i32>
  %1 = stablehlo.reduce(%b init: %m) applies stablehlo.add across dimensions = [1] : (tensor<5x300xi32>, tensor<i32>) -> tensor<5xi32>
  %h = stablehlo.constant dense<0.0> : tensor<f16>
  %2 = stablehlo.reduce(%c init: %h) applies stablehlo.add across dimensions = [1] : (tensor<2x77xf16>, tensor<f16>) -> tensor<2xf16>
  %t = stablehlo.constant dense<true> : tensor<i1>
  %3 = stablehlo.reduce(%d init: %t) applies stablehlo.and across dimensions = [0] : (tensor<64xi1>, tensor<i1>) -> tensor<i1>
  %inf = stablehlo.constant dense<0x7F800000> : tensor<f32>
  %4 = stablehlo.reduce(%a init: %inf) applies stablehlo.minimum across dimensions = [1] : (tensor<3x2500xf32>, tensor<f32>) -> tensor<3xf32>
  func.return %0, %1, %2, %3, %4 : tensor<3xf32>, tensor<5xi32>, tensor<2xf16>, tensor<i1>, tensor<3xf32>
}
`;

t.test('block reductions (warp shuffles, shared memory) match the interpreter, emulated as fibers', async (t) => {
  const m = importModule(new SourceFile('reductions.mlir', REDUCTIONS));
  const { args, expected } = reference(m, 'main', 7);
  const run = await runCompiledCuda(m, 'main', args, { flags: SANITIZE_FLAGS });
  const cu = String(run.emitted.files.get('model.cu'));
  const launches = [...cu.matchAll(/RL_CUDA_LAUNCH_SYNCED\(k\d+_\w+, \d+, (\d+), stream/g)].map((x) => x[1]);
  t.same(launches, ['256', '64', '32', '32', '256'], 'five block reductions, 8 to 10 elements per thread');
  t.match(cu, /rl_shfl_down\(acc\w*, rl_lane_offset\)/);
  t.match(cu, /__shared__ float rl_warp_partial\[8\];/);
  expectMatch(t, run.outputs, expected, 'reductions (CUDA, emulated under ASan+UBSan)', true);
  if (HAVE_NVCC) await nvccBuilds(t, m, 'main', 'reductions.mlir');
  else t.comment(NO_NVCC);
});

// Contractions big enough for the tiled GEMM (emit-cuda/gemm.ts): f32 with a fused bias and ReLU
// (70 x 90 outputs: partial 64 x 64 tiles, K = 100 not a multiple of the k step) on FMAs, a
// batched f16 one contracting both operands' last dims (B read along K) and a bf16 one on tensor
// cores (mma.sync m16n8k16, emulated with the PTX ISA's fragment layouts).
const GEMMS = `func.func @main(%a: tensor<70x100xf32>, %b: tensor<100x90xf32>, %bias: tensor<90xf32>, %h: tensor<2x33x40xf16>, %g: tensor<2x50x40xf16>, %x: tensor<65x48xbf16>, %y: tensor<48x40xbf16>) -> (tensor<70x90xf32>, tensor<2x33x50xf16>, tensor<65x40xbf16>) {
  %0 = stablehlo.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<70x100xf32>, tensor<100x90xf32>) -> tensor<70x90xf32>
  %1 = stablehlo.broadcast_in_dim %bias, dims = [1] : (tensor<90xf32>) -> tensor<70x90xf32>
  %2 = stablehlo.add %0, %1 : tensor<70x90xf32>
  %z = stablehlo.constant dense<0.0> : tensor<70x90xf32>
  %3 = stablehlo.maximum %2, %z : tensor<70x90xf32>
  %4 = stablehlo.dot_general %h, %g, batching_dims = [0] x [0], contracting_dims = [2] x [2] : (tensor<2x33x40xf16>, tensor<2x50x40xf16>) -> tensor<2x33x50xf16>
  %5 = stablehlo.dot_general %x, %y, contracting_dims = [1] x [0] : (tensor<65x48xbf16>, tensor<48x40xbf16>) -> tensor<65x40xbf16>
  func.return %3, %4, %5 : tensor<70x90xf32>, tensor<2x33x50xf16>, tensor<65x40xbf16>
}
`;

t.test('tiled GEMMs (shared memory, fused epilogue) match the interpreter, emulated as fibers', async (t) => {
  const m = importModule(new SourceFile('gemms.mlir', GEMMS));
  const { args, expected } = reference(m, 'main', 3);
  const run = await runCompiledCuda(m, 'main', args, { flags: SANITIZE_FLAGS });
  const cu = String(run.emitted.files.get('model.cu'));
  t.equal(
    cu.match(
      /; tiled GEMM: 64 x 64 outputs per block, k steps of 8 through two shared-memory stages, 4 x 4 per thread/g,
    )?.length,
    1,
    'f32 on FMAs',
  );
  // k1's B runs along k (strided loads into shared memory), k2's rows are 16-byte multiples (cp.async).
  t.match(
    cu,
    /k1_dot_general: .*; tiled GEMM on tensor cores \(f16, f32 accumulation\): .* mma\.sync m16n8k16; [^*]*stages \*\//,
  );
  t.match(
    cu,
    /k2_dot_general: .*; tiled GEMM on tensor cores \(bf16, f32 accumulation\): .* mma\.sync m16n8k16; .*\(cp\.async/,
  );
  t.match(cu, /rl_mma_m16n8k16_bf16\(rl_acc\[i\]\[j\], a\[i\], b\[j\]\)/);
  t.match(
    cu,
    /k0_dot_general_fused: fuses dot_general \(2:8\), broadcast_in_dim \(3:8\), add \(4:8\), maximum \(6:8\)/,
  );
  expectMatch(t, run.outputs, expected, 'GEMMs (CUDA, emulated under ASan+UBSan)', true);
  await misalignedInputsMatch(t, run, 'mma.sync GEMMs');
  if (HAVE_NVCC) await nvccBuilds(t, m, 'main', 'gemms.mlir');
  else t.comment(NO_NVCC);
});

// The f32 tiled kernel (emit-cuda/gemm-fma.ts) with its big tile: 64 batches of 130 x 129 (256
// tiles of 128 x 128, each batch a full one and three partial ones), K = 20 (the last k step
// partial); A stored k-major (lanes load along m) and B n-major (lanes load along k).
const FMA_BIG = `func.func @main(%a: tensor<64x20x130xf32>, %b: tensor<64x129x20xf32>) -> tensor<64x130x129xf32> {
  %0 = stablehlo.dot_general %a, %b, batching_dims = [0] x [0], contracting_dims = [1] x [2] : (tensor<64x20x130xf32>, tensor<64x129x20xf32>) -> tensor<64x130x129xf32>
  func.return %0 : tensor<64x130x129xf32>
}
`;

t.test(
  'the f32 tiled GEMM with 128 x 128 tiles, operands in any layout, matches the interpreter (emulated)',
  async (t) => {
    const m = importModule(new SourceFile('fma.mlir', FMA_BIG));
    const { args, expected } = reference(m, 'main', 4);
    const run = await runCompiledCuda(m, 'main', args, { flags: SANITIZE_FLAGS });
    const cu = String(run.emitted.files.get('model.cu'));
    t.match(
      cu,
      /; tiled GEMM: 128 x 128 outputs per block, k steps of 8 through two shared-memory stages, 8 x 8 per thread/,
    );
    t.match(cu, /rl_a_at\[j\] \+ k \* 130\]/, 'A read along m');
    t.match(cu, /rl_b_at\[j\] \+ k\]/, 'B read along k');
    expectMatch(t, run.outputs, expected, 'f32 GEMM, 128 x 128 tiles (CUDA, emulated under ASan+UBSan)', true);
    if (HAVE_NVCC) await nvccBuilds(t, m, 'main', 'fma.mlir');
    else t.comment(NO_NVCC);
  },
);

// k sliced across blocks (emit-cuda/gemm.ts fmaKSlices): few output tiles and long k. A 3 x 3
// convolution at 7 x 7 x 60 -> 40 with a fused bias + ReLU (one tile, K = 540: 68 k steps, the
// last 4 wide, in 8 slices of 9 steps but the last of 5) and a batched product of 4 tiles with
// K = 300 (38 steps: 4 slices, the last of 8); the sum kernel applies the epilogue.
const SLICED = `func.func @main(%x: tensor<1x7x7x60xf32>, %w: tensor<3x3x60x40xf32>, %b: tensor<40xf32>, %p: tensor<2x50x300xf32>, %q: tensor<2x300x70xf32>) -> (tensor<1x7x7x40xf32>, tensor<2x50x70xf32>) {
  %0 = stablehlo.convolution(%x, %w) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {stride = [1, 1], pad = [[1, 1], [1, 1]]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64} : (tensor<1x7x7x60xf32>, tensor<3x3x60x40xf32>) -> tensor<1x7x7x40xf32>
  %1 = stablehlo.broadcast_in_dim %b, dims = [3] : (tensor<40xf32>) -> tensor<1x7x7x40xf32>
  %2 = stablehlo.add %0, %1 : tensor<1x7x7x40xf32>
  %z = stablehlo.constant dense<0.0> : tensor<1x7x7x40xf32>
  %3 = stablehlo.maximum %2, %z : tensor<1x7x7x40xf32>
  %4 = stablehlo.dot_general %p, %q, batching_dims = [0] x [0], contracting_dims = [2] x [1] : (tensor<2x50x300xf32>, tensor<2x300x70xf32>) -> tensor<2x50x70xf32>
  func.return %3, %4 : tensor<1x7x7x40xf32>, tensor<2x50x70xf32>
}
`;

t.test('f32 products of few tiles and long k: k sliced across blocks, then summed (emulated)', async (t) => {
  const m = importModule(new SourceFile('sliced.mlir', SLICED));
  const { args, expected } = reference(m, 'main', 6);
  const run = await runCompiledCuda(m, 'main', args, { flags: SANITIZE_FLAGS });
  const cu = String(run.emitted.files.get('model.cu'));
  t.match(cu, /k0_convolution_fused_slices: fuses convolution .*; k in 8 slices, a block per tile and slice/);
  t.match(cu, /k1_dot_general_slices: .*; k in 4 slices/);
  t.match(
    cu,
    /RL_CUDA_LAUNCH_SYNCED\(k0_convolution_fused_slices, 8, 256, [^;]*\); RL_CUDA_LAUNCH\(k0_convolution_fused, 8, 256,/,
    'the slices, then their sum',
  );
  t.match(cu, /rl_steps = rl_slice < 7 \? 9 : 5;/, 'the last slice shorter');
  expectMatch(t, run.outputs, expected, 'k-sliced products (CUDA, emulated under ASan+UBSan)', true);
  if (HAVE_NVCC) await nvccBuilds(t, m, 'main', 'sliced.mlir');
  else t.comment(NO_NVCC);
});

// Convolutions as implicit GEMMs (NHWC x HWIO, one feature group): the tiled kernels read the
// image under each kernel tap, the padding as zeros. f32 on FMAs: 3x3 at stride 2 with padding 1
// and a fused bias + ReLU; the same weights dilated by 2 along H with a negative padding along W;
// f16 (2x2, padding 1) and bf16 (3x3) on tensor cores.
const CONVS = `func.func @main(%x: tensor<2x15x13x5xf32>, %w: tensor<3x3x5x40xf32>, %b: tensor<40xf32>, %h: tensor<1x9x11x16xf16>, %v: tensor<2x2x16x48xf16>, %g: tensor<1x10x10x8xbf16>, %u: tensor<3x3x8x64xbf16>) -> (tensor<2x8x7x40xf32>, tensor<2x11x11x40xf32>, tensor<1x10x12x48xf16>, tensor<1x10x10x64xbf16>) {
  %0 = stablehlo.convolution(%x, %w) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {stride = [2, 2], pad = [[1, 1], [1, 1]]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64} : (tensor<2x15x13x5xf32>, tensor<3x3x5x40xf32>) -> tensor<2x8x7x40xf32>
  %1 = stablehlo.broadcast_in_dim %b, dims = [3] : (tensor<40xf32>) -> tensor<2x8x7x40xf32>
  %2 = stablehlo.add %0, %1 : tensor<2x8x7x40xf32>
  %z = stablehlo.constant dense<0.0> : tensor<2x8x7x40xf32>
  %3 = stablehlo.maximum %2, %z : tensor<2x8x7x40xf32>
  %4 = stablehlo.convolution(%x, %w) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {stride = [1, 1], pad = [[0, 0], [2, -2]], rhs_dilate = [2, 1]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64} : (tensor<2x15x13x5xf32>, tensor<3x3x5x40xf32>) -> tensor<2x11x11x40xf32>
  %5 = stablehlo.convolution(%h, %v) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {stride = [1, 1], pad = [[1, 1], [1, 1]]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64} : (tensor<1x9x11x16xf16>, tensor<2x2x16x48xf16>) -> tensor<1x10x12x48xf16>
  %6 = stablehlo.convolution(%g, %u) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {stride = [1, 1], pad = [[1, 1], [1, 1]]} {batch_group_count = 1 : i64, feature_group_count = 1 : i64} : (tensor<1x10x10x8xbf16>, tensor<3x3x8x64xbf16>) -> tensor<1x10x10x64xbf16>
  func.return %3, %4, %5, %6 : tensor<2x8x7x40xf32>, tensor<2x11x11x40xf32>, tensor<1x10x12x48xf16>, tensor<1x10x10x64xbf16>
}
`;

t.test(
  'convolutions as implicit GEMMs (FMAs, tensor cores) match the interpreter, emulated (ASan+UBSan)',
  async (t) => {
    const m = importModule(new SourceFile('convs.mlir', CONVS));
    const { args, expected } = reference(m, 'main', 5);
    const run = await runCompiledCuda(m, 'main', args, { flags: SANITIZE_FLAGS });
    const cu = String(run.emitted.files.get('model.cu'));
    t.match(
      cu,
      /k0_convolution_fused: fuses convolution \(2:8\), broadcast_in_dim \(3:8\), add \(4:8\), maximum \(6:8\); tiled GEMM: .* the image read as an implicit GEMM/,
    );
    t.match(cu, /k1_convolution: .*; tiled GEMM: .* the image read as an implicit GEMM/);
    t.match(cu, /k2_convolution: .*; tiled GEMM on tensor cores \(f16/);
    t.match(cu, /k3_convolution: .*; tiled GEMM on tensor cores \(bf16/);
    expectMatch(t, run.outputs, expected, 'convolutions (CUDA, emulated under ASan+UBSan)', true);
    if (HAVE_NVCC) await nvccBuilds(t, m, 'main', 'convs.mlir');
    else t.comment(NO_NVCC);
  },
);

// Row groups (emit-cuda/row-group.ts): a softmax times a weight row (4 kernels after fusion) and a
// layer normalization (reduce, center, reduce of squares, scale) each run as one kernel, a block
// per row; a sum read transposed (another row's value) keeps its kernels apart.
const ROWS = `func.func @main(%x: tensor<6x37x100xf32>, %g: tensor<100xf32>, %y: tensor<5x300xf32>, %q: tensor<4x4x50xf32>) -> (tensor<6x37x100xf32>, tensor<5x300xf32>, tensor<4x4x50xf32>) {
  %ninf = stablehlo.constant dense<0xFF800000> : tensor<f32>
  %zero = stablehlo.constant dense<0.0> : tensor<f32>
  %m = stablehlo.reduce(%x init: %ninf) applies stablehlo.maximum across dimensions = [2] : (tensor<6x37x100xf32>, tensor<f32>) -> tensor<6x37xf32>
  %mb = stablehlo.broadcast_in_dim %m, dims = [0, 1] : (tensor<6x37xf32>) -> tensor<6x37x100xf32>
  %d = stablehlo.subtract %x, %mb : tensor<6x37x100xf32>
  %e = stablehlo.exponential %d : tensor<6x37x100xf32>
  %s = stablehlo.reduce(%e init: %zero) applies stablehlo.add across dimensions = [2] : (tensor<6x37x100xf32>, tensor<f32>) -> tensor<6x37xf32>
  %sb = stablehlo.broadcast_in_dim %s, dims = [0, 1] : (tensor<6x37xf32>) -> tensor<6x37x100xf32>
  %p = stablehlo.divide %e, %sb : tensor<6x37x100xf32>
  %gb = stablehlo.broadcast_in_dim %g, dims = [2] : (tensor<100xf32>) -> tensor<6x37x100xf32>
  %o = stablehlo.multiply %p, %gb : tensor<6x37x100xf32>
  %n = stablehlo.constant dense<300.0> : tensor<5xf32>
  %ys = stablehlo.reduce(%y init: %zero) applies stablehlo.add across dimensions = [1] : (tensor<5x300xf32>, tensor<f32>) -> tensor<5xf32>
  %mean = stablehlo.divide %ys, %n : tensor<5xf32>
  %meanb = stablehlo.broadcast_in_dim %mean, dims = [0] : (tensor<5xf32>) -> tensor<5x300xf32>
  %c = stablehlo.subtract %y, %meanb : tensor<5x300xf32>
  %sq = stablehlo.multiply %c, %c : tensor<5x300xf32>
  %v = stablehlo.reduce(%sq init: %zero) applies stablehlo.add across dimensions = [1] : (tensor<5x300xf32>, tensor<f32>) -> tensor<5xf32>
  %var = stablehlo.divide %v, %n : tensor<5xf32>
  %eps = stablehlo.constant dense<1.0e-5> : tensor<5xf32>
  %ve = stablehlo.add %var, %eps : tensor<5xf32>
  %r = stablehlo.rsqrt %ve : tensor<5xf32>
  %rb = stablehlo.broadcast_in_dim %r, dims = [0] : (tensor<5xf32>) -> tensor<5x300xf32>
  %ln = stablehlo.multiply %c, %rb : tensor<5x300xf32>
  %qs = stablehlo.reduce(%q init: %zero) applies stablehlo.add across dimensions = [2] : (tensor<4x4x50xf32>, tensor<f32>) -> tensor<4x4xf32>
  %qt = stablehlo.transpose %qs, dims = [1, 0] : (tensor<4x4xf32>) -> tensor<4x4xf32>
  %qb = stablehlo.broadcast_in_dim %qt, dims = [0, 1] : (tensor<4x4xf32>) -> tensor<4x4x50xf32>
  %qd = stablehlo.divide %q, %qb : tensor<4x4x50xf32>
  func.return %o, %ln, %qd : tensor<6x37x100xf32>, tensor<5x300xf32>, tensor<4x4x50xf32>
}
`;

t.test('softmax and layernorm run as one kernel each (row groups), matching the interpreter (emulated)', async (t) => {
  const m = importModule(new SourceFile('rows.mlir', ROWS));
  const { args, expected } = reference(m, 'main', 7);
  const run = await runCompiledCuda(m, 'main', args, { flags: SANITIZE_FLAGS });
  const cu = String(run.emitted.files.get('model.cu'));
  t.match(cu, /k0_row_group: 4 kernels in one launch, a block of 32 threads per row \(222 rows of 100 elements\)/);
  t.match(cu, /k1_row_group: 4 kernels in one launch, a block of 64 threads per row \(5 rows of 300 elements\)/);
  t.same(
    run.emitted.kernelNames,
    ['k0_row_group', 'k1_row_group', 'k2_reduce', 'k3_fused_divide'],
    'the transposed read is not merged',
  );
  expectMatch(t, run.outputs, expected, 'row groups (CUDA, emulated under ASan+UBSan)', true);
  if (HAVE_NVCC) await nvccBuilds(t, m, 'main', 'rows.mlir');
  else t.comment(NO_NVCC);
});

// Scalars the host follows (emit-cuda/host-scalars.ts): a loop counting to 8 that reads the GPU's
// data at its counter, one counting down beside a value the caller gives (its counter followed,
// the sum not), and one on a float the GPU computes, which must still read its test back.
const LOOPS = `func.func @main(%x: tensor<8x4xf32>, %s: tensor<f32>, %k: tensor<i32>) -> (tensor<1x4xf32>, tensor<f32>, tensor<i32>) {
  %z = stablehlo.constant dense<0.0> : tensor<1x4xf32>
  %i0 = stablehlo.constant dense<0> : tensor<i32>
  %r:2 = stablehlo.while(%i = %i0, %acc = %z) : tensor<i32>, tensor<1x4xf32>
  cond {
    %n = stablehlo.constant dense<8> : tensor<i32>
    %lt = stablehlo.compare LT, %i, %n : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %lt : tensor<i1>
  } do {
    %c0 = stablehlo.constant dense<0> : tensor<i32>
    %row = stablehlo.dynamic_slice %x, %i, %c0, sizes = [1, 4] : (tensor<8x4xf32>, tensor<i32>, tensor<i32>) -> tensor<1x4xf32>
    %a = stablehlo.add %acc, %row : tensor<1x4xf32>
    %one = stablehlo.constant dense<1> : tensor<i32>
    %i2 = stablehlo.add %i, %one : tensor<i32>
    stablehlo.return %i2, %a : tensor<i32>, tensor<1x4xf32>
  }
  %as = stablehlo.abs %s : tensor<f32>
  %one_f = stablehlo.constant dense<1.0> : tensor<f32>
  %s1 = stablehlo.add %as, %one_f : tensor<f32>
  %q = stablehlo.while(%v = %s1) : tensor<f32>
  cond {
    %h = stablehlo.constant dense<100.0> : tensor<f32>
    %lt = stablehlo.compare LT, %v, %h : (tensor<f32>, tensor<f32>) -> tensor<i1>
    stablehlo.return %lt : tensor<i1>
  } do {
    %two = stablehlo.constant dense<2.0> : tensor<f32>
    %v2 = stablehlo.multiply %v, %two : tensor<f32>
    stablehlo.return %v2 : tensor<f32>
  }
  %j0 = stablehlo.constant dense<3> : tensor<i32>
  %w:2 = stablehlo.while(%j = %j0, %m = %k) : tensor<i32>, tensor<i32>
  cond {
    %lim = stablehlo.constant dense<0> : tensor<i32>
    %gt = stablehlo.compare GT, %j, %lim : (tensor<i32>, tensor<i32>) -> tensor<i1>
    stablehlo.return %gt : tensor<i1>
  } do {
    %one = stablehlo.constant dense<1> : tensor<i32>
    %j2 = stablehlo.subtract %j, %one : tensor<i32>
    %m2 = stablehlo.add %m, %j : tensor<i32>
    stablehlo.return %j2, %m2 : tensor<i32>, tensor<i32>
  }
  return %r#1, %q, %w#1 : tensor<1x4xf32>, tensor<f32>, tensor<i32>
}
`;

t.test('loop counters are followed on the host: no read back for their tests (emulated)', async (t) => {
  const m = importModule(new SourceFile('loops.mlir', LOOPS));
  const { args, expected } = reference(m, 'main', 8);
  const run = await runCompiledCuda(m, 'main', args, { flags: SANITIZE_FLAGS });
  const cu = String(run.emitted.files.get('model.cu'));
  t.equal(cu.match(/rl_cuda_read\(/g)?.length, 1, "one read back: the float loop's test");
  t.equal(cu.match(/if \(rl_host_v\d+\) \{ goto/g)?.length, 2, 'the two counted loops test host values');
  t.notMatch(cu, /RL_CUDA_LAUNCH\(k0_fused_compare,/, 'a test nothing on the GPU reads runs on the host only');
  t.match(cu, /RL_CUDA_LAUNCH\(k3_fused_add, .*k3_fused_add_on_host\(/, 'a counter the GPU reads runs on both');
  t.match(
    String(run.emitted.files.get('model.h')),
    /reads 1 branch or switch value\(s\) back .*\n.*2 more the host computes itself/,
  );
  expectMatch(t, run.outputs, expected, 'followed loops (CUDA, emulated under ASan+UBSan)', true);
  if (HAVE_NVCC) await nvccBuilds(t, m, 'main', 'loops.mlir');
  else t.comment(NO_NVCC);
});

// 128-bit accesses (emit-cuda/vector-io.ts): an f32 add-multiply whose bias is read along a
// dimension (scalar) while the operands and the result move four elements at a time; an i8
// negate (four bytes at a time); an f16 exponential of 21 elements (not a multiple of four: the
// scalar loop). Misaligned inputs take the scalar loop and must give the same bits.
const ELEMENTWISE = `func.func @main(%x: tensor<6x40xf32>, %y: tensor<6x40xf32>, %b: tensor<40xf32>, %h: tensor<3x7xf16>, %i: tensor<4x5xi8>) -> (tensor<6x40xf32>, tensor<3x7xf16>, tensor<4x5xi8>) {
  %bb = stablehlo.broadcast_in_dim %b, dims = [1] : (tensor<40xf32>) -> tensor<6x40xf32>
  %0 = stablehlo.add %x, %y : tensor<6x40xf32>
  %1 = stablehlo.multiply %0, %bb : tensor<6x40xf32>
  %2 = stablehlo.exponential %h : tensor<3x7xf16>
  %3 = stablehlo.negate %i : tensor<4x5xi8>
  func.return %1, %2, %3 : tensor<6x40xf32>, tensor<3x7xf16>, tensor<4x5xi8>
}
`;

t.test('elementwise grid loops move four elements per access where aligned (emulated)', async (t) => {
  const m = importModule(new SourceFile('elementwise.mlir', ELEMENTWISE));
  const { args, expected } = reference(m, 'main', 9);
  const run = await runCompiledCuda(m, 'main', args, { flags: SANITIZE_FLAGS });
  const cu = String(run.emitted.files.get('model.cu'));
  t.match(cu, /const rl_vec4<float> rl_v_in1 = reinterpret_cast<const rl_vec4<float>\*>\(in1\)\[t\];/);
  t.match(cu, /const float x2 = in0\[i1\];/, 'the broadcast bias stays a scalar read');
  t.match(cu, /reinterpret_cast<rl_vec4<int8_t>\*>\(out0\)\[t\] = rl_v_out0;/);
  t.notMatch(cu, /rl_vec4<uint16_t>/, '21 f16 elements: no vectors');
  t.match(cu, /RL_CUDA_LAUNCH\(k0_fused_multiply, rl_cuda_blocks\(60\),/, 'a thread per four elements');
  expectMatch(t, run.outputs, expected, 'vector accesses (CUDA, emulated under ASan+UBSan)', true);
  await misalignedInputsMatch(t, run, 'elementwise');
  if (HAVE_NVCC) await nvccBuilds(t, m, 'main', 'elementwise.mlir');
  else t.comment(NO_NVCC);
});

// GEMVs (f32, fewer than 32 rows: emit-cuda/gemm.ts emitFmaGemv): one row and K = 1024 (32 warps
// splitting k; 100 columns: a partial block of 32), five rows batched with a fused bias and K = 37
// (8 warps, most with two k), 20 rows (16 warps: their partial sums fill 40 KB), 31 rows (8).
const GEMVS = `func.func @main(%a: tensor<1x1024xf32>, %b: tensor<1024x100xf32>, %x: tensor<2x5x37xf32>, %y: tensor<2x37x70xf32>, %c: tensor<70xf32>, %p: tensor<20x600xf32>, %q: tensor<600x40xf32>, %r: tensor<31x300xf32>, %s: tensor<300x33xf32>) -> (tensor<1x100xf32>, tensor<2x5x70xf32>, tensor<20x40xf32>, tensor<31x33xf32>) {
  %0 = stablehlo.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<1x1024xf32>, tensor<1024x100xf32>) -> tensor<1x100xf32>
  %1 = stablehlo.dot_general %x, %y, batching_dims = [0] x [0], contracting_dims = [2] x [1] : (tensor<2x5x37xf32>, tensor<2x37x70xf32>) -> tensor<2x5x70xf32>
  %2 = stablehlo.broadcast_in_dim %c, dims = [2] : (tensor<70xf32>) -> tensor<2x5x70xf32>
  %3 = stablehlo.add %1, %2 : tensor<2x5x70xf32>
  %4 = stablehlo.dot_general %p, %q, contracting_dims = [1] x [0] : (tensor<20x600xf32>, tensor<600x40xf32>) -> tensor<20x40xf32>
  %5 = stablehlo.dot_general %r, %s, contracting_dims = [1] x [0] : (tensor<31x300xf32>, tensor<300x33xf32>) -> tensor<31x33xf32>
  func.return %0, %3, %4, %5 : tensor<1x100xf32>, tensor<2x5x70xf32>, tensor<20x40xf32>, tensor<31x33xf32>
}
`;

t.test('f32 GEMVs (warps splitting k) match the interpreter, emulated as fibers (ASan+UBSan)', async (t) => {
  const m = importModule(new SourceFile('gemvs.mlir', GEMVS));
  const { args, expected } = reference(m, 'main', 9);
  const run = await runCompiledCuda(m, 'main', args, { flags: SANITIZE_FLAGS });
  const cu = String(run.emitted.files.get('model.cu'));
  const gemvs = [...cu.matchAll(/GEMV: 32 columns per block of (\d+) warps splitting k, (\d+) rows? per thread/g)];
  t.same(
    gemvs.map((g) => `${g[2]}:${g[1]}`),
    ['1:32', '5:8', '20:16', '31:8'],
    'rows:warps',
  );
  t.match(cu, /RL_CUDA_LAUNCH_SYNCED\(k0_dot_general, 4, 1024,/, 'four blocks of 32 warps');
  expectMatch(t, run.outputs, expected, 'GEMVs (CUDA, emulated)', true);
  if (HAVE_NVCC) await nvccBuilds(t, m, 'main', 'gemvs.mlir');
  else t.comment(NO_NVCC);
});

// Hopper: with every --gpu-arch sm_90a, products of 128+ tiles of 128 x 256 run on wgmma
// (emit-cuda/gemm-wgmma.ts; emulated by decoding its shared-memory descriptors, each k step's
// group computed when a wait retires it, so a stage reloaded before its wgmma finished reads wrong
// here too). Batched, so that 128 tiles stay cheap to check: f16 with a fused bias, one partial
// tile per batch, K = 264 (five k steps, the last 8 wide: every stage used, the first reused);
// bf16 with N = 264 (a full and a partial tile per batch).
const WGMMA = `func.func @main(%a: tensor<128x65x264xf16>, %b: tensor<128x264x40xf16>, %c: tensor<40xf16>, %x: tensor<128x33x72xbf16>, %y: tensor<128x72x264xbf16>) -> (tensor<128x65x40xf16>, tensor<128x33x264xbf16>) {
  %0 = stablehlo.dot_general %a, %b, batching_dims = [0] x [0], contracting_dims = [2] x [1] : (tensor<128x65x264xf16>, tensor<128x264x40xf16>) -> tensor<128x65x40xf16>
  %1 = stablehlo.broadcast_in_dim %c, dims = [2] : (tensor<40xf16>) -> tensor<128x65x40xf16>
  %2 = stablehlo.add %0, %1 : tensor<128x65x40xf16>
  %3 = stablehlo.dot_general %x, %y, batching_dims = [0] x [0], contracting_dims = [2] x [1] : (tensor<128x33x72xbf16>, tensor<128x72x264xbf16>) -> tensor<128x33x264xbf16>
  func.return %2, %3 : tensor<128x65x40xf16>, tensor<128x33x264xbf16>
}
`;

t.test('sm_90a: big f16/bf16 GEMMs on wgmma match the interpreter, emulated as fibers (ASan+UBSan)', async (t) => {
  const m = importModule(new SourceFile('wgmma.mlir', WGMMA));
  const { args, expected } = reference(m, 'main', 5);
  const run = await runCompiledCuda(m, 'main', args, { gpuArchs: ['sm_90a'], flags: SANITIZE_FLAGS });
  const cu = String(run.emitted.files.get('model.cu'));
  t.match(
    cu,
    /k0_dot_general_fused: fuses dot_general \(2:8\), broadcast_in_dim \(3:8\), add \(4:8\); tiled GEMM on Hopper tensor cores \(f16, f32 accumulation\): 128 x 256 outputs per block of 2 warpgroups, each 64 x 256 as wgmma m64n256k16/,
  );
  t.match(cu, /rl_wgmma_m64n256k16_bf16\(rl_acc, /, 'the bf16 product on wgmma too');
  t.match(cu, /RL_CUDA_LAUNCH_SHARED\(k0_dot_general_fused, 128, 256, 197632,/, '128 tiles; four 48 KB stages');
  expectMatch(t, run.outputs, expected, 'wgmma GEMMs (CUDA, emulated)', true);
  await misalignedInputsMatch(t, run, 'wgmma GEMMs');
  if (HAVE_NVCC) await nvccBuilds(t, m, 'main', 'wgmma.mlir', true, ['sm_90a']);
  else t.comment(NO_NVCC);
});

t.test('wgmma only where every arch is sm_90a and the product fills 128 tiles of 128 x 256', async (t) => {
  const cuFor = (text: string, gpuArchs: string[]): string =>
    String(
      compile(importModule(new SourceFile('g.mlir', text)), {
        entry: 'main',
        prefix: 'model',
        sourceName: 'g.mlir',
        cc: 'gcc',
        backend: 'cuda',
        gpuArchs,
      }).files.get('model.cu'),
    );
  const big = gemmText(4096, 64, 4096, 'f16');
  t.match(cuFor(big, ['sm_90a']), /rl_wgmma_m64n256k16_f16\(/, '4096 x 4096 outputs: 512 tiles');
  t.match(cuFor(big, ['sm_80', 'sm_90a']), /rl_mma_m16n8k16_f16\(/, 'with sm_80 among the archs: mma.sync');
  t.match(cuFor(big, ['sm_90']), /rl_mma_m16n8k16_f16\(/, 'sm_90 (not 90a): mma.sync');
  t.match(cuFor(gemmText(1024, 64, 1024, 'f16'), ['sm_90a']), /rl_mma_m16n8k16_f16\(/, '32 tiles: mma.sync');
  t.match(cuFor(gemmText(4096, 64, 4100, 'f16'), ['sm_90a']), /rl_mma_m16n8k16_f16\(/, 'rows not 16-byte multiples');
});

t.test(
  "make bench-gpu's timing harness builds with nvcc (running it needs a GPU)",
  { skip: HAVE_NVCC ? false : NO_NVCC },
  async (t) => {
    const dir = scratchDir('xla-aot-bench-gpu-');
    const build = writeBench(dir, 'gemm.mlir', gemmText(64, 64, 64, 'f16'), 'sm_80');
    const r = await execa('sh', ['-c', build], { cwd: dir, reject: false, all: true });
    t.equal(r.exitCode, 0, r.all);
    t.ok(existsSync(join(dir, 'bench')), 'built bench');
    t.match(readFileSync(join(dir, 'model.cu'), 'utf8'), /rl_mma_m16n8k16_f16/, 'the f16 GEMM on tensor cores');
  },
);

/** Builds `kernel` (CUDA source using rl_cuda.h) with a host main against the emulation; returns
 * the run's exit code and output. */
async function emulate(source: string): Promise<{ exitCode: number; all: string }> {
  const dir = scratchDir('xla-aot-emu-');
  writeFileSync(join(dir, 'k.cu'), source);
  const build = await execa(
    'g++',
    [...CUDA_EMULATION_FLAGS, ...SANITIZE_FLAGS, '-I', join(RUNTIME_DIR, 'include'), '-x', 'c++', 'k.cu', '-o', 'k'],
    { cwd: dir, reject: false, all: true },
  );
  if (build.exitCode !== 0) return { exitCode: -1, all: build.all ?? '' };
  const r = await execa('./k', [], { cwd: dir, reject: false, all: true });
  return { exitCode: r.exitCode ?? -1, all: r.all ?? '' };
}

t.test('the emulation: warp shuffles in lockstep, barriers across the block, deadlocks reported', async (t) => {
  // Each thread offers 1000 * block + thread; rl_shfl_down(v, 3) gives lane + 3's value in its
  // warp, its own from lane 29 on (CUDA's __shfl_down_sync). Then thread t reads what thread
  // (t + 40) % 96 wrote to shared memory before the barrier.
  const shuffle = `#include "rl_cuda.h"
#include <stdio.h>
static __global__ void k(int* out) {
  __shared__ int seen[96];
  const int mine = 1000 * (int)blockIdx.x + (int)threadIdx.x;
  const int down = rl_shfl_down(mine, 3);
  seen[threadIdx.x] = mine;
  __syncthreads();
  out[blockIdx.x * 192 + threadIdx.x] = down;
  out[blockIdx.x * 192 + 96 + threadIdx.x] = seen[(threadIdx.x + 40) % 96];
}
int main(void) {
  int out[2 * 192];
  RL_CUDA_LAUNCH_SYNCED(k, 2, 96, 0, out);
  for (int b = 0; b < 2; ++b)
    for (int t = 0; t < 96; ++t) {
      int lane = t % 32, down = 1000 * b + (lane + 3 < 32 ? t + 3 : t), seen = 1000 * b + (t + 40) % 96;
      if (out[b * 192 + t] != down || out[b * 192 + 96 + t] != seen) { printf("wrong at block %d thread %d\\n", b, t); return 1; }
    }
  printf("ok\\n");
  return 0;
}
`;
  const ok = await emulate(shuffle);
  t.equal(ok.exitCode, 0, ok.all);
  t.match(ok.all, /^ok$/m, 'shuffles and the barrier behave as on the GPU');
  // Thread 0 leaves early: the others wait at a barrier it never reaches.
  const deadlock = `#include "rl_cuda.h"
static __global__ void k(int* out) {
  if (threadIdx.x == 0) return;
  __syncthreads();
  out[threadIdx.x] = 1;
}
int main(void) {
  int out[64];
  RL_CUDA_LAUNCH_SYNCED(k, 1, 64, 0, out);
  return 0;
}
`;
  const hung = await emulate(deadlock);
  t.not(hung.exitCode, 0, 'the run fails');
  t.match(hung.all, /block 0 deadlocked: its threads wait at a barrier not all of them reach/);
});

t.test('--gpu-arch: sm_XX names only; tensor cores only when every arch has mma.sync m16n8k16', async (t) => {
  const gemms = importModule(new SourceFile('gemms.mlir', GEMMS));
  const cuFor = (gpuArchs: string[]): string =>
    String(
      compile(gemms, {
        entry: 'main',
        prefix: 'model',
        sourceName: 'gemms.mlir',
        cc: 'gcc',
        backend: 'cuda',
        gpuArchs,
      }).files.get('model.cu'),
    );
  t.match(cuFor(['sm_80', 'sm_90']), /rl_mma_m16n8k16_f16\(/, 'sm_80 + sm_90: tensor cores');
  t.notMatch(cuFor(['sm_75', 'sm_90']), /rl_mma_m16n8k16/, 'with sm_75 among the archs: FMAs');
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
    /for \(int64_t rl_o = blockIdx\.x; rl_o < 64; rl_o \+= gridDim\.x\) \{[^]*for \(int64_t rl_r = threadIdx\.x; rl_r < 32; rl_r \+= blockDim\.x\)/,
    'a block per kept element (row), its threads over the 32 reduced ones',
  );
});
