import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { SourceFile } from '../../src/diag/source.js';
import { runCompiled } from '../../src/toolchain/run.js';
import { importModule } from '../../src/import/index.js';
import { compareTensors } from '../../src/ir/compare.js';
import { Interpreter } from '../../src/interpret/eval.js';
import { randomInputs } from '../../src/interpret/inputs.js';
import { getElem, makeTensor, size, type Tensor } from '../../src/ir/tensor.js';
import type { Region } from '../../src/ir/core.js';
import { floatElem, tensorType } from '../../src/ir/types.js';

import { meshToTiles } from '../../src/partition/shardy.js';
import { unrollManualRegions } from '../../src/partition/unroll.js';
import { FIXTURES, HAVE_SHARED, SHARED } from '../helpers/paths.js';
import { customCallTarget } from '../../src/ir/core.js';

// GSPMD manual regions (shard_map) on one device: the interpreter runs the body once per
// partition on its process grid, the compiler unrolls it (src/partition); each is checked against
// values worked out by hand or an unsharded program, and against the other.
const load = (path: string) => importModule(new SourceFile(path, readFileSync(path, 'utf8')));
const f32 = (shape: number[], f: (i: number) => number): Tensor =>
  makeTensor(
    tensorType(shape, floatElem('f32')!),
    Float64Array.from({ length: shape.reduce((a, b) => a * b, 1) }, (_, i) => f(i)),
  );
const values = (x: Tensor): number[] => Array.from({ length: size(x) }, (_, i) => getElem(x, i) as number);

t.test('every collective, by hand', async (t) => {
  const m = load(join(FIXTURES, 'spmd', 'collectives.mlir'));
  const x = f32([8, 4], (i) => i);
  const [ar, perm, ag, a2a] = new Interpreter(m).runFunc(m.funcs.get('main')!, [x]) as Tensor[];
  // See the fixture's comment: partition p holds rows 2p, 2p+1 plus p.
  const t_ = (i: number, j: number): number => 4 * i + j + Math.floor(i / 2);
  const rows = [...Array(8).keys()];
  t.same(
    values(ar!),
    rows.flatMap((i) => [0, 1, 2, 3].map((j) => 16 * (i % 2) + 4 * j + 54)),
    'all_reduce',
  );
  t.same(
    values(perm!),
    rows.flatMap((i) => [0, 1, 2, 3].map((j) => (i < 2 ? 0 : t_(i - 2, j)))),
    'collective_permute',
  );
  t.same(
    values(ag!),
    rows.flatMap((i) => [0, 1, 2, 3].map((j) => t_(i, j))),
    'all_gather',
  );
  t.same(
    values(a2a!),
    [0, 1, 2, 3].flatMap((p) => rows.map((i) => t_(i, p))),
    'all_to_all',
  );
  const run = await runCompiled(m, 'main', [x]);
  [ar, perm, ag, a2a].forEach((want, i) => t.ok(compareTensors(run.outputs[i]!, want!).ok, `C output ${i} matches`));
  // The partition phase leaves no collective, partition id or sharding step behind.
  const left: string[] = [];
  const walk = (r: Region): void =>
    r.blocks.forEach((b) =>
      b.ops.forEach((op) => (left.push(customCallTarget(op) ?? op.name), op.regions.forEach(walk))),
    );
  walk(unrollManualRegions(m).funcs.get('main')!.body!);
  t.notOk(
    left.some((n) => /all_|collective|partition_id|SPMD|func.call/.test(n)),
    `unrolled main holds only plain ops and @Sharding hints (${[...new Set(left)].join(', ')})`,
  );
});

t.test(
  "tt-mlir's 8-way tensor-parallel MLP equals the same MLP unsharded",
  { skip: HAVE_SHARED ? false : 'no ../shared' },
  async (t) => {
    const m = load(join(SHARED, 'exports', 'ttmlir_e2e_tp_gspmd.mlir'));
    const main = m.funcs.get('main')!;
    const args = randomInputs(main, 5, m) as Tensor[];
    // The same loss written densely: five dense+relu layers (the last without relu), squared error
    // summed and divided by 32 (arguments: W1 b1 ... W6 b6, x, target as in the export).
    const layer = (k: number, input: string, inDim: number, outDim: number, relu: boolean): string => `
    %d${k} = stablehlo.dot_general ${input}, %arg${2 * k}, contracting_dims = [1] x [0] : (tensor<32x${inDim}xf32>, tensor<${inDim}x${outDim}xf32>) -> tensor<32x${outDim}xf32>
    %b${k} = stablehlo.broadcast_in_dim %arg${2 * k + 1}, dims = [1] : (tensor<${outDim}xf32>) -> tensor<32x${outDim}xf32>
    %s${k} = stablehlo.add %d${k}, %b${k} : tensor<32x${outDim}xf32>
    %h${k} = ${relu ? `stablehlo.maximum %s${k}, %zeros${outDim}` : `stablehlo.add %s${k}, %zeros${outDim}`} : tensor<32x${outDim}xf32>`;
    const params = main.params
      .map((p, i) => `%arg${i}: ${p.type.kind === 'tensor' ? `tensor<${p.type.shape.join('x')}xf32>` : ''}`)
      .join(', ');
    const dense = `func.func @main(${params}) -> tensor<f32> {
    %zero = stablehlo.constant dense<0.0> : tensor<f32>
    %zeros128 = stablehlo.broadcast_in_dim %zero, dims = [] : (tensor<f32>) -> tensor<32x128xf32>
    %zeros8 = stablehlo.broadcast_in_dim %zero, dims = [] : (tensor<f32>) -> tensor<32x8xf32>
    ${layer(0, '%arg12', 784, 128, true)}
    ${[1, 2, 3, 4].map((k) => layer(k, `%h${k - 1}`, 128, 128, true)).join('')}
    ${layer(5, '%h4', 128, 8, false)}
    %e = stablehlo.subtract %h5, %arg13 : tensor<32x8xf32>
    %e2 = stablehlo.multiply %e, %e : tensor<32x8xf32>
    %sum = stablehlo.reduce(%e2 init: %zero) applies stablehlo.add across dimensions = [0, 1] : (tensor<32x8xf32>, tensor<f32>) -> tensor<f32>
    %n = stablehlo.constant dense<32.0> : tensor<f32>
    %loss = stablehlo.divide %sum, %n : tensor<f32>
    return %loss : tensor<f32>
  }`;
    const d = importModule(new SourceFile('dense.mlir', dense));
    const want = new Interpreter(d).runFunc(d.funcs.get('main')!, args)[0] as Tensor;
    const got = new Interpreter(m).runFunc(main, args)[0] as Tensor;
    t.ok(compareTensors(got, want).ok, `interpreter, sharded vs dense: ${compareTensors(got, want).message}`);
    const run = await runCompiled(m, 'main', args);
    t.ok(
      compareTensors(run.outputs[0]!, want).ok,
      `compiled, unrolled vs dense: ${compareTensors(run.outputs[0]!, want).message}`,
    );
  },
);

t.test("Shardy's shard_map (sdy.manual_computation) on a 2x2 mesh: x @ w, by blocks", async (t) => {
  const m = load(join(FIXTURES, 'spmd', 'shardy.mlir'));
  const x = f32([4, 4], (i) => i + 1);
  const w = f32([4, 2], (i) => [1, 0, 0, 1, 1, 1, 2, -1][i]!);
  // The product worked out here, row by column.
  const want = [0, 1, 2, 3].flatMap((r) =>
    [0, 1].map((c) => [0, 1, 2, 3].reduce((s, k) => s + (4 * r + k + 1) * (getElem(w, 2 * k + c) as number), 0)),
  );
  const [got] = new Interpreter(m).runFunc(m.funcs.get('main')!, [x, w]) as Tensor[];
  t.same(values(got!), want, 'interpreter: each device multiplies its blocks, all_reduce sums over "y"');
  const run = await runCompiled(m, 'main', [x, w]);
  t.same(values(run.outputs[0]!), want, 'compiled (unrolled over the 4 devices)');
  // The mesh sharding [{"y"}, {}] of w replicates over "x": GSPMD tiles [2, 1] plus a replication
  // dimension of 2, devices in (tile, replica) order: tile 0 on devices 0 and 2, tile 1 on 1 and 3.
  const mesh = m.meshes!.get('mesh')!;
  t.same(
    meshToTiles(
      mesh,
      {
        kind: 'mesh',
        mesh: 'mesh',
        dims: [
          { axes: ['y'], open: false },
          { axes: [], open: false },
        ],
        replicated: [],
      },
      2,
      m.funcs.get('main')!.loc,
    ),
    {
      kind: 'tiled',
      tiles: [2, 1, 2],
      devices: [0, 2, 1, 3],
      lastTileReplicated: true,
    },
  );
});
