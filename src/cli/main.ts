#!/usr/bin/env node
/**
 * @fileoverview Command-line entry (yargs). The only module that reads argv/env: it wires the
 * commands of commands.ts (the default compile command, interpret, run, conformance, fuzz) to
 * their options and renders errors as located diagnostics.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { CompileError, renderDiagnostic } from '../diag/diagnostics.js';
import type { SourceFile } from '../diag/source.js';
import { readSourceFile } from '../import/index.js';
import { NVCC } from '../toolchain/build.js';
import { DEFAULT_GPU_ARCHS, NVCC_FLAGS } from '../emit-cuda/emit.js';
import { describeTargets } from '../target/targets.js';
import { CFLAGS } from '../emit-c/emit.js';
import { PHASE_NAMES, type PhaseName } from '../pipeline.js';
import { FAULT_KINDS, type FaultKind } from '../flat/faults.js';
import { RuntimeError } from '../diag/diagnostics.js';
import { compileCommand, conformanceCommand, fuzzCommand, interpretCommand, runCommand } from './commands.js';

function report(e: unknown): number {
  if (e instanceof CompileError) {
    const d = e.diagnostic;
    let source: SourceFile | undefined;
    try {
      if (d.loc) source = readSourceFile(d.loc.file);
    } catch {
      source = undefined;
    }
    console.error(renderDiagnostic(d, source));
    return 1;
  }
  if (e instanceof RuntimeError) {
    console.error(e.message.includes('error:') ? e.message : `xla-aot: error: ${e.message}`);
    return 1;
  }
  console.error(`xla-aot: internal error (please report): ${e instanceof Error ? e.stack : String(e)}`);
  return 70;
}

/** --devices / --comm, of the compile and run commands. */
const DEVICE_OPTIONS = {
  devices: {
    type: 'number',
    describe:
      'an SPMD program for N devices: each runs the program on its own arena, collectives through the communicator (--comm)',
  },
  comm: {
    type: 'string',
    default: 'threads',
    choices: ['threads', 'mpi'],
    describe: 'with --devices: threads (N threads of one process) or mpi (one process per device: mpirun -np N)',
  },
} as const;

async function main(argv: string[]): Promise<number> {
  if (argv.includes('--list-targets')) {
    console.log(describeTargets(CFLAGS));
    console.log(
      `cuda: CUDA C++ for nvcc (${NVCC}), ${NVCC_FLAGS}, --gpu-arch sm_XX (default ${DEFAULT_GPU_ARCHS.join(', ')})`,
    );
    return 0;
  }
  let code = 0;
  // yargs reports a bad option value through fail() and then still calls the command's handler:
  // after a usage error nothing runs.
  let usageError = false;
  const run = async (fn: () => number | Promise<number>): Promise<void> => {
    if (usageError) return;
    try {
      code = await fn();
    } catch (e) {
      code = report(e);
    }
  };
  await yargs(argv)
    .scriptName('xla-aot')
    .usage(
      '$0 <command> [options]\n\nAhead-of-time compiler from StableHLO (MLIR text) to standalone C/CUDA, with a reference interpreter.',
    )
    .command(
      'interpret <file>',
      'Run a function of a StableHLO module in the reference interpreter; print results; exit 1 if any check op fails',
      (y) =>
        y
          .positional('file', { type: 'string', demandOption: true, describe: 'MLIR file' })
          .option('entry', { type: 'string', describe: 'function to run (default @main, or the only public function)' })
          .option('input', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: 'one per parameter: 2x3xf32=1,2,3,4,5,6 | @in.npy | in.npy',
          })
          .option('output-dir', { type: 'string', describe: 'write each result as DIR/result<i>.npy' })
          .option('random-seed', {
            type: 'number',
            describe: 'use seeded random inputs for every parameter (written as DIR/input<i>.npy)',
          }),
      (a) =>
        run(() =>
          interpretCommand({
            file: a.file,
            ...(a.entry ? { entry: a.entry } : {}),
            input: a.input.map(String),
            ...(a.outputDir ? { outputDir: a.outputDir } : {}),
            ...(a.randomSeed !== undefined ? { randomSeed: a.randomSeed } : {}),
          }),
        ),
    )
    .command(
      'conformance <paths..>',
      'Run StableHLO conformance files (split on // -----) and judge their check ops with upstream tolerances',
      (y) =>
        y
          .positional('paths', { type: 'string', array: true, demandOption: true })
          .option('backend', {
            type: 'string',
            default: 'interp',
            choices: ['interp', 'c', 'cuda'],
            describe: 'what executes the programs (cuda: the CUDA build, emulated on this CPU by rl_cuda.h)',
          })
          .option('json', { type: 'boolean', default: false, describe: 'print a JSON summary as the last line' })
          .option('jobs', { type: 'number', default: 1, describe: 'worker threads' })
          .option('verbose', { type: 'boolean', default: false, describe: 'print passing cases too' })
          .option('gpu-arch', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: '--backend cuda: also build every case with nvcc for these sm_XX (ptxas errors fail the case)',
          })
          .option('on-gpu', {
            type: 'boolean',
            default: false,
            describe: "--backend cuda: build with nvcc and run on this machine's GPU instead of the emulation",
          })
          .option('inject-fault', {
            type: 'string',
            choices: FAULT_KINDS,
            describe:
              'with --backend c: compile every case with a deliberately wrong kernel; a case that still passes did not catch it',
          }),
      (a) =>
        run(() =>
          conformanceCommand({
            paths: (a.paths ?? []).map(String),
            backend: a.backend,
            json: a.json,
            jobs: Math.max(1, Math.floor(a.jobs)),
            verbose: a.verbose,
            gpuArch: a.gpuArch.map(String),
            onGpu: a.onGpu,
            ...(a.injectFault ? { fault: a.injectFault as FaultKind } : {}),
          }),
        ),
    )
    .command(
      'run <file>',
      'Compile (or interpret) and run a function; with --backend c the results are also diffed against the interpreter (exit 1 on mismatch)',
      (y) =>
        y
          .positional('file', { type: 'string', demandOption: true })
          .option('backend', {
            type: 'string',
            default: 'c',
            choices: ['c', 'cuda', 'interp'],
            describe: 'cuda: the CUDA build, emulated on this CPU (rl_cuda.h) unless --on-gpu',
          })
          .option('on-gpu', {
            type: 'boolean',
            default: false,
            describe: '--backend cuda: build with nvcc, run on the GPU',
          })
          .option('entry', { type: 'string', describe: 'function to run (default @main, or the only public function)' })
          .option('input', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: 'one per parameter: 2x3xf32=1,2,3,4,5,6 | @in.npy | in.npy',
          })
          .option('random-seed', { type: 'number', describe: 'seeded random inputs' })
          .option('output-dir', { type: 'string', describe: 'write results as DIR/result<i>.npy' })
          .option('target', {
            type: 'string',
            default: 'host',
            describe: 'where the compiled program runs (natively, qemu-user or a QEMU board); see --list-targets',
          })
          .option('cc', { type: 'string', describe: 'C compiler of host targets (gcc or clang; default gcc)' })
          .option('threads', {
            type: 'number',
            default: 1,
            describe: 'threads for GEMM, convolution and large loop kernels (hosted targets; 1: no pthreads)',
          })
          .options(DEVICE_OPTIONS)
          .option('inject-fault', {
            type: 'string',
            choices: FAULT_KINDS,
            describe: 'testing the tests: compile a deliberately wrong program (the diff must then fail)',
          }),
      (a) =>
        run(() =>
          runCommand({
            file: a.file,
            backend: a.backend,
            target: a.target,
            threads: a.threads,
            onGpu: a.onGpu,
            ...(a.devices !== undefined ? { devices: a.devices, comm: a.comm as 'threads' | 'mpi' } : {}),
            ...(a.injectFault ? { fault: a.injectFault as FaultKind } : {}),
            ...(a.cc ? { cc: a.cc } : {}),
            input: a.input.map(String),
            ...(a.entry ? { entry: a.entry } : {}),
            ...(a.outputDir ? { outputDir: a.outputDir } : {}),
            ...(a.randomSeed !== undefined ? { randomSeed: a.randomSeed } : {}),
          }),
        ),
    )
    .command(
      'fuzz <paths..>',
      'Mutation fuzzing: mutants of the given MLIR files (directories: every .mlir, split on // -----) must end in a located diagnostic, or compile, run clean and match the interpreter; exit 1 on any bug',
      (y) =>
        y
          .positional('paths', { type: 'string', array: true, demandOption: true })
          .option('seconds', { type: 'number', default: 60, describe: 'stop after this long' })
          .option('seed', { type: 'number', default: 1, describe: 'the same seed gives the same mutants' })
          .option('sanitize', { type: 'boolean', default: false, describe: 'build the C with ASan+UBSan' }),
      (a) =>
        run(() => fuzzCommand({ paths: a.paths.map(String), seconds: a.seconds, seed: a.seed, sanitize: a.sanitize })),
    )
    .command(
      '$0 <file>',
      'Compile a model to standalone C: PREFIX.h (API), PREFIX.c (kernels + run), weights (small: C arrays; large: .incbin blob), rl.h, a Makefile, and (unless --emit=c) PREFIX.so and libPREFIX.a',
      (y) =>
        y
          .positional('file', { type: 'string', demandOption: true, describe: 'StableHLO/MHLO MLIR text' })
          .option('o', { alias: 'output', type: 'string', default: 'out', describe: 'output directory' })
          .option('target', {
            type: 'string',
            default: 'host',
            describe:
              'target ISA/board (e.g. host, x86-64-v4, aarch64, arm-cortex = cortex-m4, cortex-m55; cuda: CUDA source for nvcc); see --list-targets',
          })
          .option('gpu-arch', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: '--target cuda: GPU architectures nvcc builds for (sm_80 by default; several: one fatbin)',
          })
          .option('entry', {
            type: 'string',
            describe: 'function to compile (default @main, or the only public function)',
          })
          .option('prefix', {
            type: 'string',
            default: 'model',
            describe: 'C identifier prefix of the generated API and files',
          })
          .option('emit', {
            type: 'string',
            default: 'lib',
            choices: ['c', 'lib'],
            describe: 'c: sources only; lib: also build .so and .a',
          })
          .option('cc', {
            type: 'string',
            describe: 'C compiler of host targets (gcc or clang; default gcc); cross targets use their toolchain',
          })
          .option('threads', {
            type: 'number',
            default: 1,
            describe:
              'split GEMM, convolution and large loop kernels across a pool of N threads kept in the arena (hosted targets; PREFIX_init starts it, PREFIX_fini joins it)',
          })
          .options(DEVICE_OPTIONS)
          .option('firmware', {
            type: 'boolean',
            default: false,
            describe:
              'bare-metal targets: also build firmware.elf, a main() that runs the model on embedded inputs and prints outputs over semihosting',
          })
          .option('input', {
            type: 'string',
            array: true,
            default: [] as string[],
            describe: 'firmware inputs, one per parameter (default: seeded random)',
          })
          .option('random-seed', { type: 'number', describe: "seed of the firmware's random inputs (default 0)" })
          .option('report', {
            type: 'boolean',
            default: false,
            describe:
              'print arena vs liveness bound, flash/RAM read from the built objects, code size per op kind, library needs',
          })
          .option('compile-to', {
            type: 'string',
            choices: PHASE_NAMES,
            describe:
              'stop after this phase and print the program (MLIR, a listing of the flat program / kernels / arena, or the files); writes nothing',
          })
          .option('dump-after', {
            type: 'string',
            array: true,
            default: [] as string[],
            choices: [...PHASE_NAMES, 'all'],
            describe: 'print the program after this phase (repeatable; all: every phase) and go on',
          })
          .option('autotune', {
            type: 'boolean',
            default: false,
            describe:
              'time a few GEMM tiles per distinct f32 GEMM on this machine and compile with the fastest; they are kept in the tuning file (--tuning-file, default OUTPUT/tuning.json) for later builds',
          })
          .option('tuning-file', {
            type: 'string',
            describe:
              'GEMM tiles from an earlier --autotune (deterministic builds); with --autotune, read and extended',
          })
          .option('winograd', {
            type: 'boolean',
            default: true,
            describe:
              "C on hosted SIMD targets: 3x3 stride-1 f32 convolutions with constant weights by Winograd's F(4x4, 3x3) or F(2x2, 3x3) where it pays (--no-winograd: direct sums only)",
          }),
      (a) =>
        run(() =>
          compileCommand({
            dumpAfter: a.dumpAfter.map(String),
            ...(a.compileTo ? { compileTo: a.compileTo as PhaseName } : {}),
            file: a.file,
            output: a.o,
            target: a.target,
            prefix: a.prefix,
            emit: a.emit,
            report: a.report,
            firmware: a.firmware,
            threads: a.threads,
            ...(a.devices !== undefined ? { devices: a.devices, comm: a.comm as 'threads' | 'mpi' } : {}),
            gpuArch: a.gpuArch.map(String),
            input: a.input.map(String),
            autotune: a.autotune,
            winograd: a.winograd,
            ...(a.tuningFile ? { tuningFile: a.tuningFile } : {}),
            ...(a.cc ? { cc: a.cc } : {}),
            ...(a.randomSeed !== undefined ? { randomSeed: a.randomSeed } : {}),
            ...(a.entry ? { entry: a.entry } : {}),
          }),
        ),
    )
    .option('list-targets', { type: 'boolean', describe: 'print every target with its compiler and flags, then exit' })
    .strict()
    .demandCommand(1)
    .help()
    .fail((msg, err) => {
      if (err) throw err;
      console.error(`xla-aot: error: ${msg}\nRun 'xla-aot --help' for usage.`);
      usageError = true;
      code = 2;
    })
    .parseAsync();
  return code;
}

process.exitCode = await main(hideBin(process.argv));
