/**
 * @fileoverview What `make bench-gpu` builds (bench/gpu.ts runs it): a CUDA build of a model with
 * a timing harness (templates/cuda/bench.cu.hbs: device inputs, one untimed run, then SAMPLES
 * timed with CUDA events, the median printed), and the same for a cuBLAS GEMM of one shape
 * (templates/cuda/bench-cublas.cu.hbs). test/e2e/cuda.test.ts builds the harness with nvcc.
 */
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SourceFile } from '../diag/source.js';
import { importModule } from '../import/index.js';
import { compile } from '../pipeline.js';
import { render, TEMPLATES_DIR } from '../emit-common/templates.js';
import { VERSION } from '../emit-common/program.js';
import { NVCC, tool, writeFiles } from '../toolchain/build.js';
import { harnessIO } from '../toolchain/run.js';

export const SAMPLES = 21;

/** The inputs' pseudo-random fill, shared by both harnesses. */
const copyFill = (dir: string): void =>
  copyFileSync(join(TEMPLATES_DIR, 'cuda', 'bench_fill.h'), join(dir, 'bench_fill.h'));

/** `C = A x B` of element type `type` ([m, k] x [k, n], both inputs). */
export const gemmText = (m: number, k: number, n: number, type: string): string =>
  [
    `func.func @main(%a: tensor<${m}x${k}x${type}>, %b: tensor<${k}x${n}x${type}>) -> tensor<${m}x${n}x${type}> {`,
    `  %c = stablehlo.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<${m}x${k}x${type}>, tensor<${k}x${n}x${type}>) -> tensor<${m}x${n}x${type}>`,
    `  func.return %c : tensor<${m}x${n}x${type}>`,
    '}',
    '',
  ].join('\n');

/** Writes the CUDA build of `text` for `arch` with its timing harness to `dir`; returns the
 * shell command that builds `dir/bench` (the generated Makefile's objects, then the harness). */
export function writeBench(dir: string, name: string, text: string, arch: string): string {
  const emitted = compile(importModule(new SourceFile(name, text)), {
    entry: 'main',
    prefix: 'model',
    sourceName: name,
    cc: 'gcc',
    backend: 'cuda',
    gpuArchs: [arch],
  });
  writeFiles(dir, emitted);
  const harness = render('cuda/bench.cu.hbs', {
    version: VERSION,
    prefix: 'model',
    PREFIX: 'MODEL',
    samples: SAMPLES,
    ...harnessIO(emitted),
  });
  writeFileSync(join(dir, 'bench.cu'), harness);
  copyFill(dir);
  return `make -s NVCC=${NVCC} model.o model_weights.o && ${NVCC} -O3 -std=c++17 -I. bench.cu model.o model_weights.o -o bench`;
}

const CUBLAS_TYPES: Readonly<Record<string, { cuda: string; bytes: number }>> = {
  f16: { cuda: 'CUDA_R_16F', bytes: 2 },
  bf16: { cuda: 'CUDA_R_16BF', bytes: 2 },
  f32: { cuda: 'CUDA_R_32F', bytes: 4 },
};

/** Writes the cuBLAS reference of one GEMM to `dir`; returns the command that builds `dir/bench_cublas`. */
export function writeCublasBench(dir: string, m: number, k: number, n: number, type: string): string {
  const t = CUBLAS_TYPES[type]!;
  copyFill(dir);
  writeFileSync(
    join(dir, 'bench_cublas.cu'),
    render('cuda/bench-cublas.cu.hbs', {
      version: VERSION,
      m,
      n,
      k,
      type,
      cudaType: t.cuda,
      elemBytes: t.bytes,
      samples: SAMPLES,
    }),
  );
  return `${NVCC} -O3 -std=c++17 bench_cublas.cu -lcublas -o bench_cublas`;
}

/** The JSON object a bench tool printed as its last line of `log` (bench.cu, bench_cublas.cu:
 * {"ms": median}; bench_compare.c: its check), if it did. */
export function lastJsonLine(log: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(log.trim().split('\n').pop() ?? '');
    return typeof v === 'object' && v !== null ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** Builds with `command` in `dir`, runs `dir/exe`, returns its median in milliseconds. */
export async function buildAndTime(dir: string, command: string, exe: string): Promise<number> {
  await tool('sh', ['-c', command], dir);
  const out = await tool(join(dir, exe), [], dir);
  const ms = lastJsonLine(out)?.['ms'];
  if (typeof ms !== 'number') throw new Error(`${exe} printed no median: ${out.slice(-300)}`);
  return ms;
}
