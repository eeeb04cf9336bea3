/**
 * --autotune / --tuning-file (src/toolchain/autotune.ts): every distinct f32 GEMM of a model gets
 * its candidate tiles timed on this machine, the fastest is kept and used, a build from the file
 * is the same program, a tile given by hand is the tile compiled (and still matches the
 * interpreter), and a file for another ISA or not a tuning file at all is refused clearly.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { execa } from 'execa';
import { SourceFile } from '../../src/diag/source.js';
import { importModule } from '../../src/import/index.js';
import { lookupTarget } from '../../src/target/targets.js';
import { autotune, cannotTune, readTuningFile, tuningOf, type TuningFile } from '../../src/toolchain/autotune.js';
import { runCompiled } from '../../src/toolchain/run.js';
import { CLI, ROOT, scratchDir } from '../helpers/paths.js';
import { variedConstant } from '../helpers/mlir.js';
import { expectMatch, reference } from '../helpers/reference.js';

// Two GEMMs of different shapes (a weight each) and a third operand-by-operand product.
const SRC = [
  'func.func @main(%x: tensor<24x96xf32>, %y: tensor<24x40xf32>) -> (tensor<24x40xf32>, tensor<24x24xf32>) {',
  `  %w1 = ${variedConstant([96, 64], 'f32', 31)}`,
  `  %w2 = ${variedConstant([64, 40], 'f32', 32)}`,
  '  %h = stablehlo.dot_general %x, %w1, contracting_dims = [1] x [0] : (tensor<24x96xf32>, tensor<96x64xf32>) -> tensor<24x64xf32>',
  '  %o = stablehlo.dot_general %h, %w2, contracting_dims = [1] x [0] : (tensor<24x64xf32>, tensor<64x40xf32>) -> tensor<24x40xf32>',
  '  %g = stablehlo.dot_general %o, %y, contracting_dims = [1] x [1] : (tensor<24x40xf32>, tensor<24x40xf32>) -> tensor<24x24xf32>',
  '  func.return %o, %g : tensor<24x40xf32>, tensor<24x24xf32>',
  '}',
].join('\n');
const m = importModule(new SourceFile('tune.mlir', SRC));
const host = lookupTarget('host');
const options = { entry: 'main', prefix: 'model', sourceName: 'tune.mlir', cc: 'gcc', target: host };
const skip = cannotTune(host) ?? false;

/** One tuning run, shared by the tests below (each costs a C build per GEMM). */
let tuned: TuningFile | undefined;
const tunedFile = async (): Promise<TuningFile> => (tuned ??= await autotune(m, options));

t.test('autotune times each GEMM once and keeps the fastest candidate', { skip }, async (t) => {
  const file = await tunedFile();
  const entries = Object.entries(file.gemms);
  t.equal(entries.length, 3, `three GEMMs: ${entries.map(([k]) => k).join('; ')}`);
  for (const [key, g] of entries) {
    const times = Object.values(g.candidates);
    t.ok(
      times.length >= 3 && times.every((x) => x > 0 && Number.isFinite(x)),
      `${key}: ${times.length} candidates timed`,
    );
    t.equal(g.microseconds, Math.min(...times), `${key}: the fastest kept`);
    t.equal(
      g.candidates[`${g.mr} x ${g.nrv} vectors, kc ${g.kc}`],
      g.microseconds,
      `${key}: its tile is the fastest's`,
    );
  }
  const again = await autotune(m, options, file);
  t.same(again.gemms, file.gemms, 'GEMMs already in the file are not timed again');
});

t.test(
  'the tuned tiles are compiled, match the interpreter, and a hand-made tile is taken as given',
  { skip },
  async (t) => {
    const file = await tunedFile();
    const { args, expected } = reference(m, 'main', 4);
    const tuned = await runCompiled(m, 'main', args, { tuning: tuningOf(file) });
    expectMatch(t, tuned.outputs, expected, 'tuned');
    const source = tuned.emitted.files.get('model.c') as string;
    const lanes = host.vectorBits / 32;
    for (const g of Object.values(file.gemms))
      t.match(
        source,
        `tile ${g.mr} x ${g.nrv * lanes} (${g.mr} rows x ${g.nrv} vectors`,
        `tile ${g.mr} x ${g.nrv} compiled`,
      );
    // Every GEMM on a 3 x 1 tile with a 16-deep k block: unusual, so it shows that the file decides.
    const odd: TuningFile = {
      ...file,
      gemms: Object.fromEntries(
        Object.keys(file.gemms).map((k) => [k, { mr: 3, nrv: 1, kc: 16, microseconds: 1, candidates: {} }]),
      ),
    };
    const forced = await runCompiled(m, 'main', args, { tuning: tuningOf(odd) });
    expectMatch(t, forced.outputs, expected, 'a 3 x 1 tile, kc 16');
    const forcedSource = forced.emitted.files.get('model.c') as string;
    t.equal(
      forcedSource.match(new RegExp(`tile 3 x ${lanes} \\(3 rows x 1 vectors of ${lanes}\\), kc 16,`, 'g'))?.length,
      3,
    );
    // A tile that does not fit the registers (a file from another machine): the cost model's instead.
    const huge: TuningFile = {
      ...file,
      gemms: Object.fromEntries(
        Object.keys(file.gemms).map((k) => [k, { mr: 16, nrv: 8, kc: 16, microseconds: 1, candidates: {} }]),
      ),
    };
    const fallback = await runCompiled(m, 'main', args, { tuning: tuningOf(huge) });
    t.same(fallback.emitted.files.get('model.c'), (await runCompiled(m, 'main', args)).emitted.files.get('model.c'));
  },
);

t.test(
  'CLI: --autotune writes the file, --tuning-file rebuilds the same program, bad files are refused',
  { skip },
  async (t) => {
    const dir = scratchDir('xla-aot-autotune-');
    const mlir = join(dir, 'tune.mlir');
    writeFileSync(mlir, SRC);
    const cli = (args: string[]) =>
      execa('node', [CLI, mlir, '--emit', 'c', ...args], { cwd: ROOT, reject: false, all: true });
    const tuned = await cli(['-o', join(dir, 'a'), '--autotune']);
    t.equal(tuned.exitCode, 0, tuned.all);
    t.match(tuned.stdout, /autotune: 3 GEMM\(s\) timed on this machine, 3 in .*tuning\.json/);
    const path = join(dir, 'a', 'tuning.json');
    t.equal(Object.keys(readTuningFile(path, host).gemms).length, 3);
    const rebuilt = await cli(['-o', join(dir, 'b'), '--tuning-file', path]);
    t.equal(rebuilt.exitCode, 0, rebuilt.all);
    t.equal(readFileSync(join(dir, 'b', 'model.c'), 'utf8'), readFileSync(join(dir, 'a', 'model.c'), 'utf8'));
    const other = join(dir, 'other.json');
    const file = JSON.parse(readFileSync(path, 'utf8')) as TuningFile;
    writeFileSync(other, JSON.stringify({ ...file, simd: 'neon', vectorBits: 128, target: 'aarch64' }));
    const wrongIsa = await cli(['-o', join(dir, 'c'), '--tuning-file', other]);
    t.equal(wrongIsa.exitCode, 1);
    t.match(wrongIsa.stderr, /made for neon 128-bit \(target aarch64\), but target host is/);
    writeFileSync(other, '{"gemms": 3');
    const broken = await cli(['-o', join(dir, 'd'), '--tuning-file', other]);
    t.equal(broken.exitCode, 1);
    t.match(broken.stderr, /cannot read tuning file .*other\.json/);
    const missing = await cli(['-o', join(dir, 'e'), '--tuning-file', join(dir, 'none.json')]);
    t.equal(missing.exitCode, 1);
    t.match(missing.stderr, /cannot read tuning file .*none\.json/);
    const cross = await cli(['-o', join(dir, 'f'), '--target', 'cortex-m4', '--autotune']);
    t.equal(cross.exitCode, 1);
    t.match(cross.stderr, /--autotune times kernels on this machine: target cortex-m4 does not run here natively/);
  },
);
