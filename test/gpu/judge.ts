/**
 * @fileoverview `make gpu-judge` (bundle.ts): the results a GPU machine's run.sh left in
 * GPU_BUNDLE/results, judged as make test-gpu judges its own runs: every model's outputs match the
 * interpreter (and memcheck found nothing in the small ones), the conformance cases pass as in
 * conformance-cuda.test.ts; then bench-gpu's report. Run by tap: GPU_BUNDLE=DIR tap judge.js.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { BENCH_ITEMS, CUBLAS_REL_BOUND, matchesCublas, outputCheck, reportPacked } from '../../src/bench/gpu.js';
import { fromStorageBytes } from '../../src/emit-common/ctypes.js';
import { judgeCuda } from '../helpers/cuda.js';
import { loadModel, MODEL_ENTRIES, MODEL_SEED } from '../helpers/models.js';
import { expectMatch, reference } from '../helpers/reference.js';
import { bundleParts, conformanceOptions, modelDir } from './bundle.js';
import { readTextIfExists } from '../../src/util/files.js';

const dir = process.env['GPU_BUNDLE'];
if (!dir || !existsSync(bundleParts(dir).results)) throw new Error('GPU_BUNDLE=DIR, with DIR/results from run.sh');
const parts = bundleParts(dir);
const arch = readFileSync(parts.arch, 'utf8').trim();
const read = (...p: string[]): string => readTextIfExists(join(...p));
t.comment(`GPU: ${read(parts.results, 'gpu.txt').trim()}; built for ${arch}`);

const leftOut = read(dir, 'left-out.txt');
for (const [name, e] of Object.entries(MODEL_ENTRIES))
  t.test(
    `${name} on the GPU`,
    { skip: leftOut.split('\n').find((l) => l.startsWith(`${name}:`)) ?? false },
    async (t) => {
      const res = join(parts.results, 'models', modelDir(name));
      const rc = read(res, 'rc').trim();
      t.equal(
        rc,
        '0',
        `the harness exits 0 (${rc || 'not run'})${rc === '0' ? '' : `: ${read(res, 'log').slice(-500)}`}`,
      );
      const { expected } = reference(loadModel(name), e.entry, MODEL_SEED, e.documented);
      const outputs = expected.flatMap((want, i) => {
        const f = join(res, `out${i}.bin`);
        return existsSync(f) ? [fromStorageBytes(readFileSync(f), want.type)] : [];
      });
      expectMatch(t, outputs, expected, `${name} (CUDA, on the GPU)`, true);
      if (e.sanitize) {
        const mc = join(parts.results, 'memcheck', modelDir(name));
        t.match(
          read(mc, 'log'),
          /ERROR SUMMARY: 0 errors/,
          `compute-sanitizer memcheck: ${read(mc, 'log').slice(-300)}`,
        );
      }
    },
  );

t.test('the conformance cases on the GPU', (t) => judgeCuda(t, conformanceOptions(dir, arch, 'judge')));

t.test('bench-gpu report', async (t) => {
  // Benchmarks whose harness was over the bundle's size limit were not carried (left-out.txt).
  const notCarried = BENCH_ITEMS.map((i) => i.name).filter((n) => leftOut.includes(`bench ${n}:`));
  for (const n of notCarried) t.comment(`bench ${n}: left out of the bundle (${dir}/left-out.txt)`);
  t.equal(reportPacked(join(parts.results, 'bench'), notCarried), 0, 'every benchmark carried left a median');
  // The GEMMs' outputs, too big to bring back, were compared there with cuBLAS's (compare.c).
  for (const item of BENCH_ITEMS.filter((i) => i.gemm)) {
    const check = outputCheck(read(parts.results, 'bench', item.name, 'check.log'));
    const bound = CUBLAS_REL_BOUND[item.gemm!.type]!;
    t.ok(
      matchesCublas(check, item.gemm!.type),
      `${item.name}: output vs cuBLAS's ${check ? `${check.rel.toExponential(2)} relative, ${check.nonfinite} non-finite` : 'not compared'} (bound ${bound})`,
    );
  }
});
