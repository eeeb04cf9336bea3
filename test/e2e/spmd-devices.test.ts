import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import t from 'tap';
import { SourceFile } from '../../src/diag/source.js';
import { CompileError, renderDiagnostic } from '../../src/diag/diagnostics.js';
import { importModule } from '../../src/import/index.js';
import { Interpreter } from '../../src/interpret/eval.js';
import { runParallel } from '../../src/interpret/process-grid.js';
import { randomInputs } from '../../src/interpret/inputs.js';
import { compareTensors } from '../../src/ir/compare.js';
import type { Module } from '../../src/ir/core.js';
import type { Tensor } from '../../src/ir/tensor.js';
import { typeToString } from '../../src/ir/types.js';
import { collectivesAlongDimZero } from '../../src/partition/collective-layout.js';
import { compile } from '../../src/pipeline.js';
import { MPIRUN, runSpmd } from '../../src/toolchain/spmd-run.js';
import { SANITIZE } from '../helpers/models.js';
import { CLI, FIXTURES, HAVE_SHARED, ROOT, SHARED } from '../helpers/paths.js';

// SPMD programs (--devices N): every collective, compiled once per communicator (threads: N
// threads of one process; MPI: mpirun -np N), each device's results diffed against the reference
// interpreter running the unchanged program on an N-process grid. The conformance cases of the
// collectives run the same way (conformance-c.test.ts); this file adds float data, dimensions
// other than 0, group orders other than the devices', a broadcast half the devices are not in,
// the sanitizers, and the errors.
const FIXTURE = join(FIXTURES, 'partition', 'collectives.mlir');
const load = (text: string, name = FIXTURE): Module => importModule(new SourceFile(name, text));
const fixture = (): Module => load(readFileSync(FIXTURE, 'utf8'));

/** The interpreter's results of `m`'s @main on a 1 x n grid, every process given `inputs`, by device. */
function reference(m: Module, n: number, inputs: readonly Tensor[]): Tensor[][] {
  const flat = runParallel(
    new Interpreter(m),
    [Array<string>(n).fill('main')],
    [...Array(n)].flatMap(() => inputs),
    [],
  );
  const per = flat.length / n;
  return [...Array(n).keys()].map((d) => flat.slice(d * per, (d + 1) * per) as Tensor[]);
}

const inputsOf = (m: Module, seed: number): Tensor[] => randomInputs(m.funcs.get('main')!, seed, m) as Tensor[];

t.test("the communicator layout rewrite keeps every device's results (interpreter on both programs)", async (t) => {
  const m = fixture();
  const x = inputsOf(m, 3);
  const rewritten = collectivesAlongDimZero(m);
  const want = reference(m, 4, x);
  const got = reference(rewritten, 4, x);
  want.forEach((outs, d) =>
    outs.forEach((w, i) =>
      t.ok(compareTensors(got[d]![i]!, w).ok, `device ${d} result ${i} the same after the rewrite`),
    ),
  );
  const names = new Set<string>();
  rewritten.funcs.get('main')!.body!.blocks[0]!.ops.forEach((op) => names.add(op.name));
  t.ok(names.has('stablehlo.transpose'), 'collectives along dimension 1 go through transposes');
});

for (const comm of ['threads', 'mpi'] as const)
  t.test(`every collective on 4 devices, ${comm}`, async (t) => {
    const m = fixture();
    for (const seed of [1, 2]) {
      const x = inputsOf(m, seed);
      const want = reference(m, 4, x);
      const run = await runSpmd(m, 'main', [x, x, x, x], { grid: { replicas: 1, partitions: 4, comm } });
      t.equal(run.outputs.length, 4, 'four devices');
      run.outputs.forEach((outs, d) =>
        outs.forEach((r, i) => {
          const diff = compareTensors(r, want[d]![i]!);
          t.ok(diff.ok, `seed ${seed}, device ${d}, result ${i}: ${diff.message}`);
        }),
      );
      // Each device computes something of its own: the results differ between devices.
      t.notSame(want[0]![2], want[1]![2], 'reduce_scatter gives each device its own chunk');
    }
  });

// Every reducer on the element types whose arithmetic differs: f16/bf16 rounded per step,
// integers wrapping (a product of large values), booleans, NaN through min and max. The threads
// communicator folds them itself; MPI has native reductions for the integers and folds the rest.
t.test('every reducer and element type, 3 devices, both communicators, exact per type', async (t) => {
  const path = join(FIXTURES, 'partition', 'reducers.mlir');
  const m = load(readFileSync(path, 'utf8'), path);
  const main = m.funcs.get('main')!;
  const x = randomInputs(main, 7, m) as Tensor[];
  const flat = runParallel(new Interpreter(m), [['main', 'main', 'main']], [...x, ...x, ...x], []) as Tensor[];
  const per = flat.length / 3;
  for (const comm of ['threads', 'mpi'] as const) {
    const run = await runSpmd(m, 'main', [x, x, x], { grid: { replicas: 1, partitions: 3, comm } });
    run.outputs.forEach((outs, d) =>
      outs.forEach((r, i) => {
        const diff = compareTensors(r, flat[d * per + i]!);
        t.ok(diff.ok, `${comm}: device ${d} result ${i} (${typeToString(r.type)}): ${diff.message}`);
      }),
    );
  }
});

t.test('every collective on 4 devices, threads, under ASan+UBSan', async (t) => {
  const m = fixture();
  const x = inputsOf(m, 4);
  const want = reference(m, 4, x);
  const run = await runSpmd(m, 'main', [x, x, x, x], {
    grid: { replicas: 1, partitions: 4, comm: 'threads' },
    flags: SANITIZE,
  });
  run.outputs.forEach((outs, d) =>
    outs.forEach((r, i) => t.ok(compareTensors(r, want[d]![i]!).ok, `device ${d} result ${i} matches`)),
  );
});

t.test('xla-aot run --devices: every device diffed against the interpreter, both communicators', async (t) => {
  for (const comm of ['threads', 'mpi']) {
    const r = await execa('node', [CLI, 'run', FIXTURE, '--devices', '4', '--comm', comm, '--random-seed', '5'], {
      cwd: ROOT,
      reject: false,
    });
    t.equal(r.exitCode, 0, `${comm}: exit 0`);
    t.equal((r.stdout.match(/vs interpreter: match/g) ?? []).length, 28, `${comm}: 4 devices x 7 results match`);
    t.match(r.stdout, `communicator: ${comm}`);
  }
});

const withHeader = (body: string, partitions = 2): string =>
  `module @m attributes {mhlo.num_partitions = ${partitions} : i32, mhlo.num_replicas = 1 : i32} {\n${body}\n}\n`;

const diagnostic = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    if (e instanceof CompileError) return renderDiagnostic(e.diagnostic).split('\n')[0]!;
    throw e;
  }
  return '(no error)';
};

t.test('errors: located, never a program that would hang or answer wrong', async (t) => {
  const m = fixture();
  const options = { entry: 'main', prefix: 'model', sourceName: 'collectives.mlir', cc: 'gcc' };
  t.match(
    diagnostic(() => compile(m, options)),
    /collectives\.mlir:9:12: error E0301: op 'stablehlo\.partition_id \(an SPMD program: compile it with --devices N\)'/,
    'a collective without --devices',
  );
  const r = await execa('node', [CLI, FIXTURE, '-o', '/tmp/xla-aot-spmd-bad', '--devices', '2'], {
    cwd: ROOT,
    reject: false,
  });
  t.equal(r.exitCode, 1, "--devices against the module's grid: exit 1");
  t.match(r.stderr, /collectives\.mlir:6:33: error E0204: --devices: the module runs on .* = 4 devices, not 2/);
  const product = load(
    withHeader(`  func.func @main(%x: tensor<4xf32>) -> tensor<4xf32> {
    %r = "stablehlo.all_reduce"(%x) ({
      ^bb0(%a: tensor<f32>, %b: tensor<f32>):
        %s = stablehlo.subtract %a, %b : tensor<f32>
        stablehlo.return %s : tensor<f32>
    }) {replica_groups = dense<[[0, 1]]> : tensor<1x2xi64>, channel_handle = #stablehlo.channel_handle<handle = 1, type = 0>, use_global_device_ids} : (tensor<4xf32>) -> tensor<4xf32>
    return %r : tensor<4xf32>
  }`),
    'reducer.mlir',
  );
  t.match(
    diagnostic(() => compile(product, { ...options, devices: { replicas: 1, partitions: 2, comm: 'threads' } })),
    /reducer\.mlir:3:10: error E0301: op 'stablehlo\.all_reduce whose reducer is not one add, multiply, minimum, maximum, and, or or xor/,
    'a reducer the communicator does not have',
  );
  const outside = load(
    withHeader(`  func.func @main(%x: tensor<4xf32>) -> tensor<8xf32> {
    %r = "stablehlo.all_gather"(%x) {all_gather_dim = 0 : i64, replica_groups = dense<[[0, 5]]> : tensor<1x2xi64>, channel_handle = #stablehlo.channel_handle<handle = 1, type = 0>, use_global_device_ids} : (tensor<4xf32>) -> tensor<8xf32>
    return %r : tensor<8xf32>
  }`),
    'outside.mlir',
  );
  t.match(
    diagnostic(() => compile(outside, { ...options, devices: { replicas: 1, partitions: 2, comm: 'threads' } })),
    /outside\.mlir:3:10: error E0301: op 'stablehlo\.all_gather on 2 devices: process 1 is in no group'/,
    'a group naming a device the program does not have',
  );
});

t.test('an MPI program launched on the wrong number of processes says so and fails', async (t) => {
  const m = fixture();
  const x = inputsOf(m, 1);
  const run = await runSpmd(m, 'main', [x, x, x, x], { grid: { replicas: 1, partitions: 4, comm: 'mpi' } });
  const r = await execa(MPIRUN[0]!, [...MPIRUN.slice(1), '-np', '2', join(run.dir, 'harness'), run.dir], {
    reject: false,
    all: true,
  });
  t.not(r.exitCode, 0, 'non-zero exit');
  t.match(r.all ?? '', /this program runs on 4 devices; launch it with mpirun -np 4 \(got 2\)/);
});

// Manual regions (shard_map) on real devices: the region's collectives run through the
// communicator, each device on its tile. An annotated entry is partitioned (its tiles are the
// devices' inputs); shardy.mlir's 2 x 2 mesh is beyond the partitioner's one-dimension tilings,
// so its devices take whole values and slice their tiles themselves (partition/manual.ts).
t.test('manual regions on devices: shard_map fixtures and the 8-way GSPMD export', async (t) => {
  const cases: [string, number, number, boolean][] = [
    [join(FIXTURES, 'spmd', 'collectives.mlir'), 4, 4, true],
    [join(FIXTURES, 'spmd', 'shardy.mlir'), 4, 4, false],
    ...(HAVE_SHARED
      ? [[join(SHARED, 'exports', 'ttmlir_e2e_tp_gspmd.mlir'), 8, 1, true] as [string, number, number, boolean]]
      : []),
  ];
  for (const [file, n, matches, tiles] of cases)
    for (const comm of ['threads', 'mpi']) {
      const r = await execa('node', [CLI, 'run', file, '--devices', String(n), '--comm', comm, '--random-seed', '2'], {
        cwd: ROOT,
        reject: false,
      });
      const name = `${file.split('/').pop()} on ${n} devices, ${comm}`;
      t.equal(r.exitCode, 0, `${name}: exit 0`);
      t.equal((r.stdout.match(/vs interpreter.*: match/g) ?? []).length, matches, `${name}: ${matches} results match`);
      t.equal(
        r.stdout.includes('inputs cut by their shardings'),
        tiles,
        `${name}: ${tiles ? 'partitioned' : 'manual regions per device'}`,
      );
    }
});
