/**
 * @fileoverview The GPU checks for a GPU machine without node: what `make test-gpu` and
 * `make bench-gpu` run there, built here by nvcc (`make gpu-bundle`, pack.ts), run there by the
 * bundle's run.sh, judged here (`make gpu-judge`, judge.ts). The bundle's layout:
 *
 *   DIR/models/NAME/harness, in*.bin  each model of the model tests (helpers/models.ts
 *                                     MODEL_ENTRIES) with its seeded inputs
 *   DIR/conf/batchN/harness           the conformance cases (c-backend.ts, deferred pack)
 *   DIR/bench/ITEM/bench              make bench-gpu's items (bench/gpu.ts packBench), and the
 *                                     cuBLAS sources, built there against that machine's cuBLAS
 *   DIR/run.sh RESULTS                runs them all, leaving exit status, log and outputs in
 *                                     RESULTS/{models,conf,bench}/NAME, and RESULTS/gpu.txt
 *   DIR/bundle.tar.xz                 what run.sh needs (not the sources), to carry there
 *
 * Results come back as DIR/results (extract RESULTS there).
 */
import { join } from 'node:path';
import type { BuildOptions } from '../../src/conformance/c-backend.js';
import { SHARED } from '../helpers/paths.js';

export const CONFORMANCE = join(SHARED, 'conformance');

export const bundleParts = (dir: string) =>
  ({
    models: join(dir, 'models'),
    conf: join(dir, 'conf'),
    bench: join(dir, 'bench'),
    results: join(dir, 'results'),
    arch: join(dir, 'arch.txt'),
  }) as const;

/** The conformance run of either phase: the same cases in the same batches. */
export const conformanceOptions = (dir: string, arch: string, phase: 'pack' | 'judge'): BuildOptions => ({
  jobs: 2,
  backend: 'cuda',
  device: true,
  gpuArchs: [arch],
  deferred: { phase, dir: bundleParts(dir).conf, results: join(bundleParts(dir).results, 'conf') },
});

/** A model's directory name in the bundle. */
export const modelDir = (name: string): string => name.replace(/\.mlir$/, '');
