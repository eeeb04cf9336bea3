import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import t, { type Test } from 'tap';
import { CompileError } from '../../src/diag/diagnostics.js';
import { SourceFile } from '../../src/diag/source.js';
import { compile } from '../../src/pipeline.js';
import { runCompiled, runCompiledCuda, type CompiledRun, type RunOptions } from '../../src/toolchain/run.js';
import { importModule } from '../../src/import/index.js';
import { Interpreter } from '../../src/interpret/eval.js';
import { makeTensor, type Tensor } from '../../src/ir/tensor.js';
import type { Module } from '../../src/ir/core.js';
import { CLI, HAVE_SHARED, ROOT, scratchDir } from '../helpers/paths.js';
import { variedConstant } from '../helpers/mlir.js';
import { loadModel, MODELS, SANITIZE } from '../helpers/models.js';
import { expectMatch, reference, sameBits } from '../helpers/reference.js';

const SAME_3X3 = 'stride = [1, 1], pad = [[1, 1], [1, 1]]';
/** A 2-D NHWC x HWIO -> NHWC stablehlo.convolution of `x` and `w` (MLIR text, `types` its signature). */
const nhwcConv = (x: string, w: string, window: string, types: string, groups = 1): string =>
  `stablehlo.convolution(${x}, ${w}) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {${window}} {batch_group_count = 1 : i64, feature_group_count = ${groups} : i64} : ${types}`;

/** Compiles `src` (@main), runs it on seeded inputs (by default under ASan+UBSan) and checks every
 * output against the interpreter; returns the run for further checks on the generated code. */
async function matchesInterpreter(
  t: Test,
  name: string,
  src: string,
  seed: number,
  opts: RunOptions = { flags: SANITIZE },
  label = '',
): Promise<CompiledRun> {
  const m = importModule(new SourceFile(name, src));
  const { args, expected } = reference(m, 'main', seed);
  const run = await runCompiled(m, 'main', args, opts);
  expectMatch(t, run.outputs, expected, `${name}${label}${opts.flags === SANITIZE ? ' under ASan+UBSan' : ''}`);
  return run;
}

t.test('an op the C backend cannot lower yet is refused with a located E0301', async (t) => {
  const src = [
    'func.func @main(%x: tensor<2xi64>) -> tensor<2xi64> {',
    '  %0 = "stablehlo.all_reduce"(%x) ({',
    '  ^bb0(%a: tensor<i64>, %b: tensor<i64>):',
    '    %s = stablehlo.add %a, %b : tensor<i64>',
    '    stablehlo.return %s : tensor<i64>',
    '  }) {replica_groups = dense<[[0]]> : tensor<1x1xi64>} : (tensor<2xi64>) -> tensor<2xi64>',
    '  func.return %0 : tensor<2xi64>',
    '}',
  ].join('\n');
  const m = importModule(new SourceFile('collective.mlir', src));
  try {
    compile(m, { entry: 'main', prefix: 'model', sourceName: 'collective.mlir', cc: 'gcc' });
    t.fail('expected an error');
  } catch (e) {
    t.ok(e instanceof CompileError);
    const d = (e as CompileError).diagnostic;
    t.equal(d.code, 'E0301');
    t.same([d.loc?.file, d.loc?.line, d.loc?.col], ['collective.mlir', 2, 8]);
  }
});

t.test(
  'an app links model.so / libmodel.a through model.h alone',
  { skip: HAVE_SHARED ? false : 'no ../shared/models' },
  async (t) => {
    const dir = scratchDir('xla-aot-app-');
    const model = join(MODELS, 'iree_e2e_fullyconnected.mlir');
    const r = await execa('node', [CLI, model, '-o', dir, '--report'], { cwd: ROOT, reject: false });
    t.equal(r.exitCode, 0, r.stderr);
    t.match(r.stdout, /arena: \d+ bytes \(liveness lower bound \d+, no-reuse sum \d+/);
    const inputs = [
      new Float32Array([1, -2, -3, 4, -5]),
      new Float32Array([15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]),
    ];
    inputs.forEach((x, i) => writeFileSync(join(dir, `in${i}.bin`), Buffer.from(x.buffer)));
    const app = join(ROOT, 'test', 'c', 'app.c');
    const flags = ['-O2', '-std=c99', '-Wall', '-Wextra', '-Werror', '-pedantic', `-I${dir}`];
    await execa('gcc', [...flags, app, join(dir, 'libmodel.a'), '-lm', '-o', join(dir, 'app_static')]);
    await execa('gcc', [
      ...flags,
      app,
      `-L${dir}`,
      '-lmodel',
      `-Wl,-rpath,${dir}`,
      '-lm',
      '-o',
      join(dir, 'app_shared'),
    ]);
    const m = loadModel('iree_e2e_fullyconnected.mlir');
    const f = m.funcs.get('main')!;
    const { parseInput } = await import('../../src/interpret/inputs.js');
    const args = [
      parseInput('1x5xf32=1,-2,-3,4,-5', f, 0),
      parseInput('1x5x3x1xf32=15,14,13,12,11,10,9,8,7,6,5,4,3,2,1', f, 1),
    ];
    const [expected] = new Interpreter(m).runFunc(f, args) as Tensor[];
    for (const exe of ['app_static', 'app_shared']) {
      const out = await execa(join(dir, exe), [join(dir, 'in0.bin'), join(dir, 'in1.bin')], { reject: false });
      t.equal(out.exitCode, 0, `${exe} ran`);
      const got = out.stdout.trim().split('\n').map(Number);
      t.equal(got.length, expected!.data.length, `${exe} printed every output element`);
      expectMatch(t, [makeTensor(expected!.type, Float64Array.from(got.map(Math.fround)))], [expected!], exe);
    }
  },
);

t.test('generated output is deterministic', { skip: HAVE_SHARED ? false : 'no ../shared/models' }, async (t) => {
  const a = scratchDir('xla-aot-det-');
  const b = scratchDir('xla-aot-det-');
  const model = join(MODELS, 'iree_samples_mnist.mlir');
  for (const d of [a, b]) await execa('node', [CLI, model, '-o', d, '--emit', 'c'], { cwd: ROOT });
  const files = readdirSync(a).sort();
  t.same(readdirSync(b).sort(), files);
  for (const f of files)
    t.ok(Buffer.compare(readFileSync(join(a, f)), readFileSync(join(b, f))) === 0, `${f} byte-identical`);
  t.ok(
    files.includes('model_weights.bin') && files.includes('model_weights.S'),
    'large weights go to the .incbin blob',
  );
  const src = readFileSync(join(a, 'model.c'), 'utf8');
  const kernels = src.match(/^RL_KERNEL void k\d+_/gm) ?? [];
  const comments = src.match(/^\/\* k\d+_\w+: ([a-z_.]+ at [^ ]+:\d+:\d+|fuses ([a-z_]+ \(\d+:\d+\)(, )?)+)/gm) ?? [];
  t.ok(
    kernels.length > 0 && comments.length === kernels.length,
    'every kernel has a comment naming its op and location',
  );
});

t.test('constant folding and CSE shrink the program and keep its results', async (t) => {
  const src = [
    'func.func @main(%x: tensor<2x3xf32>) -> tensor<2x3xf32> {',
    '  %w = stablehlo.constant dense<[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]> : tensor<3x2xf32>',
    '  %wt = stablehlo.transpose %w, dims = [1, 0] : (tensor<3x2xf32>) -> tensor<2x3xf32>',
    '  %a = stablehlo.add %x, %wt : tensor<2x3xf32>',
    '  %b = stablehlo.add %x, %wt : tensor<2x3xf32>',
    '  %c = stablehlo.multiply %a, %b : tensor<2x3xf32>',
    '  func.return %c : tensor<2x3xf32>',
    '}',
  ].join('\n');
  const m = importModule(new SourceFile('fold.mlir', src));
  const plain = compile(m, {
    entry: 'main',
    prefix: 'model',
    sourceName: 'fold.mlir',
    cc: 'gcc',
    simplify: false,
    fusion: false,
  });
  const simplified = compile(m, { entry: 'main', prefix: 'model', sourceName: 'fold.mlir', cc: 'gcc', fusion: false });
  t.same(plain.kernelNames, ['k0_transpose', 'k1_add', 'k2_add', 'k3_multiply']);
  t.same(simplified.kernelNames, ['k0_add', 'k1_multiply'], 'transpose of a constant folded, duplicate add removed');
  const {
    args,
    expected: [expected],
  } = reference(m, 'main', 3);
  expectMatch(t, (await runCompiled(m, 'main', args)).outputs, [expected!], 'folded program');
});

t.test('AVX-512 builds copy constant patterns intact (GCC 12.2 broadcast miscompile worked around)', async (t) => {
  const { cannotRunHere, lookupTarget } = await import('../../src/target/targets.js');
  const why = cannotRunHere(lookupTarget('x86-64-v4'));
  if (why) {
    t.pass('x86-64-v4: not run', { skip: why });
    return;
  }
  const src = [
    'func.func @main() -> tensor<4x3xf32> {',
    '  %c = stablehlo.constant dense<[[0.75, 0.75, 0.75], [0.75, 0.0, 0.0], [0.0, 0.0, 0.5], [0.75, 0.0, 0.75]]> : tensor<4x3xf32>',
    '  func.return %c : tensor<4x3xf32>',
    '}',
  ].join('\n');
  const m = importModule(new SourceFile('pattern.mlir', src));
  const [expected] = new Interpreter(m).runFunc(m.funcs.get('main')!, []) as Tensor[];
  const run = await runCompiled(m, 'main', [], { target: lookupTarget('x86-64-v4') });
  t.same(Array.from(run.outputs[0]!.data as Float64Array), Array.from(expected!.data as Float64Array));
});

t.test('fusion and the GEMM path: fewer kernels, no splat weights, same results as unfused scalar code', async (t) => {
  const { FIXTURES } = await import('../helpers/paths.js');
  const path = join(FIXTURES, 'models', 'small_cnn.mlir');
  const m = importModule(new SourceFile(path, readFileSync(path, 'utf8')));
  const {
    args,
    expected: [expected],
  } = reference(m, 'main', 4);
  const plain = compile(m, {
    entry: 'main',
    prefix: 'model',
    sourceName: 'small_cnn.mlir',
    cc: 'gcc',
    fusion: false,
    simd: false,
  });
  const fast = compile(m, { entry: 'main', prefix: 'model', sourceName: 'small_cnn.mlir', cc: 'gcc' });
  t.ok(
    fast.kernelNames.length < plain.kernelNames.length,
    `${fast.kernelNames.length} kernels instead of ${plain.kernelNames.length}`,
  );
  // The bias and ReLU run after each 2x2 pool (canonicalize/pool-first.ts), fused together.
  t.match(
    fast.fusionGroups.join('\n'),
    /k2_fused_maximum: broadcast_in_dim \(\d+:\d+\), add \(\d+:\d+\), maximum \(\d+:\d+\)/,
    'bias + ReLU fused into one loop, after the pool',
  );
  const src = fast.files.get('model.c') as string;
  // One input channel: a direct convolution when 8 output channels fill a vector (AVX2), else an implicit GEMM.
  t.match(
    src,
    /GEMM \[784 x 9\] \* \[9 x 8\]|Direct convolution 1x28x28x1 \(NHWC\)/,
    'the first convolution runs as an implicit GEMM or a direct convolution',
  );
  t.notMatch(src, /tensor<1x28x28x8xf32> from/, 'the splat zero of the ReLU is a literal, not a 25 KB weight');
  t.notMatch(
    plain.files.get('model.c') as string,
    /tensor<1x28x28x8xf32> from/,
    'without fusion that splat is not a weight either: it is generated',
  );
  t.match(
    plain.files.get('model.c') as string,
    /k\d+_broadcast_in_dim: stablehlo.broadcast_in_dim at small_cnn.mlir:11:12/,
    "by a broadcast kernel at the constant's place",
  );
  expectMatch(t, (await runCompiled(m, 'main', args)).outputs, [expected!], 'fused + GEMM');
  expectMatch(
    t,
    (await runCompiled(m, 'main', args, { flags: SANITIZE })).outputs,
    [expected!],
    'fused + GEMM under ASan+UBSan',
  );
});

// A splat constant read by several kernels (MobileNet's ReLU6 bounds, shared by every
// activation of a size) is broadcast once per reader, so that fusion folds each into its reader
// as a literal; one broadcast read by all of them had stayed a kernel writing a buffer.
const SHARED_SPLAT = `func.func @main(%x: tensor<8x16xf32>, %y: tensor<8x16xf32>, %w: tensor<16x16xf32>) -> (tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>) {
  %k = stablehlo.constant dense<6.0> : tensor<8x16xf32>
  %0 = stablehlo.minimum %x, %k : tensor<8x16xf32>
  %1 = stablehlo.dot_general %y, %w, contracting_dims = [1] x [0] : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
  %2 = stablehlo.minimum %1, %k : tensor<8x16xf32>
  %3 = stablehlo.dot_general %k, %w, contracting_dims = [1] x [0] : (tensor<8x16xf32>, tensor<16x16xf32>) -> tensor<8x16xf32>
  func.return %0, %2, %3 : tensor<8x16xf32>, tensor<8x16xf32>, tensor<8x16xf32>
}
`;

// Slices are index maps in fused loops (fusion/fuse.ts): an LSTM step's gates, four slices of one
// product, fuse with the gate math (the product a leaf read through four maps), and so do two
// strided slices of one computed value (read from memory: not computed twice).
const SLICES = `func.func @main(%g: tensor<2x64xf32>, %c: tensor<2x16xf32>, %x: tensor<4x10xf32>) -> (tensor<2x16xf32>, tensor<2x16xf32>, tensor<2x5xf32>) {
  %i = stablehlo.slice %g [0:2, 0:16] : (tensor<2x64xf32>) -> tensor<2x16xf32>
  %f = stablehlo.slice %g [0:2, 16:32] : (tensor<2x64xf32>) -> tensor<2x16xf32>
  %o = stablehlo.slice %g [0:2, 32:48] : (tensor<2x64xf32>) -> tensor<2x16xf32>
  %u = stablehlo.slice %g [0:2, 48:64] : (tensor<2x64xf32>) -> tensor<2x16xf32>
  %is = stablehlo.logistic %i : tensor<2x16xf32>
  %fs = stablehlo.logistic %f : tensor<2x16xf32>
  %os = stablehlo.logistic %o : tensor<2x16xf32>
  %ut = stablehlo.tanh %u : tensor<2x16xf32>
  %fc = stablehlo.multiply %fs, %c : tensor<2x16xf32>
  %iu = stablehlo.multiply %is, %ut : tensor<2x16xf32>
  %c2 = stablehlo.add %fc, %iu : tensor<2x16xf32>
  %t2 = stablehlo.tanh %c2 : tensor<2x16xf32>
  %h = stablehlo.multiply %os, %t2 : tensor<2x16xf32>
  %y = stablehlo.exponential %x : tensor<4x10xf32>
  %a = stablehlo.slice %y [0:2, 0:10:2] : (tensor<4x10xf32>) -> tensor<2x5xf32>
  %b = stablehlo.slice %y [2:4, 1:10:2] : (tensor<4x10xf32>) -> tensor<2x5xf32>
  %r = stablehlo.add %a, %b : tensor<2x5xf32>
  func.return %c2, %h, %r : tensor<2x16xf32>, tensor<2x16xf32>, tensor<2x5xf32>
}
`;

t.test('slices fuse as index maps, a leaf read through several; C and CUDA match the interpreter', async (t) => {
  const m = importModule(new SourceFile('slices.mlir', SLICES));
  const r = compile(m, { entry: 'main', prefix: 'model', sourceName: 'slices.mlir', cc: 'gcc' });
  t.same(r.kernelNames, ['k0_fused_add', 'k1_fused_multiply', 'k2_exponential', 'k3_fused_add'], 'slices fused');
  t.match(String(r.files.get('model.c')), /fuses slice \(16:8\), slice \(17:8\), add \(18:8\)/);
  const { args, expected } = reference(m, 'main', 4);
  expectMatch(t, (await runCompiled(m, 'main', args, { flags: SANITIZE })).outputs, expected, 'slices (C, ASan+UBSan)');
  expectMatch(
    t,
    (await runCompiledCuda(m, 'main', args, { flags: SANITIZE })).outputs,
    expected,
    'slices (CUDA, emulated)',
  );
});

t.test('a splat read by several kernels is a literal in each fused reader', async (t) => {
  const m = importModule(new SourceFile('shared_splat.mlir', SHARED_SPLAT));
  const r = compile(m, { entry: 'main', prefix: 'model', sourceName: 'shared_splat.mlir', cc: 'gcc' });
  t.same(
    r.kernelNames,
    ['k0_fused_minimum', 'k1_dot_general_fused', 'k2_broadcast_in_dim', 'k3_dot_general'],
    'the minimums fold their broadcasts in; the GEMM reading the splat as its A has one of its own',
  );
  const { args, expected } = reference(m, 'main', 6);
  expectMatch(t, (await runCompiled(m, 'main', args, { flags: SANITIZE })).outputs, expected, 'shared splat');
  const plain = compile(m, {
    entry: 'main',
    prefix: 'model',
    sourceName: 'shared_splat.mlir',
    cc: 'gcc',
    fusion: false,
  });
  t.same(plain.kernelNames.filter((k) => k.includes('broadcast')).length, 3, 'unfused: a broadcast before each reader');
});

t.test(
  'GEMM path edge cases match the interpreter: strided/padded/dilated indirect convolution, runtime-packed B, batched and transposed dots',
  async (t) => {
    const src = [
      'func.func @main(%x: tensor<2x9x9x16xf32>, %w: tensor<3x3x16x24xf32>, %a: tensor<3x5x7xf32>, %b: tensor<3x20x7xf32>) -> (tensor<2x4x8x24xf32>, tensor<3x5x20xf32>) {',
      `  %y = ${nhwcConv('%x', '%w', 'stride = [2, 1], pad = [[1, 2], [0, 1]], rhs_dilate = [2, 1]', '(tensor<2x9x9x16xf32>, tensor<3x3x16x24xf32>) -> tensor<2x4x8x24xf32>')}`,
      '  %d = stablehlo.dot_general %a, %b, batching_dims = [0] x [0], contracting_dims = [2] x [2] : (tensor<3x5x7xf32>, tensor<3x20x7xf32>) -> tensor<3x5x20xf32>',
      '  func.return %y, %d : tensor<2x4x8x24xf32>, tensor<3x5x20xf32>',
      '}',
    ].join('\n');
    const run = await matchesInterpreter(t, 'edges.mlir', src, 9);
    const c = run.emitted.files.get('model.c') as string;
    t.match(
      c,
      /indirect GEMM\), B packed at run time/,
      'the convolution reads the image through row pointers; its runtime weight is packed at run time',
    );
    t.match(
      c,
      /GEMM 3 x \[5 x 7\] \* \[7 x 20\]/,
      'the batched dot with a transposed right operand takes the GEMM path',
    );
  },
);

t.test(
  '--threads 2: GEMM tiles, GEMM epilogues and the rows of fused loops, pooling and fused reductions split across a pool in the arena give bitwise the single-thread results, clean under TSan',
  async (t) => {
    const { FIXTURES } = await import('../helpers/paths.js');
    const src = [
      'func.func @main(%a: tensor<96x256xf32>, %x: tensor<1x12x12x32xf32>, %w: tensor<3x3x32x48xf32>) -> (tensor<96x200xf32>, tensor<1x12x12x48xf32>) {',
      `  %b = ${variedConstant([256, 200], 'f32', 21)}`,
      '  %d = stablehlo.dot_general %a, %b, contracting_dims = [1] x [0] : (tensor<96x256xf32>, tensor<256x200xf32>) -> tensor<96x200xf32>',
      '  %c = stablehlo.tanh %d : tensor<96x200xf32>',
      `  %y = ${nhwcConv('%x', '%w', SAME_3X3, '(tensor<1x12x12x32xf32>, tensor<3x3x32x48xf32>) -> tensor<1x12x12x48xf32>')}`,
      '  func.return %c, %y : tensor<96x200xf32>, tensor<1x12x12x48xf32>',
      '}',
    ].join('\n');
    // Loops big enough to be split (PARALLEL_MIN_ELEMENTS): a fused chain, max pooling, a fused sum
    // of squares, and any kernel that is one parallel loop (a transpose).
    const rows = [
      'func.func @main(%x: tensor<64x1024xf32>, %p: tensor<8x32x32x16xf32>, %q: tensor<256x256xf32>) -> (tensor<64x1024xf32>, tensor<8x16x16x16xf32>, tensor<256xf32>, tensor<256x256xf32>) {',
      '  %h = stablehlo.constant dense<0.5> : tensor<64x1024xf32>',
      '  %m = stablehlo.multiply %x, %h : tensor<64x1024xf32>',
      '  %t = stablehlo.tanh %m : tensor<64x1024xf32>',
      '  %y = stablehlo.add %t, %x : tensor<64x1024xf32>',
      '  %ninf = stablehlo.constant dense<0xFF800000> : tensor<f32>',
      '  %pool = "stablehlo.reduce_window"(%p, %ninf) ({',
      '  ^bb0(%a: tensor<f32>, %b: tensor<f32>):',
      '    %mx = stablehlo.maximum %a, %b : tensor<f32>',
      '    stablehlo.return %mx : tensor<f32>',
      '  }) {window_dimensions = array<i64: 1, 2, 2, 1>, window_strides = array<i64: 1, 2, 2, 1>} : (tensor<8x32x32x16xf32>, tensor<f32>) -> tensor<8x16x16x16xf32>',
      '  %zero = stablehlo.constant dense<0.0> : tensor<f32>',
      '  %sq = stablehlo.multiply %q, %q : tensor<256x256xf32>',
      '  %ss = stablehlo.reduce(%sq init: %zero) applies stablehlo.add across dimensions = [1] : (tensor<256x256xf32>, tensor<f32>) -> tensor<256xf32>',
      '  %tq = stablehlo.transpose %q, dims = [1, 0] : (tensor<256x256xf32>) -> tensor<256x256xf32>',
      '  func.return %y, %pool, %ss, %tq : tensor<64x1024xf32>, tensor<8x16x16x16xf32>, tensor<256xf32>, tensor<256x256xf32>',
      '}',
    ].join('\n');
    const cases: [Module, RegExp[]][] = [
      [
        importModule(new SourceFile('threads.mlir', src)),
        [
          /rl_pool_run\(pool, [^,]+, k0_dot_general_fused_tiles, &job\)/,
          // the fused tanh of finished rows, split by rows too
          /rl_pool_run\(pool, mc, k0_dot_general_fused_rows, &rows_job\)/,
          /rl_pool_run\(pool, [^,]+, k1_convolution_tiles, &job\)/,
        ],
      ],
      [
        importModule(
          new SourceFile(
            join(FIXTURES, 'models', 'small_cnn.mlir'),
            readFileSync(join(FIXTURES, 'models', 'small_cnn.mlir'), 'utf8'),
          ),
        ),
        [/rl_pool_run\(pool, [^,]+, k\d+_\w+_tiles, &job\)/],
      ],
      [
        importModule(new SourceFile('rows.mlir', rows)),
        [
          /rl_pool_run\(pool, 64, k\d+_fused_add_rows, &job\)/,
          /rl_pool_run\(pool, 8, k\d+_reduce_window_rows, &job\)/,
          /rl_pool_run\(pool, 256, k\d+_fused_reduce_rows, &job\)/,
          /rl_pool_run\(pool, 256, k\d+_transpose_rows, &job\)/,
        ],
      ],
      // Nothing large enough to split: the pool stays idle (its unused pointer once failed -Werror).
      [
        importModule(
          new SourceFile(
            'tiny.mlir',
            'func.func @main(%a: tensor<4xf32>, %b: tensor<4xf32>) -> tensor<4xf32> {\n  %0 = stablehlo.add %a, %b : tensor<4xf32>\n  func.return %0 : tensor<4xf32>\n}\n',
          ),
        ),
        [],
      ],
    ];
    for (const [m, onPool] of cases) {
      const { args, expected } = reference(m, 'main', 6);
      const one = await runCompiled(m, 'main', args);
      const two = await runCompiled(m, 'main', args, { threads: 2 });
      for (const re of onPool)
        t.match(two.emitted.files.get('model.c') as string, re, `${m.source.name}: ${re} runs on the pool`);
      expectMatch(t, two.outputs, expected, `${m.source.name} with 2 threads`);
      sameBits(t, two.outputs, one.outputs, `${m.source.name}: bitwise equal to one thread, output`);
      const tsan = await runCompiled(m, 'main', args, { threads: 2, flags: ['-O1', '-g', '-fsanitize=thread'] });
      sameBits(t, tsan.outputs, one.outputs, `${m.source.name} under TSan, output`);
    }
  },
);

t.test('a GEMM epilogue may read the GEMM operand itself (residual: relu(x.w + x))', async (t) => {
  const src = [
    'func.func @main(%x: tensor<16x16xf32>) -> tensor<16x16xf32> {',
    `  %w = ${variedConstant([16, 16], 'f32', 22)}`,
    '  %d = stablehlo.dot_general %x, %w, contracting_dims = [1] x [0] : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32>',
    '  %s = stablehlo.add %d, %x : tensor<16x16xf32>',
    '  %z = stablehlo.constant dense<0.0> : tensor<16x16xf32>',
    '  %r = stablehlo.maximum %s, %z : tensor<16x16xf32>',
    '  func.return %r : tensor<16x16xf32>',
    '}',
  ].join('\n');
  const m = importModule(new SourceFile('residual.mlir', src));
  const {
    args,
    expected: [expected],
  } = reference(m, 'main', 8);
  const run = await runCompiled(m, 'main', args, { flags: SANITIZE });
  t.same(run.emitted.fusionGroups, ['k0_dot_general_fused: dot_general (3:8), add (4:8), maximum (6:8)']);
  expectMatch(t, run.outputs, [expected!], 'residual under ASan+UBSan');
});

t.test(
  'direct convolution (few input channels, depthwise) and vector pooling match the interpreter on AVX-512, AVX2, NEON and Helium, and with 2 threads',
  async (t) => {
    const src = [
      'func.func @main(%x: tensor<2x11x10x3xf32>, %w: tensor<3x3x3x20xf32>, %d: tensor<2x9x9x40xf32>, %dw: tensor<3x3x1x40xf32>, %b: tensor<40xf32>) -> (tensor<2x5x9x20xf32>, tensor<2x3x3x40xf32>, tensor<2x5x5x40xf32>) {',
      // Dense, 3 input channels: strides, asymmetric padding, dilation; 20 outputs = full vectors + a scalar tail.
      `  %y = ${nhwcConv('%x', '%w', 'stride = [2, 1], pad = [[1, 2], [0, 1]], rhs_dilate = [2, 1]', '(tensor<2x11x10x3xf32>, tensor<3x3x3x20xf32>) -> tensor<2x5x9x20xf32>')}`,
      // Depthwise 3x3 stride 2 with a bias + ReLU epilogue, then max pooling with padding (vector channels + tail).
      `  %c = ${nhwcConv('%d', '%dw', 'stride = [2, 2], pad = [[1, 1], [1, 1]]', '(tensor<2x9x9x40xf32>, tensor<3x3x1x40xf32>) -> tensor<2x5x5x40xf32>', 40)}`,
      '  %bb = stablehlo.broadcast_in_dim %b, dims = [3] : (tensor<40xf32>) -> tensor<2x5x5x40xf32>',
      '  %s = stablehlo.add %c, %bb : tensor<2x5x5x40xf32>',
      '  %z = stablehlo.constant dense<0.0> : tensor<2x5x5x40xf32>',
      '  %r = stablehlo.maximum %s, %z : tensor<2x5x5x40xf32>',
      '  %ninf = stablehlo.constant dense<0xFF800000> : tensor<f32>',
      '  %p = "stablehlo.reduce_window"(%r, %ninf) ({',
      '  ^bb0(%a: tensor<f32>, %e: tensor<f32>):',
      '    %m = stablehlo.maximum %a, %e : tensor<f32>',
      '    stablehlo.return %m : tensor<f32>',
      '  }) {window_dimensions = array<i64: 1, 3, 3, 1>, window_strides = array<i64: 1, 2, 2, 1>, padding = dense<[[0, 0], [1, 1], [1, 1], [0, 0]]> : tensor<4x2xi64>} : (tensor<2x5x5x40xf32>, tensor<f32>) -> tensor<2x3x3x40xf32>',
      '  func.return %y, %p, %r : tensor<2x5x9x20xf32>, tensor<2x3x3x40xf32>, tensor<2x5x5x40xf32>',
      '}',
    ].join('\n');
    for (const target of ['host', 'x86-64-v3', 'aarch64', 'cortex-m55']) {
      const { lookupTarget } = await import('../../src/target/targets.js');
      const native = lookupTarget(target).runner.kind === 'native';
      const run = await matchesInterpreter(
        t,
        'direct.mlir',
        src,
        12,
        { target: lookupTarget(target), ...(native ? { flags: SANITIZE } : {}) },
        ` on ${target}`,
      );
      const c = run.emitted.files.get('model.c') as string;
      t.match(c, /Direct convolution 2x11x10x3 \(NHWC\)/, `${target}: the 3-channel convolution is direct`);
      t.match(c, /Direct depthwise convolution 2x9x9x40/, `${target}: the depthwise convolution is direct`);
      t.match(c, /acc = rl_vf_max\(acc, rl_vf_load\(/, `${target}: max pooling accumulates vectors of channels`);
      if (target !== 'host') continue;
      const two = await matchesInterpreter(t, 'direct.mlir', src, 12, { threads: 2 }, ' with 2 threads');
      t.match(
        two.emitted.files.get('model.c') as string,
        /rl_pool_run\(pool, 10, k\d+_convolution_fused_rows, &job\)/,
        'with 2 threads the depthwise rows run on the pool',
      );
      sameBits(t, two.outputs, run.outputs, '2 threads bitwise equal to 1, output');
    }
  },
);

t.test(
  'half-precision GEMMs: f16/bf16 operands widen to f32, f16/bf16 results round once (epilogue, runtime B, convolution)',
  async (t) => {
    const src = [
      'func.func @main(%a: tensor<20x48xbf16>, %x: tensor<2x6x6x16xf16>, %w: tensor<3x3x16x8xf16>, %h: tensor<33x40xf16>, %g: tensor<40x24xf16>) -> (tensor<20x24xf32>, tensor<2x6x6x8xf16>, tensor<33x24xf16>) {',
      `  %wb = ${variedConstant([48, 24], 'bf16', 23)}`,
      '  %d = stablehlo.dot_general %a, %wb, contracting_dims = [1] x [0] : (tensor<20x48xbf16>, tensor<48x24xbf16>) -> tensor<20x24xf32>',
      `  %c = ${nhwcConv('%x', '%w', SAME_3X3, '(tensor<2x6x6x16xf16>, tensor<3x3x16x8xf16>) -> tensor<2x6x6x8xf16>')}`,
      '  %z = stablehlo.constant dense<0.0> : tensor<2x6x6x8xf16>',
      '  %r = stablehlo.maximum %c, %z : tensor<2x6x6x8xf16>',
      '  %e = stablehlo.dot_general %h, %g, contracting_dims = [1] x [0] : (tensor<33x40xf16>, tensor<40x24xf16>) -> tensor<33x24xf16>',
      '  func.return %d, %r, %e : tensor<20x24xf32>, tensor<2x6x6x8xf16>, tensor<33x24xf16>',
      '}',
    ].join('\n');
    const run = await matchesInterpreter(t, 'half.mlir', src, 14);
    const c = run.emitted.files.get('model.c') as string;
    t.match(
      c,
      /GEMM \[20 x 48\] \* \[48 x 24\], bf16 x bf16 widened to f32, f32 FMA accumulation;/,
      'bf16 x bf16 -> f32 takes the GEMM path',
    );
    t.match(
      c,
      /GEMM \[72 x 144\] \* \[144 x 8\], f16 x f16 widened to f32, f32 FMA accumulation in scratch, rounded to f16; .* A packed/,
      'the f16 convolution packs A widened, ReLU fused',
    );
    t.match(
      c,
      /GEMM \[33 x 40\] \* \[40 x 24\], f16 x f16 widened to f32, f32 FMA accumulation in scratch, rounded to f16; .* B packed at run time/,
      'f16 with a runtime B',
    );
  },
);

t.test(
  'fusion through transposes and into reductions: softmax, sum of squares, integer dot-like reduce match the interpreter',
  async (t) => {
    const f = 'tensor<6x20xf32>';
    const src = [
      `func.func @main(%x: ${f}, %y: tensor<20x6xf32>, %a: tensor<4x7xi32>, %b: tensor<4x7xi32>) -> (${f}, tensor<6xf32>, tensor<7xi32>) {`,
      '  %ninf = stablehlo.constant dense<0xFF800000> : tensor<f32>',
      '  %zero = stablehlo.constant dense<0.0> : tensor<f32>',
      // softmax over the rows of x + transpose(y)
      '  %yt = stablehlo.transpose %y, dims = [1, 0] : (tensor<20x6xf32>) -> tensor<6x20xf32>',
      `  %s = stablehlo.add %x, %yt : ${f}`,
      '  %m = stablehlo.reduce(%s init: %ninf) applies stablehlo.maximum across dimensions = [1] : (tensor<6x20xf32>, tensor<f32>) -> tensor<6xf32>',
      `  %mb = stablehlo.broadcast_in_dim %m, dims = [0] : (tensor<6xf32>) -> ${f}`,
      `  %d = stablehlo.subtract %s, %mb : ${f}`,
      `  %e = stablehlo.exponential %d : ${f}`,
      '  %z = stablehlo.reduce(%e init: %zero) applies stablehlo.add across dimensions = [1] : (tensor<6x20xf32>, tensor<f32>) -> tensor<6xf32>',
      `  %zb = stablehlo.broadcast_in_dim %z, dims = [0] : (tensor<6xf32>) -> ${f}`,
      `  %p = stablehlo.divide %e, %zb : ${f}`,
      // sum of squares of x - 1 per row (the chain feeds the reduction only)
      `  %one = stablehlo.constant dense<1.0> : ${f}`,
      `  %x1 = stablehlo.subtract %x, %one : ${f}`,
      `  %sq = stablehlo.multiply %x1, %x1 : ${f}`,
      '  %ss = stablehlo.reduce(%sq init: %zero) applies stablehlo.add across dimensions = [1] : (tensor<6x20xf32>, tensor<f32>) -> tensor<6xf32>',
      // integer: column sums of a * b (wrap-around arithmetic)
      '  %izero = stablehlo.constant dense<0> : tensor<i32>',
      '  %ab = stablehlo.multiply %a, %b : tensor<4x7xi32>',
      '  %cs = stablehlo.reduce(%ab init: %izero) applies stablehlo.add across dimensions = [0] : (tensor<4x7xi32>, tensor<i32>) -> tensor<7xi32>',
      `  func.return %p, %ss, %cs : ${f}, tensor<6xf32>, tensor<7xi32>`,
      '}',
    ].join('\n');
    const run = await matchesInterpreter(t, 'reduce_fusion.mlir', src, 15);
    const groups = run.emitted.fusionGroups.join('\n');
    t.match(
      groups,
      /fused_add: transpose \(\d+:\d+\), add \(\d+:\d+\)/,
      'the transpose is an index map of the add (its result has two users, so no reduction takes it)',
    );
    t.match(
      groups,
      /fused_reduce: subtract \(\d+:\d+\), multiply \(\d+:\d+\), reduce/,
      'the sum of squares reads x once, no squared tensor',
    );
    t.match(groups, /fused_reduce: multiply \(\d+:\d+\), reduce/, 'the integer product feeds its column sums');
  },
);

t.test(
  'clamp fuses like an elementwise op: ReLU6 epilogues (vector) and integer clamps with runtime bounds match the interpreter',
  async (t) => {
    const src = [
      'func.func @main(%x: tensor<1x7x7x16xf32>, %w: tensor<3x3x16x32xf32>, %v: tensor<1x7x7x3xf32>, %u: tensor<3x3x3x16xf32>, %a: tensor<5x9xi32>, %b: tensor<5x9xi32>, %lo: tensor<i32>, %hi: tensor<i32>) -> (tensor<1x7x7x32xf32>, tensor<1x7x7x16xf32>, tensor<5x9xi32>) {',
      '  %zero = stablehlo.constant dense<0.0> : tensor<f32>',
      '  %six = stablehlo.constant dense<6.0> : tensor<f32>',
      `  %c = ${nhwcConv('%x', '%w', SAME_3X3, '(tensor<1x7x7x16xf32>, tensor<3x3x16x32xf32>) -> tensor<1x7x7x32xf32>')}`,
      '  %r = stablehlo.clamp %zero, %c, %six : (tensor<f32>, tensor<1x7x7x32xf32>, tensor<f32>) -> tensor<1x7x7x32xf32>',
      `  %d = ${nhwcConv('%v', '%u', SAME_3X3, '(tensor<1x7x7x3xf32>, tensor<3x3x3x16xf32>) -> tensor<1x7x7x16xf32>')}`,
      '  %q = stablehlo.clamp %zero, %d, %six : (tensor<f32>, tensor<1x7x7x16xf32>, tensor<f32>) -> tensor<1x7x7x16xf32>',
      '  %s = stablehlo.add %a, %b : tensor<5x9xi32>',
      '  %k = stablehlo.clamp %lo, %s, %hi : (tensor<i32>, tensor<5x9xi32>, tensor<i32>) -> tensor<5x9xi32>',
      '  func.return %r, %q, %k : tensor<1x7x7x32xf32>, tensor<1x7x7x16xf32>, tensor<5x9xi32>',
      '}',
    ].join('\n');
    const run = await matchesInterpreter(t, 'clamp.mlir', src, 16);
    t.same(
      run.emitted.fusionGroups.map((g) => g.replace(/ \(\d+:\d+\)/g, '')),
      [
        'k0_convolution_fused: convolution, clamp',
        'k1_convolution_fused: convolution, clamp',
        'k2_fused_clamp: add, clamp',
      ],
      "ReLU6 is each convolution's epilogue; the integer add and clamp are one loop",
    );
    t.match(run.emitted.files.get('model.c') as string, /rl_vf_min\(rl_vf_max\(/, 'the ReLU6 epilogue runs on vectors');
  },
);

t.test(
  'fusion inside control flow: a while body fuses its elementwise chain; values a loop edge copies stay materialized',
  async (t) => {
    const v = 'tensor<24xf32>';
    const src = [
      `func.func @main(%x: ${v}) -> ${v} {`,
      '  %c0 = stablehlo.constant dense<0> : tensor<i32>',
      `  %r:2 = stablehlo.while(%i = %c0, %v = %x) : tensor<i32>, ${v}`,
      '   cond {',
      '    %n = stablehlo.constant dense<3> : tensor<i32>',
      '    %p = stablehlo.compare  LT, %i, %n,  SIGNED : (tensor<i32>, tensor<i32>) -> tensor<i1>',
      '    stablehlo.return %p : tensor<i1>',
      '  } do {',
      '    %one = stablehlo.constant dense<1> : tensor<i32>',
      '    %i1 = stablehlo.add %i, %one : tensor<i32>',
      `    %h = stablehlo.constant dense<0.5> : ${v}`,
      `    %m = stablehlo.multiply %v, %h : ${v}`,
      `    %t = stablehlo.tanh %m : ${v}`,
      `    %a = stablehlo.add %t, %v : ${v}`,
      `    stablehlo.return %i1, %a : tensor<i32>, ${v}`,
      '  }',
      `  %y = stablehlo.exponential %r#1 : ${v}`,
      `  func.return %y : ${v}`,
      '}',
    ].join('\n');
    const run = await matchesInterpreter(t, 'loop_fusion.mlir', src, 17);
    t.same(
      run.emitted.fusionGroups.map((g) => g.replace(/ \(\d+:\d+\)/g, '')),
      ['k0_fused_compare: compare', 'k1_fused_add: add', 'k2_fused_add: multiply, tanh, add'],
      'the loop condition and the counter increment take their constants as literals; the body chain is one loop (its result is copied on the back edge, so it is the group root)',
    );
    t.match(run.emitted.files.get('model.c') as string, /rl_vf_tanh\(/, 'and a vector loop');
  },
);

t.test(
  'a reduction body with its operands swapped (subtract %b, %a) is not taken for subtract %a, %b; the right way round it pools on vectors',
  async (t) => {
    const body = (op: string) => [
      '  ^bb0(%a: tensor<f32>, %b: tensor<f32>):',
      `    %s = ${op} : tensor<f32>`,
      '    stablehlo.return %s : tensor<f32>',
    ];
    const src = [
      'func.func @main(%x: tensor<4x5xf32>, %p: tensor<1x4x4x16xf32>) -> (tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<1x2x2x16xf32>, tensor<1x2x2x16xf32>) {',
      '  %one = stablehlo.constant dense<1.0> : tensor<f32>',
      '  %r = "stablehlo.reduce"(%x, %one) ({',
      ...body('stablehlo.subtract %b, %a'),
      '  }) {dimensions = array<i64: 1>} : (tensor<4x5xf32>, tensor<f32>) -> tensor<4xf32>',
      '  %q = "stablehlo.reduce"(%x, %one) ({',
      ...body('stablehlo.subtract %a, %b'),
      '  }) {dimensions = array<i64: 1>} : (tensor<4x5xf32>, tensor<f32>) -> tensor<4xf32>',
      '  %low = stablehlo.constant dense<-2.0> : tensor<f32>',
      '  %m = "stablehlo.reduce"(%x, %low) ({',
      ...body('stablehlo.maximum %b, %a'),
      '  }) {dimensions = array<i64: 1>} : (tensor<4x5xf32>, tensor<f32>) -> tensor<4xf32>',
      '  %w = "stablehlo.reduce_window"(%p, %one) ({',
      ...body('stablehlo.subtract %b, %a'),
      '  }) {window_dimensions = array<i64: 1, 2, 2, 1>, window_strides = array<i64: 1, 2, 2, 1>} : (tensor<1x4x4x16xf32>, tensor<f32>) -> tensor<1x2x2x16xf32>',
      '  %v = "stablehlo.reduce_window"(%p, %one) ({',
      ...body('stablehlo.subtract %a, %b'),
      '  }) {window_dimensions = array<i64: 1, 2, 2, 1>, window_strides = array<i64: 1, 2, 2, 1>} : (tensor<1x4x4x16xf32>, tensor<f32>) -> tensor<1x2x2x16xf32>',
      '  func.return %r, %q, %m, %w, %v : tensor<4xf32>, tensor<4xf32>, tensor<4xf32>, tensor<1x2x2x16xf32>, tensor<1x2x2x16xf32>',
      '}',
    ].join('\n');
    const run = await matchesInterpreter(t, 'swapped.mlir', src, 18);
    t.match(
      run.emitted.files.get('model.c') as string,
      /acc = rl_vf_sub\(acc, rl_vf_load\(/,
      'the subtract pooling written the right way round runs on vectors',
    );
  },
);

t.test(
  'convert, compare and select fuse: an attention-style mask over an f64 convert leaves neither in the arena',
  async (t) => {
    const src = [
      'func.func @main(%x: tensor<64x64xf32>, %m: tensor<64x64xf32>) -> tensor<64xf64> {',
      '  %d = stablehlo.convert %x : (tensor<64x64xf32>) -> tensor<64x64xf64>',
      '  %zero = stablehlo.constant dense<0.0> : tensor<f32>',
      '  %zb = stablehlo.broadcast_in_dim %zero, dims = [] : (tensor<f32>) -> tensor<64x64xf32>',
      '  %mask = stablehlo.compare GT, %m, %zb : (tensor<64x64xf32>, tensor<64x64xf32>) -> tensor<64x64xi1>',
      '  %z = stablehlo.constant dense<0.0> : tensor<f64>',
      '  %dz = stablehlo.broadcast_in_dim %z, dims = [] : (tensor<f64>) -> tensor<64x64xf64>',
      '  %s = stablehlo.select %mask, %d, %dz : (tensor<64x64xi1>, tensor<64x64xf64>, tensor<64x64xf64>) -> tensor<64x64xf64>',
      '  %r = stablehlo.reduce(%s init: %z) applies stablehlo.add across dimensions = [1] : (tensor<64x64xf64>, tensor<f64>) -> tensor<64xf64>',
      '  return %r : tensor<64xf64>',
      '}',
    ].join('\n');
    const run = await matchesInterpreter(t, 'mask.mlir', src, 23);
    t.same(
      run.emitted.fusionGroups.map((g) => g.replace(/ \(\d+:\d+\)/g, '')),
      ['k0_fused_reduce: convert, broadcast_in_dim, compare, broadcast_in_dim, select, reduce'],
      'one kernel',
    );
    t.ok(run.emitted.plan.arenaBytes <= 1024, `arena ${run.emitted.plan.arenaBytes} bytes: no 32 KB f64 copy, no mask`);
  },
);

// bitcast_convert copies bytes (every type is stored as its bits), so where the memory plan gives
// it its operand's buffer (the operand's last use, the same element size) it does nothing: f32 ->
// i32 and i4 -> ui4 (negative i4 values read back as ui4 bits) in place, exact under ASan+UBSan;
// f32 -> i32 of a value read again later is copied.
t.test('a bitcast_convert over its operand buffer moves nothing, and keeps a live operand', async (t) => {
  const src = [
    'func.func @main(%x: tensor<64xf32>, %y: tensor<8xi4>) -> (tensor<64xi32>, tensor<8xui4>, tensor<64xi32>, tensor<64xf32>) {',
    '  %a = stablehlo.negate %x : tensor<64xf32>',
    '  %s = stablehlo.reverse %a, dims = [0] : tensor<64xf32>',
    '  %b = stablehlo.bitcast_convert %s : (tensor<64xf32>) -> tensor<64xi32>',
    '  %c = stablehlo.negate %y : tensor<8xi4>',
    '  %r = stablehlo.reverse %c, dims = [0] : tensor<8xi4>',
    '  %d = stablehlo.bitcast_convert %r : (tensor<8xi4>) -> tensor<8xui4>',
    '  %e = stablehlo.bitcast_convert %a : (tensor<64xf32>) -> tensor<64xi32>',
    '  %f = stablehlo.exponential %a : tensor<64xf32>',
    '  return %b, %d, %e, %f : tensor<64xi32>, tensor<8xui4>, tensor<64xi32>, tensor<64xf32>',
    '}',
  ].join('\n');
  const run = await matchesInterpreter(t, 'bitcast.mlir', src, 5);
  const c = run.emitted.files.get('model.c') as string;
  const kernels = c.split(/\n(?=\/\* k\d+_)/).filter((k) => /^\/\* k\d+_bitcast_convert/.test(k));
  t.equal(kernels.length, 3, 'three bitcast kernels');
  t.same(
    kernels.map((k) => /in place: the result is the operand's buffer/.test(k)),
    [true, true, false],
    'the first two in place, the third (its operand read by exponential after) a copy',
  );
});
