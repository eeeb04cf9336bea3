import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execa } from 'execa';
import { join } from 'node:path';
import t from 'tap';
import { SourceFile } from '../../src/diag/source.js';
import { CompileError, renderDiagnostic } from '../../src/diag/diagnostics.js';
import { importModule } from '../../src/import/index.js';
import { Interpreter } from '../../src/interpret/eval.js';
import { runParallel } from '../../src/interpret/process-grid.js';
import { randomInputs } from '../../src/interpret/inputs.js';
import { compareTensors, degenerate } from '../../src/ir/compare.js';
import type { Module, Op } from '../../src/ir/core.js';
import type { Tensor } from '../../src/ir/tensor.js';
import type { TensorType } from '../../src/ir/types.js';
import { entryPlacements, partitionSpmd } from '../../src/partition/spmd.js';
import { deviceTile, runPartitioned, runPartitionedBatch, wholeValue } from '../../src/toolchain/spmd-run.js';
import { CLI, FIXTURES, ROOT } from '../helpers/paths.js';

// The SPMD partitioner on the fixtures of test/fixtures/partition (generate.mjs): a data-parallel
// and a Megatron tensor-parallel MLP, a tensor-parallel attention block and a batch-sharded CNN,
// each with GSPMD and with Shardy shardings, for 2 and 4 devices. Each is partitioned; the per-device program runs in the interpreter on a process grid
// (each partition on its tiles) and must give the unpartitioned program's results; then it is
// compiled and run with the threads communicator and under mpirun, and must match again.
const load = (name: string): Module => {
  const path = join(FIXTURES, 'partition', name);
  return importModule(new SourceFile(path, readFileSync(path, 'utf8')));
};

const collectives = (m: Module): string[] =>
  m.funcs
    .get('main')!
    .body!.blocks[0]!.ops.map((op: Op) => op.name)
    .filter((n) => /all_reduce|all_gather|all_to_all|collective_permute/.test(n));

/** The fixtures, with the collectives their per-device programs need: nothing moves for data
 * parallelism, Megatron's layers sum partial products once per row-parallel layer. */
const MODELS: Record<string, { moves: string[]; devices: number[] }> = {
  'mlp-dp': { moves: [], devices: [2, 4] },
  'mlp-megatron': { moves: ['stablehlo.all_reduce'], devices: [2, 4] },
  attention: { moves: ['stablehlo.all_reduce'], devices: [2, 4] },
  cnn: { moves: [], devices: [2, 4] },
  // 2-way on 4 devices: each weight tile on 2 devices, the sums among the 2 holding different tiles.
  'mlp-megatron2': { moves: ['stablehlo.all_reduce'], devices: [4] },
  // Gathers and a scatter along dimensions no index addresses: each device its own part.
  embedding: { moves: [], devices: [2, 4] },
};

interface Checked {
  readonly name: string;
  readonly module: Module;
  readonly inputs: Tensor[];
  readonly want: Tensor[];
  readonly replicatedFirst: boolean;
}
const byDevices = new Map<number, Checked[]>([
  [2, []],
  [4, []],
]);

// In the interpreter: each per-device program on a process grid, each partition on its tiles.
for (const [model, { moves, devices }] of Object.entries(MODELS))
  for (const form of ['gspmd', 'shardy'])
    for (const n of devices)
      t.test(`${model}-${form}-${n} in the interpreter`, async (t) => {
        const name = `${model}-${form}-${n}`;
        const m = load(`${name}.mlir`);
        const f = m.funcs.get('main')!;
        const inputs = randomInputs(f, n, m) as Tensor[];
        const want = new Interpreter(m).runFunc(f, inputs) as Tensor[];
        want.forEach((w, i) => t.notOk(degenerate(w), `the reference result ${i} can tell right from wrong`));
        const partitioned = partitionSpmd(m, 'main', n);
        const { params, results } = entryPlacements(m, f, n);
        const tiles = [...Array(n).keys()].flatMap((d) => inputs.map((x, i) => deviceTile(x, params[i]!, n, d)));
        const flat = runParallel(new Interpreter(partitioned), [Array<string>(n).fill('main')], tiles, []) as Tensor[];
        const perDevice = [...Array(n).keys()].map((d) => flat.slice(d * want.length, (d + 1) * want.length));
        want.forEach((w, i) => {
          const p = results[i]!;
          const got = wholeValue(
            perDevice.map((o) => o[i]!),
            p,
            w.type as TensorType,
          );
          t.ok(compareTensors(got, w).ok, `the ${n} partitions' result ${i} is the unpartitioned one`);
          if (p.kind === 'replicated')
            perDevice.forEach((o, d) => t.ok(compareTensors(o[i]!, w).ok, `device ${d} holds all of result ${i}`));
        });
        t.same(collectives(partitioned), moves, 'collectives of the per-device program');
        byDevices.get(n)!.push({ name, module: m, inputs, want, replicatedFirst: results[0]!.kind === 'replicated' });
      });

// Compiled: the fixtures for as many devices built and launched together, per communicator.
for (const n of [2, 4])
  for (const comm of ['threads', 'mpi'] as const)
    t.test(`the ${n}-device fixtures compiled, ${comm}`, async (t) => {
      const fixtures = byDevices.get(n)!;
      t.equal(fixtures.length, n === 4 ? 12 : 10, 'every fixture for this many devices');
      const runs = await runPartitionedBatch(
        fixtures.map((c) => ({ module: c.module, entry: 'main', inputs: c.inputs })),
        { grid: { replicas: 1, partitions: n, comm } },
      );
      runs.forEach((run, k) => {
        const c = fixtures[k]!;
        run.global.forEach((g, i) =>
          t.ok(compareTensors(g, c.want[i]!).ok, `${c.name}: result ${i} matches the interpreter`),
        );
        if (c.replicatedFirst)
          run.outputs.forEach((o, d) =>
            t.ok(compareTensors(o[0]!, c.want[0]!).ok, `${c.name}: device ${d}'s copy matches`),
          );
      });
    });

// A sharding constraint inside the program (`@Sharding` on an intermediate, as jax's
// with_sharding_constraint writes it) reshards the value: here a replicated product becomes row
// tiles (a local slice, no bytes), and a maximal result is computed everywhere.
t.test('@Sharding constraints and maximal shardings', async (t) => {
  const text = `module @c attributes {mhlo.num_partitions = 2 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%x: tensor<4x6xf32> {mhlo.sharding = "{replicated}"}) -> (tensor<4x6xf32> {mhlo.sharding = "{devices=[2,1]0,1}"}, tensor<6xf32> {mhlo.sharding = "{maximal device=0}"}) {
    %0 = stablehlo.multiply %x, %x : tensor<4x6xf32>
    %1 = stablehlo.custom_call @Sharding(%0) {mhlo.sharding = "{devices=[2,1]0,1}"} : (tensor<4x6xf32>) -> tensor<4x6xf32>
    %2 = stablehlo.exponential %1 : tensor<4x6xf32>
    %zero = stablehlo.constant dense<0.000000e+00> : tensor<f32>
    %3 = stablehlo.reduce(%2 init: %zero) applies stablehlo.add across dimensions = [0] : (tensor<4x6xf32>, tensor<f32>) -> tensor<6xf32>
    return %2, %3 : tensor<4x6xf32>, tensor<6xf32>
  }
}
`;
  const m = importModule(new SourceFile('constraint.mlir', text));
  const f = m.funcs.get('main')!;
  const inputs = randomInputs(f, 3, m) as Tensor[];
  const want = new Interpreter(m).runFunc(f, inputs) as Tensor[];
  const partitioned = partitionSpmd(m, 'main', 2);
  t.same(
    collectives(partitioned),
    ['stablehlo.all_reduce'],
    'the constraint slices locally; the sum over the tiled rows is all_reduced',
  );
  const run = await runPartitioned(m, 'main', inputs, { grid: { replicas: 1, partitions: 2, comm: 'threads' } });
  run.global.forEach((g, i) => t.ok(compareTensors(g, want[i]!).ok, `result ${i} matches the interpreter`));
  t.same(run.outputs[0]![0]!.type.shape, [2, 6], 'each device holds two rows of the constrained value');
});

t.test(
  '--report lists each collective with its bytes and why it is there; bad shardings are located errors',
  async (t) => {
    const file = join(FIXTURES, 'partition', 'attention-gspmd-2.mlir');
    const out = join(tmpdir(), `xla-aot-report-${process.pid}`);
    const r = await execa('node', [CLI, file, '--devices', '2', '-o', out, '--report'], { cwd: ROOT, reject: false });
    t.equal(r.exitCode, 0, 'compiles');
    t.match(
      r.stdout,
      /communication \(2 devices, threads\): 2048 bytes received per device per run\n  stablehlo\.all_reduce at attention-gspmd-2\.mlir:\d+:\d+: 2048 bytes received per device \(partial products of a dot_general contracting over tiled dimension 2\)/,
    );
    const uneven = importModule(
      new SourceFile(
        'uneven.mlir',
        `module @u attributes {mhlo.num_partitions = 4 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%x: tensor<6x2xf32> {mhlo.sharding = "{devices=[4,1]0,1,2,3}"}) -> tensor<6x2xf32> {
    return %x : tensor<6x2xf32>
  }
}
`,
      ),
    );
    let message = '(no error)';
    try {
      partitionSpmd(uneven, 'main', 4);
    } catch (e) {
      message = e instanceof CompileError ? renderDiagnostic(e.diagnostic) : String(e);
    }
    t.match(
      message,
      /^uneven\.mlir:2:3: error E0301: op 'dimension 0 of 6 cut into 4 tiles \(uneven tiles\)'/,
      'located',
    );
  },
);

// StableHLO regions may read values of the enclosing block (jax's cond does): a tiled one is
// gathered before the op and read whole inside, under its new name.
t.test('a branch reading a tiled value from outside', async (t) => {
  const text = `module @b attributes {mhlo.num_partitions = 2 : i32, mhlo.num_replicas = 1 : i32} {
  func.func public @main(%p: tensor<i1> {mhlo.sharding = "{replicated}"}, %x: tensor<4x6xf32> {mhlo.sharding = "{devices=[2,1]0,1}"}) -> (tensor<4x6xf32> {mhlo.sharding = "{replicated}"}) {
    %r = "stablehlo.if"(%p) ({
      %e = stablehlo.exponential %x : tensor<4x6xf32>
      stablehlo.return %e : tensor<4x6xf32>
    }, {
      %n = stablehlo.negate %x : tensor<4x6xf32>
      stablehlo.return %n : tensor<4x6xf32>
    }) : (tensor<i1>) -> tensor<4x6xf32>
    return %r : tensor<4x6xf32>
  }
}
`;
  const m = importModule(new SourceFile('branch.mlir', text));
  const f = m.funcs.get('main')!;
  for (const seed of [1, 2]) {
    const inputs = randomInputs(f, seed, m) as Tensor[];
    const want = new Interpreter(m).runFunc(f, inputs) as Tensor[];
    const run = await runPartitioned(m, 'main', inputs, { grid: { replicas: 1, partitions: 2, comm: 'threads' } });
    t.ok(compareTensors(run.global[0]!, want[0]!).ok, `seed ${seed}: matches the interpreter`);
  }
});
