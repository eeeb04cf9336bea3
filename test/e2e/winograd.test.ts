import t from 'tap';
import { SourceFile } from '../../src/diag/source.js';
import { importModule } from '../../src/import/index.js';
import { lookupTarget } from '../../src/target/targets.js';
import { runCompiled, type RunOptions } from '../../src/toolchain/run.js';
import { variedConstant } from '../helpers/mlir.js';
import { SANITIZE } from '../helpers/models.js';
import { expectMatch, reference, sameBits } from '../helpers/reference.js';

/** A 3x3 stride-1 NHWC convolution of `x` ([n, h, w, c]) into k channels by a constant of varied
 * weights, padded by `pad` ([[top, bottom], [left, right]]). */
function conv(name: string, x: string, [n, h, w, c]: number[], k: number, pad: string, seed: number) {
  const [[top, bottom], [left, right]] = JSON.parse(pad) as [[number, number], [number, number]];
  const type = `tensor<${n}x${h! + top + bottom - 2}x${w! + left + right - 2}x${k}xf32>`;
  const window = `stride = [1, 1], pad = ${pad}`;
  return {
    type,
    lines: [
      `  %${name}_w = ${variedConstant([3, 3, c!, k], 'f32', seed)}`,
      `  %${name} = stablehlo.convolution(${x}, %${name}_w) dim_numbers = [b, 0, 1, f]x[0, 1, i, o]->[b, 0, 1, f], window = {${window}} {batch_group_count = 1 : i64, feature_group_count = 1 : i64} : (tensor<${n}x${h}x${w}x${c}xf32>, tensor<3x3x${c}x${k}xf32>) -> ${type}`,
    ],
  };
}

// a (F(2x2, 3x3)): an odd output width, asymmetric and negative padding, 20 -> 17 channels
// (vectors and a scalar tail on every ISA), batch 2, a bias + ReLU epilogue. b (F(4x4, 3x3): its
// output a multiple of 4 both ways): two blocks of tile rows. c (reading b; F(2x2, 3x3)): an odd
// output height (the last tile row half past it) and three blocks of 21 tile rows, the last one
// two rows short (rows of zero windows whose products are dropped).
const a = conv('a', '%x', [2, 13, 11, 20], 17, '[[1, 2], [-1, 1]]', 3);
const b = conv('b', '%y', [1, 120, 64, 16], 16, '[[1, 1], [1, 1]]', 4);
const c = conv('c', '%b', [1, 120, 64, 16], 24, '[[1, 2], [1, 1]]', 5);
const SRC = [
  `func.func @main(%x: tensor<2x13x11x20xf32>, %bias: tensor<17xf32>, %y: tensor<1x120x64x16xf32>) -> (${a.type}, ${c.type}) {`,
  ...a.lines,
  `  %bb = stablehlo.broadcast_in_dim %bias, dims = [3] : (tensor<17xf32>) -> ${a.type}`,
  `  %s = stablehlo.add %a, %bb : ${a.type}`,
  `  %z = stablehlo.constant dense<0.0> : ${a.type}`,
  `  %r = stablehlo.maximum %s, %z : ${a.type}`,
  ...b.lines,
  ...c.lines,
  `  func.return %r, %c : ${a.type}, ${c.type}`,
  '}',
].join('\n');

t.test(
  "3x3 stride-1 convolutions by Winograd's F(2x2, 3x3) and F(4x4, 3x3) match the interpreter on AVX-512, AVX2 and NEON, with 2 threads bitwise as with 1 (clean under TSan)",
  async (t) => {
    const m = importModule(new SourceFile('winograd.mlir', SRC));
    const { args, expected } = reference(m, 'main', 7);
    for (const target of ['host', 'x86-64-v3', 'aarch64']) {
      const native = lookupTarget(target).runner.kind === 'native';
      const opts: RunOptions = { target: lookupTarget(target), ...(native ? { flags: SANITIZE } : {}) };
      const run = await runCompiled(m, 'main', args, opts);
      expectMatch(t, run.outputs, expected, `${target}${native ? ' under ASan+UBSan' : ''}`);
      const source = [...run.emitted.files.values()].join('\n');
      t.match(
        source,
        /Winograd F\(2x2, 3x3\): 2 x 7 x 5 tiles of 2 x 2 output pixels, in blocks of 14 tile rows/,
        `${target}: a by Winograd, one block`,
      );
      t.match(
        source,
        /Winograd F\(4x4, 3x3\): 1 x 30 x 16 tiles of 4 x 4 output pixels, in blocks of 15 tile rows/,
        `${target}: b in two blocks`,
      );
      t.match(
        source,
        /Winograd F\(2x2, 3x3\): 1 x 61 x 32 tiles of 2 x 2 output pixels, in blocks of 21 tile rows/,
        `${target}: c in three blocks, the last one short`,
      );
      t.match(
        source,
        /transformed for Winograd F\(2x2, 3x3\) \(G g G\^T\) and packed/,
        `${target}: weights transformed at compile time`,
      );
      if (target !== 'host') continue;
      const two = await runCompiled(m, 'main', args, { threads: 2 });
      t.match(
        [...two.emitted.files.values()].join('\n'),
        /rl_pool_run\(pool, \d+, k\d+_convolution_fused_windows, &job\)/,
        'with 2 threads the transforms run on the pool',
      );
      sameBits(t, two.outputs, run.outputs, '2 threads bitwise equal to 1, output');
      // Edge tiles write their pixels past the output to a sink row: one per tile, no race.
      const tsan = await runCompiled(m, 'main', args, { threads: 2, flags: ['-O1', '-g', '-fsanitize=thread'] });
      sameBits(t, tsan.outputs, run.outputs, '2 threads under TSan bitwise equal to 1, output');
      const direct = await runCompiled(m, 'main', args, { winograd: false });
      t.notMatch([...direct.emitted.files.values()].join('\n'), /Winograd/, 'winograd: false keeps the direct sums');
      expectMatch(t, direct.outputs, expected, 'direct sums');
    }
  },
);
