/**
 * @fileoverview What the CUDA tests share: whether this machine has nvcc and a GPU, and the nvcc
 * build of a model with the generated Makefile's flags (-O3, warnings as errors) for sm_80 and
 * sm_90, where a ptxas error fails too.
 */
import { join } from 'node:path';
import { execa } from 'execa';
import type { Test } from 'tap';
import { runFilesC, type BuildOptions } from '../../src/conformance/c-backend.js';
import { collectFiles, summarize } from '../../src/conformance/runner.js';
import { caseId, caseWhere, reviewedList } from './conformance.js';
import { compile } from '../../src/pipeline.js';
import { NVCC, writeFiles } from '../../src/toolchain/build.js';
import { NVCC_CHECK_FAST, NVCC_CHECK_FLAGS } from '../../src/conformance/c-backend.js';
import { gencodeFlags } from '../../src/emit-cuda/emit.js';
import type { Module } from '../../src/ir/core.js';
import { scratchDir, SHARED } from './paths.js';

export const HAVE_NVCC = (await execa(NVCC, ['--version'], { reject: false })).exitCode === 0;
export const HAVE_GPU = (await execa('nvidia-smi', ['-L'], { reject: false })).exitCode === 0;
export const NO_NVCC = `skipped the nvcc builds: no ${NVCC}`;
export const NO_GPU = 'not run on a GPU: this machine has none (nvidia-smi -L failed)';

/**
 * nvcc of the emitted .cu for `archs` (sm_80 and sm_90): through the generated Makefile (-O3, the host code
 * too) with `full`, else conformance's check (c-backend.ts NVCC_CHECK_*: every arch through ptxas,
 * warnings as errors, no device optimisation, no host compile, which the emulated g++ build of the
 * same source does with -Werror). The big models take the check: BERT's full build took 74 s of
 * make test's 20 minutes, the check 16 s, and what it catches (an instruction or a parameter list
 * ptxas refuses) does not depend on the optimiser.
 */
export async function nvccBuilds(
  t: Test,
  m: Module,
  entry: string,
  label: string,
  full = true,
  archs: readonly string[] = ['sm_80', 'sm_90'],
): Promise<void> {
  const dir = scratchDir('xla-aot-nvcc-');
  const r = compile(m, {
    entry,
    prefix: 'model',
    sourceName: label,
    cc: 'gcc',
    backend: 'cuda',
    gpuArchs: archs,
  });
  writeFiles(dir, r);
  const b = full
    ? await execa('make', ['-C', dir, `NVCC=${NVCC}`, 'model.o'], { reject: false, all: true })
    : await execa(
        NVCC,
        [...NVCC_CHECK_FLAGS, ...NVCC_CHECK_FAST, ...gencodeFlags(archs), '-I.', 'model.cu', '-o', 'model.fatbin'],
        { cwd: dir, reject: false, all: true },
      );
  t.equal(
    b.exitCode,
    0,
    `${label}: nvcc ${full ? 'builds' : 'checks'} model.cu for ${archs.join(' and ')}${b.exitCode ? `\n${b.all}` : ''}`,
  );
}

// The CUDA backend over all the conformance data: every case the interpreter passes is compiled
// to CUDA; nvcc builds every batch for sm_80 and sm_90 (warnings and ptxas errors fail it; see
// c-backend.ts NVCC_CHECK_FLAGS), and the same source, built as C++ against rl_cuda.h's host
// emulation, must match the interpreter. The bar is the C backend's reviewed passes
// (conformance-c-passes.txt): at least 95% of them must pass here, each one lost is listed, and
// nothing may fail but as a located "not supported yet" (E0301/E0303), as in the C backend. On a
// machine with a GPU (make test-gpu) the same cases also run there, built by nvcc.
export async function judgeCuda(t: Test, o: BuildOptions): Promise<void> {
  const results = await runFilesC(collectFiles([join(SHARED, 'conformance')]), o);
  const cPasses = [...reviewedList('conformance-c-passes.txt')].filter((id) => id.startsWith('PASSED '));
  const passed = new Set(results.filter((r) => r.outcome === 'passed').map((r) => `PASSED ${caseWhere(r)}`));
  const byWhere = new Map(results.map((r) => [`PASSED ${caseWhere(r)}`, r]));
  const lost = cPasses.filter((id) => !passed.has(id));
  for (const id of lost.slice(0, 30))
    t.comment(`C passes, CUDA does not: ${id}: ${byWhere.get(id)?.reason ?? 'not run'}`);
  for (const r of results)
    if (r.outcome === 'failed' && !/error E030[13]:/.test(r.reason))
      t.fail(`${caseId(r)}: a CUDA failure that is not a stated "not supported yet": ${r.reason}`);
  const share = (100 * (cPasses.length - lost.length)) / cPasses.length;
  t.comment(JSON.stringify(summarize(results)));
  t.ok(
    share >= 95,
    `CUDA passes ${cPasses.length - lost.length} of the ${cPasses.length} cases the C backend passes (${share.toFixed(1)}%); ${passed.size} in all`,
  );
}
