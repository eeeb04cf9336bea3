/**
 * @fileoverview Compile-and-run of an SPMD program (`--devices N`) on this machine: emits it with
 * the communicator asked for, builds the SPMD harness (templates/c/spmd-harness.c.hbs), writes
 * each device's inputs, runs the devices (threads: one process; MPI: `mpirun -np N`) and reads
 * every device's outputs back.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import tmp from 'tmp';
import type { Module } from '../ir/core.js';
import type { Tensor } from '../ir/tensor.js';
import { render } from '../emit-common/templates.js';
import { compileFlags, compileInParallel, sourceOf, tool, writeFiles } from './build.js';
import { runChecked } from './run.js';
import { fromStorageBytes, toStorageBytes } from '../emit-common/ctypes.js';
import { VERSION, type EmitResult } from '../emit-common/program.js';
import { deviceCount, type DeviceGrid } from '../partition/devices.js';
import { compile } from '../pipeline.js';
import { UNWRITTEN_BYTE, type FaultKind } from '../flat/faults.js';
import { RuntimeError } from '../diag/diagnostics.js';
import { tensorType, type TensorType } from '../ir/types.js';
import { concatTensors, sliceEval } from '../ops/movement.js';
import { entryPlacements, type Placement } from '../partition/spmd.js';
import { programsOf } from '../partition/channels.js';

tmp.setGracefulCleanup();

/** mpirun as this project runs it: as root where it runs as root (CI containers), more processes
 * than cores allowed, shared-memory transport without the cross-memory attach that containers
 * forbid (ptrace). */
export const MPIRUN = [
  'mpirun',
  '--allow-run-as-root',
  '--oversubscribe',
  '--mca',
  'btl',
  'self,vader',
  '--mca',
  'btl_vader_single_copy_mechanism',
  'none',
];

export interface SpmdRunOptions {
  readonly grid: DeviceGrid;
  /** The C compiler of a threads build (default gcc); MPI builds use mpicc. */
  readonly cc?: string;
  /** --threads: each device's GEMM and large loop kernels split over a pool of this many threads. */
  readonly threads?: number;
  /** Extra compiler flags (e.g. sanitizers). */
  readonly flags?: readonly string[];
  readonly keepDir?: string;
  /** The values the program's check ops compare become its outputs (flatten.ts). */
  readonly checksAsOutputs?: boolean;
  /** Emit without constant folding (conformance: the inputs are constants). */
  readonly simplify?: boolean;
  /** --inject-fault: a deliberately wrong program (faults.ts), to test the tests. */
  readonly fault?: FaultKind;
  /** make bench: after the checked run, this many more, timed (SpmdRun.medianSeconds). */
  readonly timedRuns?: number;
}

export interface SpmdRun {
  /** Per device, its outputs. */
  readonly outputs: Tensor[][];
  /** Per device, what each of its outfeed calls wrote: the raw bytes of each operand. */
  readonly outfeeds: Uint8Array[][][];
  /** With timedRuns: the median time of a run on device 0 (the whole step: runs meet in collectives). */
  readonly medianSeconds?: number;
  readonly emitted: EmitResult;
  readonly dir: string;
}

/** One launch of a batch: its module and entry (or with grid.programs, each device's entry), its
 * grid, device d's inputs as inputs[d], and what its infeed calls read on every device (call n's
 * values as infeed[n]). */
export interface SpmdProgram {
  readonly module: Module;
  readonly entry: string;
  readonly grid: DeviceGrid;
  readonly inputs: readonly (readonly Tensor[])[];
  readonly infeed?: readonly (readonly Tensor[])[];
}

/** The raw bytes of every file `<stem>_<n>_<j>.bin` in dir, by n then j (until one is missing). */
function numberedFiles(dir: string, stem: string): Uint8Array[][] {
  const calls: Uint8Array[][] = [];
  for (let n = 0; existsSync(join(dir, `${stem}_${n}_0.bin`)); n++) {
    const buffers: Uint8Array[] = [];
    for (let j = 0; existsSync(join(dir, `${stem}_${n}_${j}.bin`)); j++)
      buffers.push(readFileSync(join(dir, `${stem}_${n}_${j}.bin`)));
    calls.push(buffers);
  }
  return calls;
}

/**
 * Emits every program (each its own C prefix), builds them with one harness and one communicator,
 * and runs them one after the other on the devices (one launch: threads, or one mpirun). The
 * programs must run on as many devices and use the same communicator. Returns each program's run.
 */
export async function runSpmdBatch(
  programs: readonly SpmdProgram[],
  o: Omit<SpmdRunOptions, 'grid'>,
  dir = o.keepDir ?? tmp.dirSync({ prefix: 'xla-aot-spmd-', unsafeCleanup: true }).name,
): Promise<SpmdRun[]> {
  const devices = deviceCount(programs[0]!.grid);
  const comm = programs[0]!.grid.comm;
  const mpi = comm === 'mpi';
  const cc = mpi ? 'mpicc' : (o.cc ?? 'gcc');
  // Each launch's distinct entries, compiled once each: prefix p<k> (SPMD) or p<k>_<j> (MPMD).
  const launches = programs.map((p, k) => {
    if (deviceCount(p.grid) !== devices || p.grid.comm !== comm)
      throw new RuntimeError('an SPMD batch runs on one number of devices with one communicator');
    if (p.inputs.length !== devices)
      throw new RuntimeError(`${devices} devices need ${devices} input lists, got ${p.inputs.length}`);
    const entries = programsOf(p.grid, p.entry);
    const distinct = [...new Set(entries)];
    const built = distinct.map((entry, j) => {
      const prefix = distinct.length === 1 ? `p${k}` : `p${k}_${j}`;
      const r = compile(p.module, {
        entry,
        prefix,
        sourceName: p.module.source.name.split('/').pop()!,
        cc,
        devices: p.grid,
        ...(o.threads ? { threads: o.threads } : {}),
        checksAsOutputs: o.checksAsOutputs ?? false,
        ...(o.simplify === false ? { simplify: false } : {}),
        ...(o.fault ? { fault: o.fault } : {}),
      });
      writeFiles(dir, r);
      return { prefix, r };
    });
    const perDevice = entries.map((e) => built[distinct.indexOf(e)]!);
    p.inputs.forEach((ins, d) => {
      const { r } = perDevice[d]!;
      if (ins.length !== r.inputs.length)
        throw new RuntimeError(`@${entries[d]} takes ${r.inputs.length} input(s), device ${d} got ${ins.length}`);
      ins.forEach((t, i) => writeFileSync(join(dir, `in${k}_${d}_${i}.bin`), toStorageBytes(t)));
      p.infeed?.forEach((values, n) =>
        values.forEach((t, j) => writeFileSync(join(dir, `infeed${k}_${d}_${n}_${j}.bin`), toStorageBytes(t))),
      );
    });
    return { built, perDevice };
  });
  const emitted = launches.flatMap((l) => l.built.map((b) => b.r));
  const harness = render('c/spmd-harness.c.hbs', {
    version: VERSION,
    poison: UNWRITTEN_BYTE,
    headers: launches.flatMap((l) => l.built.map((b) => b.prefix)),
    launches: launches.map((l) =>
      l.perDevice.map(
        ({ prefix: p, r }) =>
          `{&${p}_model, ${p}_init, ${p}_bind, ${r.hostFeeds ? `${p}_bind_feeds` : 'NULL'}, ${p}_fini}`,
      ),
    ),
    comm,
    mpi,
    devices,
    maxInputs: Math.max(1, ...emitted.map((r) => r.inputs.length)),
    maxOutputs: Math.max(1, ...emitted.map((r) => r.outputs.length)),
  });
  writeFileSync(join(dir, 'harness.c'), harness);
  // The programs' sources (the communicator's once) and the harness, compiled at once, then linked.
  const sources = [...new Set(emitted.flatMap((r) => r.objects.map((obj) => sourceOf(r, obj))))];
  const first = emitted[0]!;
  const flags = [...compileFlags(first, o.flags ?? []), '-I.'];
  const objects = await compileInParallel(cc, flags, ['harness.c', ...sources], dir);
  await tool(cc, [...flags, ...objects, ...first.target.exeFlags, '-o', 'harness', '-lm'], dir);
  const exe = join(dir, 'harness');
  const runs = o.timedRuns ? [String(o.timedRuns)] : [];
  const command = mpi ? [...MPIRUN, '-np', String(devices), exe, dir, ...runs] : [exe, dir, ...runs];
  const stdout = await runChecked(command, 'SPMD program', dir);
  return launches.map((l, k) => {
    const outputs = l.perDevice.map(({ r }, d) =>
      r.outputs.map((t, i) => fromStorageBytes(readFileSync(join(dir, `out${k}_${d}_${i}.bin`)), t)),
    );
    const outfeeds = l.perDevice.map((_, d) => numberedFiles(dir, `outfeed${k}_${d}`));
    const timing = o.timedRuns ? new RegExp(`\\{"program": ${k}, "median_s": ([0-9.e+-]+)`).exec(stdout) : undefined;
    if (o.timedRuns && !timing) throw new RuntimeError(`SPMD program printed no timing:\n${stdout}`);
    const e = l.perDevice[0]!.r;
    return { outputs, outfeeds, emitted: e, dir, ...(timing ? { medianSeconds: Number(timing[1]) } : {}) };
  });
}

/** Emits `entry` for `o.grid`, builds it and runs it with `inputs[d]` on device d (and `infeed`
 * as what every device's infeed calls read). */
export async function runSpmd(
  m: Module,
  entry: string,
  inputs: readonly (readonly Tensor[])[],
  o: SpmdRunOptions & Pick<SpmdProgram, 'infeed'>,
): Promise<SpmdRun> {
  const [run] = await runSpmdBatch(
    [{ module: m, entry, grid: o.grid, inputs, ...(o.infeed ? { infeed: o.infeed } : {}) }],
    o,
  );
  return run!;
}

/** Device d's tile of `t` placed by `p` on n partitions (the whole of a replicated value). */
export function deviceTile(t: Tensor, p: Placement, n: number, d: number): Tensor {
  if (p.kind === 'replicated') return t;
  const size = t.type.shape[p.dim]! / p.ways;
  const tile = Math.floor(d / (n / p.ways));
  const start = t.type.shape.map((_, i) => (i === p.dim ? tile * size : 0));
  const shape = t.type.shape.map((s, i) => (i === p.dim ? size : s));
  return sliceEval(
    t,
    start,
    start.map(() => 1),
    tensorType(shape, t.type.elem),
  );
}

/** The whole value from every device's part (`parts[d]`): its tiles put back together, or a
 * replicated value's copy on device 0. */
export function wholeValue(parts: readonly Tensor[], p: Placement, full: TensorType): Tensor {
  if (p.kind === 'replicated') return parts[0]!;
  const copies = parts.length / p.ways;
  return concatTensors(
    [...Array(p.ways).keys()].map((t) => parts[t * copies]!),
    p.dim,
    full,
  );
}

/** A partitioned program's run: its global outputs (tiles put back together by each result's
 * sharding; a replicated result from device 0), and every device's own outputs. */
export interface PartitionedRun extends SpmdRun {
  readonly global: Tensor[];
}

/** A program whose entry states shardings, with its global inputs. */
export interface ShardedProgram {
  readonly module: Module;
  readonly entry: string;
  readonly inputs: readonly Tensor[];
}

/**
 * Runs programs whose entries state shardings on N partitions (partition/spmd.ts), as one batch:
 * each device gets its tiles of the global inputs, and the results are put back together (a
 * replicated result from device 0; every device's outputs are returned too, for callers that
 * check each copy).
 */
export async function runPartitionedBatch(
  programs: readonly ShardedProgram[],
  o: SpmdRunOptions,
): Promise<PartitionedRun[]> {
  const n = o.grid.partitions;
  if (o.grid.replicas !== 1) throw new RuntimeError('a sharded program runs on partitions of one replica');
  const placements = programs.map((p) => entryPlacements(p.module, p.module.funcs.get(p.entry)!, n));
  const runs = await runSpmdBatch(
    programs.map((p, k) => ({
      module: p.module,
      entry: p.entry,
      grid: o.grid,
      inputs: [...Array(n).keys()].map((d) => p.inputs.map((t, i) => deviceTile(t, placements[k]!.params[i]!, n, d))),
    })),
    o,
  );
  return runs.map((run, k) => {
    const f = programs[k]!.module.funcs.get(programs[k]!.entry)!;
    const global = placements[k]!.results.map((p, i) =>
      wholeValue(
        run.outputs.map((outs) => outs[i]!),
        p,
        f.resultTypes[i] as TensorType,
      ),
    );
    return { ...run, global };
  });
}

/** runPartitionedBatch of one program. */
export async function runPartitioned(
  m: Module,
  entry: string,
  inputs: readonly Tensor[],
  o: SpmdRunOptions,
): Promise<PartitionedRun> {
  const [run] = await runPartitionedBatch([{ module: m, entry, inputs }], o);
  return run!;
}
