/**
 * @fileoverview The real models of ../shared/models as the backend tests run them: entry function,
 * whether they also run under ASan+UBSan (the big ones take minutes there), and which inputs
 * come from the file's RUN line rather than the seeded generator; and checkModel, the one check
 * every model gets (test/e2e/models-*.test.ts split them so that no test file runs for long).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Test } from 'tap';
import { SourceFile } from '../../src/diag/source.js';
import { FAULT_KINDS } from '../../src/flat/faults.js';
import { runCompiled, runCompiledCuda, SANITIZE_FLAGS } from '../../src/toolchain/run.js';
import { importModule } from '../../src/import/index.js';
import { compareTensors } from '../../src/ir/compare.js';
import type { Module } from '../../src/ir/core.js';
import { SHARED } from './paths.js';
import { expectMatch, reference } from './reference.js';
import { HAVE_GPU, HAVE_NVCC, NO_GPU, NO_NVCC, nvccBuilds } from './cuda.js';
import type { Tensor } from '../../src/ir/tensor.js';

export const MODELS = join(SHARED, 'models');

export function loadModel(name: string): Module {
  return importModule(new SourceFile(join(MODELS, name), readFileSync(join(MODELS, name), 'utf8')));
}

/** The LSTM's input 0 is its documented step mask (a step whose value is exactly 0 is skipped,
 * and random floats never are, so every output would be zero); its documented data input (1..20)
 * would saturate every gate of its splat-weight cell, so that one stays random. */
export const MODEL_ENTRIES: Readonly<
  Record<string, { entry: string; sanitize: boolean; documented?: readonly number[]; faultOpt?: string }>
> = {
  'byteir_mlp_inference_mhlo.mlir': { entry: 'forward', sanitize: true },
  'iree_e2e_edge_detection.mlir': { entry: 'edge_detect_sobel_operator', sanitize: true },
  'iree_e2e_fullyconnected.mlir': { entry: 'main', sanitize: true },
  'iree_e2e_unidirectional_lstm.mlir': { entry: 'main', sanitize: true, documented: [0] },
  'iree_samples_mnist.mlir': { entry: 'predict', sanitize: true },
  'ttmlir_mnist_inference.mlir': { entry: 'main', sanitize: true },
  'gleasonk_jax_resnet_50.mlir': { entry: 'main', sanitize: false },
  'gleasonk_pt_bert.mlir': { entry: 'main', sanitize: false },
  // 22 G multiply-adds per call: at -O0 the faulty programs ran three times as long as -O1 builds them.
  'gleasonk_searchless_chess_9m.mlir': { entry: 'main', sanitize: false, faultOpt: '-O1' },
};

export const SANITIZE = SANITIZE_FLAGS;

/** The seed of the models' inputs. */
export const MODEL_SEED = 11;

/**
 * One model, once through the reference interpreter (seeded inputs, see MODEL_ENTRIES), then:
 * compiled C (-Wall -Wextra -Werror) matches it, every reference output is finite and varied, the
 * arena lies between the liveness bound and the no-reuse sum, the C matches under ASan+UBSan too
 * (small models), and every kind of injected fault (src/flat/faults.ts) makes the comparison
 * fail. Faulty programs build at -O0 (faultOpt where a model says otherwise): they only have to
 * run, and big models build faster. Then the CUDA build (checkCuda).
 */
export async function checkModel(t: Test, name: string): Promise<void> {
  const { entry, sanitize, documented, faultOpt = '-O0' } = MODEL_ENTRIES[name]!;
  const m = loadModel(name);
  const { args, expected } = reference(m, entry, MODEL_SEED, documented);
  const run = await runCompiled(m, entry, args);
  expectMatch(t, run.outputs, expected, name, true);
  const p = run.emitted.plan;
  t.ok(
    p.arenaBytes >= p.lowerBound && p.arenaBytes <= p.noReuseBytes,
    `arena ${p.arenaBytes} within [${p.lowerBound}, ${p.noReuseBytes}]`,
  );
  if (sanitize)
    expectMatch(
      t,
      (await runCompiled(m, entry, args, { flags: SANITIZE })).outputs,
      expected,
      `${name} under ASan+UBSan`,
      true,
    );
  // The faulty programs build and run two at a time (the C compiler is most of a big model's time).
  const faulty: Awaited<ReturnType<typeof runCompiled>>[] = [];
  for (let k = 0; k < FAULT_KINDS.length; k += 2)
    faulty.push(
      ...(await Promise.all(
        FAULT_KINDS.slice(k, k + 2).map((fault) => runCompiled(m, entry, args, { fault, flags: [faultOpt] })),
      )),
    );
  FAULT_KINDS.forEach((fault, k) => {
    const run = faulty[k]!;
    t.equal(run.outputs.length, expected.length, `${fault}: output count`);
    const caught = run.outputs.map((o, i) => compareTensors(o, expected[i]!)).find((d) => !d.ok);
    t.ok(caught, `injected fault ${fault} (${run.emitted.fault}) is caught${caught ? `: ${caught.message}` : ''}`);
  });
  await checkCuda(t, m, name, args, expected);
}

/** The CUDA build: nvcc compiles it for sm_80 and sm_90 (when this machine has nvcc; the big models
 * by conformance's faster check, see nvccBuilds) while the
 * same .cu, built by g++ against rl_cuda.h's host emulation (every block and thread in turn; under
 * ASan+UBSan for the small models), must match the interpreter; with a GPU it also runs there. */
async function checkCuda(t: Test, m: Module, name: string, args: Tensor[], expected: Tensor[]): Promise<void> {
  const { entry, sanitize } = MODEL_ENTRIES[name]!;
  const [emulated] = await Promise.all([
    runCompiledCuda(m, entry, args, sanitize ? { flags: SANITIZE } : {}),
    // The small models (the sanitized ones) through the Makefile's full -O3 build, the big ones checked.
    HAVE_NVCC ? nvccBuilds(t, m, entry, name, sanitize) : t.comment(NO_NVCC),
  ]);
  expectMatch(t, emulated.outputs, expected, `${name} (CUDA, emulated${sanitize ? ' under ASan+UBSan' : ''})`, true);
  if (!HAVE_GPU) return void t.comment(NO_GPU);
  const onGpu = await runCompiledCuda(m, entry, args, { device: true });
  expectMatch(t, onGpu.outputs, expected, `${name} (CUDA, on the GPU)`, true);
}
