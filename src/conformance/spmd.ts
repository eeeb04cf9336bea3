/**
 * @fileoverview `conformance --backend c` for the cases that run a program on a process grid
 * (`interpreter.run_parallel`, where every collective case lives): the program is compiled as an
 * SPMD program for the grid (`--devices`), run once per communicator (threads, and MPI through
 * mpirun), each device on the arguments the case gives its process, and every device's results
 * are diffed against the interpreter's results for that process (the interpreter having passed
 * the case's checks on them). A case passes only when it passes with every communicator.
 */
import { CompileError, error, renderDiagnostic } from '../diag/diagnostics.js';
import { SourceFile } from '../diag/source.js';
import type { Func, Module, Op } from '../ir/core.js';
import type { Tensor } from '../ir/tensor.js';
import { compareTensors } from '../ir/compare.js';
import { importModule } from '../import/index.js';
import { Interpreter } from '../interpret/eval.js';
import { attrsOf } from '../ops/index.js';
import type { DeviceGrid } from '../partition/devices.js';
import { runSpmd } from '../toolchain/spmd-run.js';
import type { CaseResult } from './runner.js';
import type { FaultKind } from '../flat/faults.js';

/** A run_parallel case ready to compile: its program, grid, and per-process arguments and results. */
export interface SpmdCase {
  readonly file: string;
  readonly index: number;
  readonly module: Module;
  readonly program: string;
  readonly replicas: number;
  readonly partitions: number;
  readonly args: readonly (readonly Tensor[])[];
  readonly expected: readonly (readonly Tensor[])[];
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
 * process; a case whose processes run different programs is refused (one SPMD program each).
 */
export function prepareSpmd(file: string, text: string, index: number): SpmdCase | CaseResult {
  try {
    const m = importModule(new SourceFile(file, text));
    const main = m.funcs.get('main')!;
    const rp = runParallelOf(main)!;
    const { programs } = attrsOf('interpreter.run_parallel', rp);
    const names = new Set(programs.flat());
    if (names.size !== 1)
      throw error(
        'E0301',
        { op: 'run_parallel with different programs per process', target: 'one SPMD program' },
        rp.loc,
      );
    const program = m.funcs.get([...names][0]!)!;
    // The entry's ops up to and including run_parallel, returning its operands and results.
    const ops = main.body!.blocks[0]!.ops;
    const upTo = ops.slice(0, ops.indexOf(rp) + 1);
    const ret: Op = { ...rp, name: 'func.return', operands: [...rp.operands, ...rp.results], results: [], attrs: {} };
    const probe: Func = { ...main, body: { blocks: [{ ...main.body!.blocks[0]!, ops: [...upTo, ret] }] } };
    const values = new Interpreter(m).runFunc(probe, []) as Tensor[];
    const args = values.slice(0, rp.operands.length);
    const results = values.slice(rp.operands.length);
    const processes = programs.length * programs[0]!.length;
    const perProcess = <T>(xs: readonly T[], n: number): T[][] =>
      [...Array(processes).keys()].map((p) => xs.slice(p * n, (p + 1) * n));
    return {
      file,
      index,
      module: m,
      program: program.name,
      replicas: programs.length,
      partitions: programs[0]!.length,
      args: perProcess(args, program.params.length),
      expected: perProcess(results, results.length / processes),
    };
  } catch (e) {
    const reason =
      e instanceof CompileError ? renderDiagnostic(e.diagnostic).split('\n')[0]! : (e as Error).message.split('\n')[0]!;
    return failed(file, index, reason);
  }
}

/** Compiles and runs the case with each communicator; passed only when every device of every run matches. */
export async function runSpmdCase(
  c: SpmdCase,
  comms: readonly DeviceGrid['comm'][],
  build: { readonly flags: readonly string[]; readonly cc?: string; readonly fault?: FaultKind },
): Promise<CaseResult> {
  for (const comm of comms) {
    let outputs: Tensor[][];
    try {
      // Sanitizers on the threads build: MPI's own allocations would read as leaks.
      const run = await runSpmd(c.module, c.program, c.args, {
        grid: { replicas: c.replicas, partitions: c.partitions, comm },
        simplify: false,
        ...(comm === 'threads' ? { flags: build.flags, ...(build.cc ? { cc: build.cc } : {}) } : {}),
        ...(build.fault ? { fault: build.fault } : {}),
      });
      outputs = run.outputs;
    } catch (e) {
      const reason =
        e instanceof CompileError
          ? renderDiagnostic(e.diagnostic).split('\n')[0]!
          : (e as Error).message.split('\n').slice(0, 3).join(' ');
      return failed(c.file, c.index, `${comm}: ${reason}`);
    }
    for (const [d, outs] of outputs.entries())
      for (const [i, t] of outs.entries()) {
        const diff = compareTensors(t, c.expected[d]![i]!);
        if (!diff.ok)
          return failed(c.file, c.index, `${comm}: device ${d} output ${i} vs interpreter: ${diff.message}`);
      }
  }
  const devices = c.replicas * c.partitions;
  return {
    file: c.file,
    index: c.index,
    outcome: 'passed',
    reason: `${devices} devices x ${c.expected[0]!.length} value(s) match the interpreter with ${comms.join(' and ')}`,
  };
}
