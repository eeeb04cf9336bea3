#!/usr/bin/env node
/**
 * @fileoverview `make bench-gpu`: the CUDA backend's speed on this machine's GPU, measured in one
 * run: GEMMs (f16, bf16, f32 at 1024^3, 4096^3, 1x4096x4096, 64x4096x4096) in TFLOP/s, as a share
 * of the GPU's peak (PEAKS: dense tensor-core f16/bf16 and FMA f32, for the GPUs known here) and
 * against cuBLAS where the machine has it; elementwise (an add) and a row reduction in GB/s as a
 * share of memory bandwidth. Medians of SAMPLES timed runs (CUDA events, bench.cu). A benchmark,
 * not a test; it needs a GPU (no GPU has been available to this project, so it has not run yet:
 * make test only builds its harness).
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { buildAndTime, gemmText, writeBench, writeCublasBench } from './gpu-harness.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const WORK = join(ROOT, 'out', 'bench-gpu');
const CUBLAS_HEADER = '/usr/local/cuda/include/cublas_v2.h';

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

async function gpu(): Promise<{ name: string; arch: string } | undefined> {
  const r = await execa('nvidia-smi', ['--query-gpu=name,compute_cap', '--format=csv,noheader'], { reject: false });
  if (r.exitCode !== 0 || !r.stdout.trim()) return undefined;
  const [name, cap] = r.stdout
    .trim()
    .split('\n')[0]!
    .split(',')
    .map((s) => s.trim());
  return { name: name!, arch: `sm_${cap!.replace('.', '')}` };
}

async function main(): Promise<number> {
  const g = await gpu();
  if (!g) {
    console.error('make bench-gpu: no GPU on this machine (nvidia-smi found none)');
    return 1;
  }
  const peak = PEAKS.find((p) => p.match.test(g.name));
  console.log(
    `${g.name} (${g.arch}); peaks: ${peak ? `${peak.half} TFLOP/s f16/bf16, ${peak.f32} f32, ${peak.gbps} GB/s` : 'unknown'}`,
  );
  const cublas = existsSync(CUBLAS_HEADER);
  const summary: Record<string, number> = {};
  const dirFor = (name: string): string => {
    const dir = join(WORK, name);
    mkdirSync(dir, { recursive: true });
    return dir;
  };
  for (const type of ['f16', 'bf16', 'f32'])
    for (const [m, k, n] of GEMMS) {
      const name = `gemm_${type}_${m}x${k}x${n}`;
      const dir = dirFor(name);
      const ms = await buildAndTime(dir, writeBench(dir, `${name}.mlir`, gemmText(m, k, n, type), g.arch), 'bench');
      const tflops = (2 * m * n * k) / (ms * 1e-3) / 1e12;
      const share = peak ? tflops / (type === 'f32' ? peak.f32 : peak.half) : undefined;
      let line = `${name}: ${ms.toFixed(3)} ms, ${tflops.toFixed(2)} TFLOP/s`;
      if (share !== undefined) line += `, ${(100 * share).toFixed(1)}% of peak`;
      if (share !== undefined) summary[`${name}_of_peak`] = share;
      if (cublas) {
        const ref = await buildAndTime(dir, writeCublasBench(dir, m, k, n, type), 'bench_cublas');
        line += `; cuBLAS ${ref.toFixed(3)} ms: ours at ${((100 * ref) / ms).toFixed(1)}% of its speed`;
        summary[`${name}_vs_cublas`] = ref / ms;
      }
      console.log(line);
    }
  if (!cublas) console.log(`(no cuBLAS reference: ${CUBLAS_HEADER} is missing)`);
  const n = 1 << 26;
  const memory: readonly [string, string, number][] = [
    [
      'add_f32_64M',
      `func.func @main(%a: tensor<${n}xf32>, %b: tensor<${n}xf32>) -> tensor<${n}xf32> {\n  %c = stablehlo.add %a, %b : tensor<${n}xf32>\n  func.return %c : tensor<${n}xf32>\n}\n`,
      3 * 4 * n,
    ],
    [
      'row_sum_f32_8192x8192',
      `func.func @main(%a: tensor<8192x8192xf32>) -> tensor<8192xf32> {\n  %z = stablehlo.constant dense<0.0> : tensor<f32>\n  %s = stablehlo.reduce(%a init: %z) applies stablehlo.add across dimensions = [1] : (tensor<8192x8192xf32>, tensor<f32>) -> tensor<8192xf32>\n  func.return %s : tensor<8192xf32>\n}\n`,
      4 * 8192 * 8192,
    ],
  ];
  for (const [name, text, bytes] of memory) {
    const dir = dirFor(name);
    const ms = await buildAndTime(dir, writeBench(dir, `${name}.mlir`, text, g.arch), 'bench');
    const gbps = bytes / (ms * 1e-3) / 1e9;
    const share = peak ? gbps / peak.gbps : undefined;
    if (share !== undefined) summary[`${name}_of_bandwidth`] = share;
    console.log(
      `${name}: ${ms.toFixed(3)} ms, ${gbps.toFixed(0)} GB/s${share !== undefined ? `, ${(100 * share).toFixed(1)}% of bandwidth` : ''}`,
    );
  }
  console.log(JSON.stringify(summary));
  return 0;
}

process.exitCode = await main().catch((e: unknown) => {
  console.error(`bench-gpu: ${e instanceof Error ? e.message : String(e)}`);
  return 1;
});
