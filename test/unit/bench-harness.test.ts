/**
 * What keeps `make bench`'s ratios honest, where a test can check it without the references: the
 * OpenBLAS kernel family the bench pins when OpenBLAS's own pick ignores the machine's vectors,
 * and model_bench.c's --lockstep protocol (the C side of timing both sides in turns: "ready"
 * after the warm-up, one sample per line read, the worst status at end of input).
 */
import { execa } from 'execa';
import t from 'tap';
import { buildModelBench, openblasPinFor } from '../../src/bench/harness.js';

t.test('OpenBLAS is pinned only where its pick lacks the vectors the machine has', async (t) => {
  t.equal(openblasPinFor('Prescott', 'avx512'), 'SkylakeX', 'SSE3 kernels on an AVX-512 machine');
  t.equal(openblasPinFor('Haswell', 'avx512'), 'SkylakeX', 'AVX2 kernels on an AVX-512 machine');
  t.equal(openblasPinFor('Prescott', 'avx2'), 'Haswell', 'SSE3 kernels on an AVX2 machine');
  t.equal(openblasPinFor('Sandybridge', 'avx2'), 'Haswell', 'AVX kernels on an AVX2 machine');
  for (const picked of ['SkylakeX', 'Cooperlake', 'SapphireRapids'])
    t.equal(openblasPinFor(picked, 'avx512'), undefined, `${picked} kept on an AVX-512 machine`);
  for (const picked of ['Haswell', 'Zen'])
    t.equal(openblasPinFor(picked, 'avx2'), undefined, `${picked} kept on an AVX2 machine`);
  t.equal(openblasPinFor('ARMV8', 'neon'), undefined, 'no pin on other machines');
});

t.test('model_bench.c --lockstep: ready, a sample per line, the status at the end', async (t) => {
  const mlir = `func.func @main(%x: tensor<256xf32>) -> tensor<256xf32> {
  %y = stablehlo.add %x, %x : tensor<256xf32>
  return %y : tensor<256xf32>
}`;
  const { dir } = await buildModelBench('unit_lockstep', mlir, new Float32Array(256).fill(1.5), 1, {
    WARMUP: 2,
    MIN_SECONDS: 0.001,
  });
  const child = execa('./bench', ['--lockstep'], { cwd: dir, reject: false });
  const lines = child[Symbol.asyncIterator]();
  const next = async (): Promise<string> => String((await lines.next()).value);
  t.equal(await next(), 'ready', 'ready after the warm-up');
  const samples: number[] = [];
  for (let i = 0; i < 3; i++) {
    child.stdin!.write('\n');
    samples.push(Number(await next()));
  }
  t.ok(
    samples.every((s) => s > 0 && s < 0.01),
    `three samples of seconds per call, each positive and small: ${samples.join(', ')}`,
  );
  child.stdin!.end();
  t.same(JSON.parse(await next()), { status: 0 }, 'the status at end of input');
  t.equal((await child).exitCode, 0);
});
