/**
 * @fileoverview `make bench`'s SPMD line: a tensor-parallel (Megatron) MLP, large enough to be
 * compute-bound, partitioned over 2 devices (W1 by columns, W2 by rows: one all_reduce per run)
 * against the same program on 1, with the threads communicator and under mpirun; the speed-up,
 * the bytes each device receives per run, and the 2-device outputs against the 1-device ones.
 */
import { SourceFile } from '../diag/source.js';
import { importModule } from '../import/index.js';
import type { Module } from '../ir/core.js';
import { makeTensor, type Tensor } from '../ir/tensor.js';
import { floatElem, tensorType } from '../ir/types.js';
import { runPartitioned, runSpmd } from '../toolchain/spmd-run.js';
import { fmt, gflops, maxRelDiff, progress, selected } from './harness.js';
import { randomFloats } from './models.js';

const [B, I, H, O] = [64, 1024, 4096, 1024];
const RUNS = 15;

/** The MLP x W1 -> relu -> W2, W1 split by columns and W2 by rows over n devices (GSPMD). */
function megatronMlp(n: number): string {
  const tiles = (rank: number, dim: number): string =>
    `{mhlo.sharding = "{devices=[${[...Array(rank).keys()].map((d) => (d === dim ? n : 1)).join(',')}]${[...Array(n).keys()].join(',')}}"}`;
  const rep = '{mhlo.sharding = "{replicated}"}';
  return `module @tp_mlp attributes {mhlo.num_partitions = ${n} : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%x: tensor<${B}x${I}xf32> ${rep}, %w1: tensor<${I}x${H}xf32> ${tiles(2, 1)}, %w2: tensor<${H}x${O}xf32> ${tiles(2, 0)}) -> (tensor<${B}x${O}xf32> ${rep}) {
    %h = stablehlo.dot_general %x, %w1, contracting_dims = [1] x [0] : (tensor<${B}x${I}xf32>, tensor<${I}x${H}xf32>) -> tensor<${B}x${H}xf32>
    %zero = stablehlo.constant dense<0.000000e+00> : tensor<${B}x${H}xf32>
    %r = stablehlo.maximum %h, %zero : tensor<${B}x${H}xf32>
    %y = stablehlo.dot_general %r, %w2, contracting_dims = [1] x [0] : (tensor<${B}x${H}xf32>, tensor<${H}x${O}xf32>) -> tensor<${B}x${O}xf32>
    return %y : tensor<${B}x${O}xf32>
  }
}
`;
}

const load = (text: string): Module => importModule(new SourceFile('tp_mlp.mlir', text));
const f32 = (shape: number[], seed: number, scale: number): Tensor =>
  makeTensor(tensorType(shape, floatElem('f32')!), Float64Array.from(randomFloats(shape[0]! * shape[1]!, scale, seed)));

export async function benchSpmd(ratios: Record<string, number>, failures: string[]): Promise<void> {
  if (!selected('spmd_tp_mlp')) return;
  const flops = 2 * B * H * (I + O);
  console.log(
    `\nSPMD: tensor-parallel (Megatron) MLP ${B}x${I}-${H}-${O} (${(flops / 1e9).toFixed(2)} GFLOP), W1 by columns and W2 by rows over 2 devices vs the same program on 1; medians of ${RUNS} runs`,
  );
  console.log(
    'communicator  1 device                     2 devices                    speed-up  bytes received per device per run  max rel diff',
  );
  const inputs = [f32([B, I], 1, 1), f32([I, H], 2, 1 / 32), f32([H, O], 3, 1 / 64)];
  for (const comm of ['threads', 'mpi'] as const) {
    progress.update(`bench: SPMD tensor-parallel MLP, ${comm}: 1 device`);
    const one = await runSpmd(load(megatronMlp(1)), 'main', [inputs], {
      grid: { replicas: 1, partitions: 1, comm },
      timedRuns: RUNS,
    });
    progress.update(`bench: SPMD tensor-parallel MLP, ${comm}: 2 devices`);
    const two = await runPartitioned(load(megatronMlp(2)), 'main', inputs, {
      grid: { replicas: 1, partitions: 2, comm },
      timedRuns: RUNS,
    });
    progress.done();
    const [a, b] = [one.outputs[0]![0]!, two.global[0]!];
    const diff = maxRelDiff(Float32Array.from(b.data as Float64Array), Float32Array.from(a.data as Float64Array));
    const bad =
      diff > 1e-4
        ? `2 devices differ from 1 by ${diff.toExponential(1)} (bound 1e-4)`
        : new Set(a.data as Float64Array).size > 1
          ? undefined
          : 'every output is the same value (a comparison that proves nothing)';
    const [t1, t2] = [one.medianSeconds!, two.medianSeconds!];
    const bytes = two.emitted.communication?.receivedBytes ?? 0;
    if (bad) failures.push(`spmd_tp_mlp ${comm}: ${bad}`);
    else {
      ratios[`spmd_tp_mlp_2dev_speedup_${comm}`] = t1 / t2;
      ratios['spmd_tp_mlp_bytes_per_run'] = bytes;
    }
    console.log(
      `${comm.padEnd(13)} ${`${fmt(t1)} ${gflops(flops, t1)}`.padEnd(28)} ${`${fmt(t2)} ${gflops(flops, t2)}`.padEnd(28)} ${(t1 / t2).toFixed(2).padStart(6)}x  ${String(bytes).padStart(20)}               ${diff.toExponential(1)}${bad ? `  FAILED: ${bad}` : ''}`,
    );
  }
}
