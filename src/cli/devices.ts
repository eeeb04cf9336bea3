/**
 * @fileoverview `xla-aot run --devices N`: the program compiled as an SPMD program and run on N
 * devices (threads or MPI). A program whose entry states shardings is partitioned: each device
 * gets its tiles of the inputs, and the results put back together are diffed against the
 * interpreter running the unpartitioned program. Any other program runs whole on every device
 * with the same inputs, each device's results diffed against the interpreter running it on an
 * N-process grid (collectives and ids as the spec defines them). Exit 1 on any mismatch.
 */
import type { Func, Module } from '../ir/core.js';
import type { Tensor } from '../ir/tensor.js';
import { Interpreter } from '../interpret/eval.js';
import { runParallel } from '../interpret/process-grid.js';
import { compareTensors, degenerate, narrowestFloat } from '../ir/compare.js';
import { printTensor } from '../ops/control.js';
import { deviceCount, type DeviceGrid } from '../partition/devices.js';
import { runPartitioned, runSpmd, type SpmdRunOptions } from '../toolchain/spmd-run.js';
import { partitionMode } from '../partition/spmd.js';

interface DevicesArgs {
  readonly cc?: string;
  readonly threads: number;
}

const runOptions = (a: DevicesArgs, grid: DeviceGrid): SpmdRunOptions => ({
  grid,
  threads: a.threads,
  ...(a.cc ? { cc: a.cc } : {}),
});

/** Prints compiled result `name` and its diff against the interpreter's (`reference`: which run of
 * it; inconclusive where the reference is degenerate: `degenerateWhy`); true when it matches. */
function judged(
  m: Module,
  name: string,
  reference: string,
  got: Tensor,
  want: Tensor,
  degenerateWhy: string | undefined,
): boolean {
  const diff = compareTensors(got, want, narrowestFloat(m));
  console.log(`${name}: ${printTensor(got)}`);
  console.log(
    `${name} vs interpreter${reference}: ${degenerateWhy ? `inconclusive: the reference result is degenerate (${degenerateWhy})` : diff.message}`,
  );
  return diff.ok && !degenerateWhy;
}

/** A sharded program (partition/spmd.ts): each device given its tiles of the inputs; the
 * reassembled results diffed against the interpreter running the unpartitioned program. */
async function runShardedCommand(
  a: DevicesArgs,
  m: Module,
  f: Func,
  inputs: readonly Tensor[],
  grid: DeviceGrid,
): Promise<number> {
  const want = new Interpreter(m).runFunc(f, inputs) as Tensor[];
  const run = await runPartitioned(m, f.name, inputs, runOptions(a, grid));
  console.log(
    `${grid.partitions} partitions, communicator: ${grid.comm}; inputs cut by their shardings, results put back together`,
  );
  const ok = run.global.map((r, i) => judged(m, `result[${i}]`, ' (unpartitioned)', r, want[i]!, degenerate(want[i]!)));
  return ok.every(Boolean) ? 0 : 1;
}

export async function runDevicesCommand(
  a: DevicesArgs,
  m: Module,
  f: Func,
  inputs: readonly Tensor[],
  grid: DeviceGrid,
): Promise<number> {
  const mode = grid.partitions > 1 ? partitionMode(m, f, grid.partitions) : 'grid';
  if (grid.replicas === 1 && mode === 'tiles') return runShardedCommand(a, m, f, inputs, grid);
  const devices = deviceCount(grid);
  // Manual regions take and return whole values on every device: the reference is the program
  // run once; an SPMD program as written runs on the interpreter's process grid.
  const programs = [...Array(grid.replicas)].map(() => Array<string>(grid.partitions).fill(f.name));
  const flat =
    mode === 'manual'
      ? [...Array(devices)].flatMap(() => new Interpreter(m).runFunc(f, inputs) as Tensor[])
      : (runParallel(
          new Interpreter(m),
          programs,
          [...Array(devices)].flatMap(() => inputs),
          [],
        ) as Tensor[]);
  const perDevice = flat.length / devices;
  const run = await runSpmd(
    m,
    f.name,
    [...Array(devices)].map(() => inputs),
    runOptions(a, grid),
  );
  console.log(
    `${devices} devices (${grid.replicas} replicas x ${grid.partitions} partitions), communicator: ${grid.comm}`,
  );
  const want = (d: number, i: number): Tensor => flat[d * perDevice + i]!;
  const ok = run.outputs.flatMap((outs, d) =>
    outs.map((r, i) => {
      // Zeros are a device's right answer in places (a permute nobody sends to it): a result is
      // inconclusive only when it is degenerate on every device.
      const degenerateEverywhere = run.outputs.every((_, e) => degenerate(want(e, i)));
      return judged(
        m,
        `device ${d} result[${i}]`,
        '',
        r,
        want(d, i),
        degenerateEverywhere ? degenerate(want(d, i)) : undefined,
      );
    }),
  );
  return ok.every(Boolean) ? 0 : 1;
}
