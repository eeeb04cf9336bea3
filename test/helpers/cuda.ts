/**
 * @fileoverview What the CUDA tests share: whether this machine has nvcc and a GPU, and the nvcc
 * build of a model with the generated Makefile's flags (-O3, warnings as errors) for sm_80 and
 * sm_90, where a ptxas error fails too.
 */
import { execa } from 'execa';
import type { Test } from 'tap';
import { compile } from '../../src/pipeline.js';
import { NVCC, writeFiles } from '../../src/toolchain/build.js';
import type { Module } from '../../src/ir/core.js';
import { scratchDir } from './paths.js';

export const HAVE_NVCC = (await execa(NVCC, ['--version'], { reject: false })).exitCode === 0;
export const HAVE_GPU = (await execa('nvidia-smi', ['-L'], { reject: false })).exitCode === 0;
export const NO_NVCC = `skipped the nvcc builds: no ${NVCC}`;
export const NO_GPU = 'not run on a GPU: this machine has none (nvidia-smi -L failed)';

/** nvcc -c of the emitted .cu for sm_80 and sm_90, through the generated Makefile. */
export async function nvccBuilds(t: Test, m: Module, entry: string, label: string): Promise<void> {
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
