/**
 * @fileoverview `conformance --backend c` for the cases that run a program on a process grid
 * (`interpreter.run_parallel`, where every collective case lives): the program is compiled as an
 * SPMD program for the grid (`--devices`), run once per communicator (threads, and MPI through
 * mpirun), each device on the arguments the case gives its process, and every device's results
 * are diffed against the interpreter's results for that process (the interpreter having passed
 * the case's checks on them). A case passes only when it passes with every communicator. Cases
 * on as many devices are built and launched together (one harness runs them one after another).
 * Processes that run different programs (send / recv cases) are one launch of one program per
 * device (MPMD); the case's infeed functions are what every device's infeed calls read; tokens
 * are the empty buffers they compile to.
 */
import { CompileError, error, renderDiagnostic } from '../diag/diagnostics.js';
import { SourceFile } from '../diag/source.js';
import type { Func, Module, Op } from '../ir/core.js';
import type { Tensor } from '../ir/tensor.js';
import { asStored } from '../emit-common/program.js';
import { compareTensors } from '../ir/compare.js';
import { importModule } from '../import/index.js';
import { Interpreter } from '../interpret/eval.js';
import { attrsOf } from '../ops/index.js';
import type { DeviceGrid } from '../partition/devices.js';
import { runSpmdBatch } from '../toolchain/spmd-run.js';
import type { CaseResult } from './runner.js';
import type { FaultKind } from '../flat/faults.js';

/** A run_parallel case ready to compile: each process's program, the grid, per-process arguments
 * and results, and the values of the infeed calls. */
export interface SpmdCase {
  readonly file: string;
  readonly index: number;
  readonly module: Module;
  readonly programs: readonly string[];
  readonly replicas: number;
  readonly partitions: number;
  readonly args: readonly (readonly Tensor[])[];
  readonly expected: readonly (readonly Tensor[])[];
  readonly infeed: readonly (readonly Tensor[])[];
}

const failed = (file: string, index: number, reason: string): CaseResult => ({
  file,
  index,
  outcome: 'failed',
  reason,
});

/** The case's run_parallel op, when its entry has one. */
export function runParallelOf(f: Func): Op | undefined {
  return f.body?.blocks[0]?.ops.find((op) => op.name === 'interpreter.run_parallel');
}

/**
 * Interprets the entry up to its run_parallel op and returns that op's arguments and results by
 * process, and the values its infeed functions give.
 */
export function prepareSpmd(file: string, text: string, index: number): SpmdCase | CaseResult {
  try {
    const m = importModule(new SourceFile(file, text));
    const main = m.funcs.get('main')!;
    const rp = runParallelOf(main)!;
    const { programs, infeed } = attrsOf('interpreter.run_parallel', rp);
    const perProcess = programs.flat().map((name) => {
      const f = m.funcs.get(name);
      if (!f) throw error('E0107', { name }, rp.loc);
      return f;
    });
    // The entry's ops up to and including run_parallel, returning its operands and results.
    const ops = main.body!.blocks[0]!.ops;
    const upTo = ops.slice(0, ops.indexOf(rp) + 1);
    const ret: Op = { ...rp, name: 'func.return', operands: [...rp.operands, ...rp.results], results: [], attrs: {} };
    const probe: Func = { ...main, body: { blocks: [{ ...main.body!.blocks[0]!, ops: [...upTo, ret] }] } };
    const interpreter = new Interpreter(m);
    const values = interpreter.runFunc(probe, []).map(asStored);
    const split = (xs: readonly Tensor[], count: (f: Func) => number): Tensor[][] => {
      let next = 0;
      return perProcess.map((f) => xs.slice(next, (next += count(f))));
    };
    return {
      file,
      index,
      module: m,
      programs: perProcess.map((f) => f.name),
      replicas: programs.length,
      partitions: programs[0]!.length,
      args: split(values.slice(0, rp.operands.length), (f) => f.params.length),
      expected: split(values.slice(rp.operands.length), (f) => f.resultTypes.length),
      infeed: infeed.map((name) => interpreter.callFunction(name, []).map(asStored)),
    };
  } catch (e) {
    const reason =
      e instanceof CompileError ? renderDiagnostic(e.diagnostic).split('\n')[0]! : (e as Error).message.split('\n')[0]!;
    return failed(file, index, reason);
  }
}

export interface SpmdBuild {
  readonly flags: readonly string[];
  readonly cc?: string;
  readonly fault?: FaultKind;
}

const reasonOf = (e: unknown): string =>
  e instanceof CompileError
    ? renderDiagnostic(e.diagnostic).split('\n')[0]!
    : (e as Error).message.split('\n').slice(0, 3).join(' ');

/** Why a run's outputs fail the case (undefined: every device matches). */
function mismatch(c: SpmdCase, outputs: readonly (readonly Tensor[])[]): string | undefined {
  for (const [d, outs] of outputs.entries())
    for (const [i, t] of outs.entries()) {
      const diff = compareTensors(t, c.expected[d]![i]!);
      if (!diff.ok) return `device ${d} output ${i} vs interpreter: ${diff.message}`;
    }
  return undefined;
}

/** The cases run as one batch per number of devices and communicator (one build, one launch);
 * a batch that fails to build or run is run case by case, so one bad case cannot hide the others.
 * Returns why each case failed, by case (absent: it passed with every communicator). */
async function runBatches(
  cases: readonly SpmdCase[],
  comm: DeviceGrid['comm'],
  build: SpmdBuild,
  failures: Map<SpmdCase, string>,
): Promise<void> {
  const bySize = new Map<number, SpmdCase[]>();
  for (const c of cases) {
    if (failures.has(c)) continue;
    const n = c.replicas * c.partitions;
    bySize.set(n, [...(bySize.get(n) ?? []), c]);
  }
  // Sanitizers on the threads build: MPI's own allocations would read as leaks.
  const options = {
    simplify: false,
    ...(comm === 'threads' ? { flags: build.flags, ...(build.cc ? { cc: build.cc } : {}) } : {}),
    ...(build.fault ? { fault: build.fault } : {}),
  };
  const program = (c: SpmdCase) => ({
    module: c.module,
    entry: c.programs[0]!,
    grid: {
      replicas: c.replicas,
      partitions: c.partitions,
      comm,
      ...(new Set(c.programs).size > 1 ? { programs: c.programs } : {}),
    },
    inputs: c.args,
    infeed: c.infeed,
  });
  for (const group of bySize.values()) {
    let runs: Awaited<ReturnType<typeof runSpmdBatch>> | undefined;
    try {
      runs = await runSpmdBatch(group.map(program), options);
    } catch {
      runs = undefined;
    }
    for (const [k, c] of group.entries()) {
      let outputs = runs?.[k]?.outputs;
      if (!outputs)
        try {
          outputs = (await runSpmdBatch([program(c)], options))[0]!.outputs;
        } catch (e) {
          failures.set(c, `${comm}: ${reasonOf(e)}`);
          continue;
        }
      const why = mismatch(c, outputs);
      if (why) failures.set(c, `${comm}: ${why}`);
    }
  }
}

/** Compiles and runs the cases with each communicator; a case passes only when every device of
 * every run matches. */
export async function runSpmdCases(
  cases: readonly SpmdCase[],
  comms: readonly DeviceGrid['comm'][],
  build: SpmdBuild,
): Promise<CaseResult[]> {
  const failures = new Map<SpmdCase, string>();
  for (const comm of comms) await runBatches(cases, comm, build, failures);
  return cases.map((c) => {
    const why = failures.get(c);
    if (why) return failed(c.file, c.index, why);
    return {
      file: c.file,
      index: c.index,
      outcome: 'passed',
      reason: `${c.replicas * c.partitions} devices, ${c.expected.flat().length} value(s) in all, match the interpreter with ${comms.join(' and ')}`,
    };
  });
}
