#!/usr/bin/env node
/**
 * @fileoverview `make bench-gpu`: the CUDA backend's speed on this machine's GPU, measured in one
 * run: GEMMs (f16, bf16, f32 at 1024^3, 4096^3, 1x4096x4096, 64x4096x4096) in TFLOP/s, as a share
 * of the GPU's peak (PEAKS: dense tensor-core f16/bf16 and FMA f32, for the GPUs known here) and
 * against cuBLAS where the machine has it; elementwise (an add) and a row reduction in GB/s as a
 * share of memory bandwidth; the latency of `make bench`'s real models (REAL_MODELS) at batch 1.
 * Medians of SAMPLES timed runs (CUDA events, bench.cu). A benchmark, not a test; it needs a GPU.
 *
 * A GPU machine without node (gpu-bundle.ts) gets the same benchmark in two halves:
 * `gpu.js --pack DIR --arch sm_XX` builds every harness here (cuBLAS's sources only: it is built
 * where cuBLAS is), `DIR/ITEM/bench` runs there, and `gpu.js --report DIR RESULTS` prints the
 * same report from the logs that run left in RESULTS/ITEM.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { buildAndTime, gemmText, lastJsonLine, writeBench, writeCublasBench } from './gpu-harness.js';
import { readTextIfExists } from '../util/files.js';
import { tool } from '../toolchain/build.js';
import { TEMPLATES_DIR } from '../emit-common/templates.js';
import { archForComputeCap } from '../toolchain/run.js';
import { REAL_MODELS } from './real-models.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const WORK = join(ROOT, 'out', 'bench-gpu');
const CUBLAS_HEADER = '/usr/local/cuda/include/cublas_v2.h';
/** The comparison of a GEMM's output with cuBLAS's (C, built by cc where it runs). */
export const COMPARE = join(TEMPLATES_DIR, 'cuda', 'bench_compare.c');

/** Dense peaks (TFLOP/s) and memory bandwidth (GB/s) of SXM parts, from their datasheets. */
const PEAKS: readonly { match: RegExp; half: number; f32: number; gbps: number }[] = [
  { match: /H200/, half: 989, f32: 67, gbps: 4800 },
  { match: /H100/, half: 989, f32: 67, gbps: 3350 },
  { match: /A100/, half: 312, f32: 19.5, gbps: 2039 },
];

const GEMMS: readonly [number, number, number][] = [
  [1024, 1024, 1024],
  [4096, 4096, 4096],
  [1, 4096, 4096],
  [64, 4096, 4096],
];

/** One line of the report: a GEMM (counted in flops, with a cuBLAS twin), a memory-bound
 * program (counted in the bytes it must move) or a model (its latency). */
export interface BenchItem {
  readonly name: string;
  /** The StableHLO, written when asked (a model's weights are in it: ResNet-50's 100 MB). */
  readonly text: () => string;
  readonly gemm?: { readonly m: number; readonly k: number; readonly n: number; readonly type: string };
  readonly bytes?: number;
}

const N_ADD = 1 << 26;
export const BENCH_ITEMS: readonly BenchItem[] = [
  ...['f16', 'bf16', 'f32'].flatMap((type) =>
    GEMMS.map(([m, k, n]) => ({
      name: `gemm_${type}_${m}x${k}x${n}`,
      text: () => gemmText(m, k, n, type),
      gemm: { m, k, n, type },
    })),
  ),
  {
    name: 'add_f32_64M',
    text: () =>
      `func.func @main(%a: tensor<${N_ADD}xf32>, %b: tensor<${N_ADD}xf32>) -> tensor<${N_ADD}xf32> {\n  %c = stablehlo.add %a, %b : tensor<${N_ADD}xf32>\n  func.return %c : tensor<${N_ADD}xf32>\n}\n`,
    bytes: 3 * 4 * N_ADD,
  },
  {
    name: 'row_sum_f32_8192x8192',
    text: () =>
      `func.func @main(%a: tensor<8192x8192xf32>) -> tensor<8192xf32> {\n  %z = stablehlo.constant dense<0.0> : tensor<f32>\n  %s = stablehlo.reduce(%a init: %z) applies stablehlo.add across dimensions = [1] : (tensor<8192x8192xf32>, tensor<f32>) -> tensor<8192xf32>\n  func.return %s : tensor<8192xf32>\n}\n`,
    bytes: 4 * 8192 * 8192,
  },
  // make bench's real models at batch 1 (all but ResNet-50 at 8): their latency.
  ...REAL_MODELS.filter(([name]) => name !== 'resnet50_b8').map(([name, model]) => ({
    name,
    text: () => model().mlir,
  })),
];

/** The GPU's name and sm_XX, from nvidia-smi's `name, compute_cap` line. */
export function parseGpu(line: string): { name: string; arch: string } | undefined {
  const [name, cap] = line
    .trim()
    .split('\n')[0]!
    .split(',')
    .map((s) => s.trim());
  return name && cap ? { name, arch: archForComputeCap(cap) } : undefined;
}

/** Median milliseconds of one item on the GPU, ours and cuBLAS's (undefined: no cuBLAS). */
type Timing = { readonly ms: number; readonly cublasMs?: number | undefined; readonly vsCublas?: OutputCheck };

/** A GEMM's output against cuBLAS's for the same inputs (COMPARE): the relative 2-norm
 * error and the count of non-finite elements in ours. */
export interface OutputCheck {
  readonly rel: number;
  readonly n: number;
  readonly nonfinite: number;
}

/** The relative error a GEMM's output may show against cuBLAS's: the output's rounding (f16
 * 2^-11, bf16 2^-8) and f32 sums in another order, with room for both (norm-wise). */
export const CUBLAS_REL_BOUND: Readonly<Record<string, number>> = { f16: 2e-3, bf16: 1e-2, f32: 1e-4 };

/** Whether a GEMM's output check was made and stays within CUBLAS_REL_BOUND, all finite. */
export const matchesCublas = (c: OutputCheck | undefined, type: string): boolean =>
  c !== undefined && c.nonfinite === 0 && c.rel <= CUBLAS_REL_BOUND[type]!;

/** Prints the report; returns its JSON summary line's object. */
function report(gpuName: string, arch: string, timings: ReadonlyMap<string, Timing>): Record<string, number> {
  const peak = PEAKS.find((p) => p.match.test(gpuName));
  console.log(
    `${gpuName} (${arch}); peaks: ${peak ? `${peak.half} TFLOP/s f16/bf16, ${peak.f32} f32, ${peak.gbps} GB/s` : 'unknown'}`,
  );
  const summary: Record<string, number> = {};
  for (const item of BENCH_ITEMS) {
    const t = timings.get(item.name);
    if (!t) {
      console.log(`${item.name}: not measured`);
      continue;
    }
    let line = `${item.name}: ${t.ms.toFixed(3)} ms`;
    if (item.gemm) {
      const { m, k, n, type } = item.gemm;
      const tflops = (2 * m * n * k) / (t.ms * 1e-3) / 1e12;
      line += `, ${tflops.toFixed(2)} TFLOP/s`;
      if (peak) {
        const share = tflops / (type === 'f32' ? peak.f32 : peak.half);
        line += `, ${(100 * share).toFixed(1)}% of peak`;
        summary[`${item.name}_of_peak`] = share;
      }
      if (t.cublasMs !== undefined) {
        line += `; cuBLAS ${t.cublasMs.toFixed(3)} ms: ours at ${((100 * t.cublasMs) / t.ms).toFixed(1)}% of its speed`;
        if (t.vsCublas)
          line += `; output vs cuBLAS's: ${t.vsCublas.rel.toExponential(2)} relative (bound ${CUBLAS_REL_BOUND[type]}), ${t.vsCublas.nonfinite} non-finite`;
        summary[`${item.name}_vs_cublas`] = t.cublasMs / t.ms;
      } else line += '; no cuBLAS reference';
    } else if (item.bytes === undefined) {
      line += ' latency (batch 1, one run of PREFIX_run)';
      summary[`${item.name}_ms`] = t.ms;
    } else {
      const gbps = item.bytes / (t.ms * 1e-3) / 1e9;
      line += `, ${gbps.toFixed(0)} GB/s`;
      if (peak) {
        summary[`${item.name}_of_bandwidth`] = gbps / peak.gbps;
        line += `, ${((100 * gbps) / peak.gbps).toFixed(1)}% of bandwidth`;
      }
    }
    console.log(line);
  }
  console.log(JSON.stringify(summary));
  return summary;
}

const itemDir = (root: string, name: string): string => {
  const dir = join(root, name);
  mkdirSync(dir, { recursive: true });
  return dir;
};

/** Builds every item's harness for `arch` under `root` (ROOT/ITEM/bench), and the cuBLAS
 * sources beside the GEMMs' (ROOT/ITEM/bench_cublas.cu, built on the GPU machine). */
export async function packBench(root: string, arch: string): Promise<void> {
  for (const item of BENCH_ITEMS) {
    const dir = itemDir(root, item.name);
    await tool('sh', ['-c', writeBench(dir, `${item.name}.mlir`, item.text(), arch)], dir);
    if (item.gemm) writeCublasBench(dir, item.gemm.m, item.gemm.k, item.gemm.n, item.gemm.type);
  }
}

/** The median a harness printed last ({"ms": ...}) in `log`, if it did. */
function medianOf(log: string): number | undefined {
  const ms = lastJsonLine(log)?.['ms'];
  return typeof ms === 'number' ? ms : undefined;
}

/** compare.c's line, if it printed one. */
export function outputCheck(log: string): OutputCheck | undefined {
  const c = lastJsonLine(log);
  const [rel, n, nonfinite] = [c?.['rel'], c?.['n'], c?.['nonfinite']];
  return typeof rel === 'number' && typeof n === 'number' && typeof nonfinite === 'number'
    ? { rel, n, nonfinite }
    : undefined;
}

/** The report from a packed bench's run: RESULTS/gpu.txt (nvidia-smi's name, compute_cap),
 * RESULTS/ITEM/bench.log and cublas.log; 1 if an item not in `notCarried` left no median. */
export function reportPacked(results: string, notCarried: readonly string[] = []): number {
  const read = (...p: string[]): string => readTextIfExists(join(results, ...p));
  const g = parseGpu(read('gpu.txt'));
  if (!g) {
    console.error(`bench-gpu: no GPU named in ${join(results, 'gpu.txt')}`);
    return 1;
  }
  const timings = new Map<string, Timing>();
  for (const item of BENCH_ITEMS) {
    const ms = medianOf(read(item.name, 'bench.log'));
    if (ms === undefined) {
      console.log(`${item.name}: the run left no median: ${read(item.name, 'bench.log').slice(-300)}`);
      continue;
    }
    timings.set(item.name, {
      ms,
      cublasMs: medianOf(read(item.name, 'cublas.log')),
      ...(item.gemm ? { vsCublas: outputCheck(read(item.name, 'check.log')) } : {}),
    });
  }
  report(g.name, g.arch, timings);
  return BENCH_ITEMS.every((i) => timings.has(i.name) || notCarried.includes(i.name)) ? 0 : 1;
}

async function measureHere(): Promise<number> {
  const r = await execa('nvidia-smi', ['--query-gpu=name,compute_cap', '--format=csv,noheader'], { reject: false });
  const g = r.exitCode === 0 ? parseGpu(r.stdout) : undefined;
  if (!g) {
    console.error('make bench-gpu: no GPU on this machine (nvidia-smi found none)');
    return 1;
  }
  const cublas = existsSync(CUBLAS_HEADER);
  const timings = new Map<string, Timing>();
  mkdirSync(WORK, { recursive: true });
  const compare = join(WORK, 'compare');
  await tool('cc', ['-O2', '-std=c99', COMPARE, '-o', compare, '-lm'], ROOT);
  const wrong: string[] = [];
  for (const item of BENCH_ITEMS) {
    const dir = itemDir(WORK, item.name);
    const ms = await buildAndTime(dir, writeBench(dir, `${item.name}.mlir`, item.text(), g.arch), 'bench');
    const gemm = cublas ? item.gemm : undefined;
    if (!gemm) {
      timings.set(item.name, { ms });
      continue;
    }
    const cublasMs = await buildAndTime(dir, writeCublasBench(dir, gemm.m, gemm.k, gemm.n, gemm.type), 'bench_cublas');
    const vsCublas = outputCheck(await tool(compare, [gemm.type, 'out0.bin', 'cublas_out.bin'], dir));
    timings.set(item.name, { ms, cublasMs, ...(vsCublas ? { vsCublas } : {}) });
    if (!matchesCublas(vsCublas, gemm.type)) wrong.push(item.name);
  }
  if (wrong.length) console.error(`bench-gpu: outputs differ from cuBLAS's beyond the bound: ${wrong.join(', ')}`);
  if (!cublas) console.log(`(no cuBLAS reference: ${CUBLAS_HEADER} is missing)`);
  report(g.name, g.arch, timings);
  return wrong.length ? 1 : 0;
}

async function main(argv: readonly string[]): Promise<number> {
  if (argv[0] === '--pack' && argv[1] && argv[2] === '--arch' && argv[3]) {
    await packBench(argv[1], argv[3]);
    return 0;
  }
  if (argv[0] === '--report' && argv[1]) return reportPacked(argv[1]);
  if (argv.length) {
    console.error('usage: gpu.js [--pack DIR --arch sm_XX | --report RESULTS]');
    return 2;
  }
  return measureHere();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url))
  process.exitCode = await main(process.argv.slice(2)).catch((e: unknown) => {
    console.error(`bench-gpu: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  });
