/**
 * @fileoverview Compile-and-run of a module through the C backend, for `xla-aot run --backend c`
 * and the tests: emits to a temporary directory, builds the test harness for the target (a file
 * reading main on hosted targets, firmware on bare-metal ones), runs it natively or under QEMU and
 * reads the outputs back as tensors.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import tmp from 'tmp';
import type { Module } from '../ir/core.js';
import { type Tensor } from '../ir/tensor.js';
import { render } from '../emit-common/templates.js';
import { lookupTarget, type Target } from '../target/targets.js';
import { buildExecutable, checkFound, NVCC, writeFiles } from './build.js';
import { fromStorageBytes, storageBytes, toStorageBytes } from '../emit-common/ctypes.js';
import type { TensorType } from '../ir/types.js';
import { VERSION, type EmitOptions, type EmitResult } from '../emit-common/program.js';
import { compile } from '../pipeline.js';
import { UNWRITTEN_BYTE, type FaultKind } from '../flat/faults.js';
import { FIRMWARE_ELF, FIRMWARE_LINK_FLAGS, firmwareFiles, runFirmware } from './firmware.js';
import { RuntimeError } from '../diag/diagnostics.js';

// Build directories are removed when the process exits (tests once left hundreds of GB of them).
tmp.setGracefulCleanup();

/** gcc/clang flags of an AddressSanitizer + UndefinedBehaviorSanitizer build (any report fails the run). */
export const SANITIZE_FLAGS: readonly string[] = [
  '-O1',
  '-g',
  '-fsanitize=address,undefined',
  '-fno-sanitize-recover=all',
  '-fno-omit-frame-pointer',
];

export interface CompiledRun {
  readonly outputs: Tensor[];
  readonly emitted: EmitResult;
  readonly dir: string;
}

export interface RunOptions {
  readonly cc?: string;
  /** Extra compiler flags (e.g. sanitizers). */
  readonly flags?: readonly string[];
  readonly keepDir?: string;
  readonly target?: Target;
  /** --threads: GEMM kernels split across a pool of this many threads. */
  readonly threads?: number;
  /** --inject-fault: a deliberately wrong program (faults.ts), to test the tests. */
  readonly fault?: FaultKind;
  /** The values the program's check ops compare become its outputs (flatten.ts). */
  readonly checksAsOutputs?: boolean;
  /** Kernels split over files of about this many bytes of C (EmitOptions.kernelFileBytes). */
  readonly kernelFileBytes?: number;
  /** GEMM tiles from a tuning file (EmitOptions.tuning). */
  readonly tuning?: EmitOptions['tuning'];
  /** false: no Winograd convolutions (EmitOptions.winograd). */
  readonly winograd?: boolean;
}

/** Emits, compiles and runs `entry` on `inputs` for `opts.target` (default: host). */
export async function runCompiled(
  m: Module,
  entry: string,
  inputs: readonly Tensor[],
  opts: RunOptions = {},
): Promise<CompiledRun> {
  const dir = opts.keepDir ?? tmp.dirSync({ prefix: 'xla-aot-', unsafeCleanup: true }).name;
  const prefix = 'model';
  const target = opts.target ?? lookupTarget('host');
  const emitted = compile(m, {
    entry,
    prefix,
    sourceName: m.source.name.split('/').pop()!,
    cc: opts.cc ?? 'gcc',
    target,
    checksAsOutputs: opts.checksAsOutputs ?? false,
    ...(opts.threads ? { threads: opts.threads } : {}),
    ...(opts.fault ? { fault: opts.fault } : {}),
    ...(opts.kernelFileBytes ? { kernelFileBytes: opts.kernelFileBytes } : {}),
    ...(opts.tuning ? { tuning: opts.tuning } : {}),
    ...(opts.winograd === false ? { winograd: false } : {}),
  });
  if (inputs.length !== emitted.inputs.length)
    throw new RuntimeError(`@${entry} takes ${emitted.inputs.length} input(s), got ${inputs.length}`);
  writeFiles(dir, emitted);
  const build = { extraFlags: opts.flags ?? [] };
  if (target.runner.kind === 'qemu-system') {
    const elf = await buildExecutable(dir, emitted, opts.cc, firmwareFiles(emitted, prefix, inputs), FIRMWARE_ELF, {
      ...build,
      linkFlags: FIRMWARE_LINK_FLAGS,
    });
    return { outputs: await runFirmware(target, elf, emitted.outputs), emitted, dir };
  }
  const harness = render('c/harness.c.hbs', {
    version: VERSION,
    poison: UNWRITTEN_BYTE,
    prefix,
    numInputsOrOne: Math.max(1, emitted.inputs.length),
    numOutputsOrOne: Math.max(1, emitted.outputs.length),
  });
  const exe = await buildExecutable(dir, emitted, opts.cc, new Map([['harness.c', harness]]), 'harness', build);
  const command = target.runner.kind === 'qemu-user' ? [target.runner.command, exe] : [exe];
  return { outputs: await runHarness(dir, emitted, inputs, command, target), emitted, dir };
}

/** Runs a built harness (`command`: the program and its leading arguments) on `inputs` written
 * as raw files in `dir`, and reads its outputs back; a non-zero exit or a sanitizer report fails. */
async function runHarness(
  dir: string,
  emitted: EmitResult,
  inputs: readonly Tensor[],
  command: readonly string[],
  target?: Target,
): Promise<Tensor[]> {
  const inFiles = inputs.map((t, i) => {
    const p = join(dir, `in${i}.bin`);
    writeFileSync(p, toStorageBytes(t));
    return p;
  });
  const outFiles = emitted.outputs.map((_, i) => join(dir, `out${i}.bin`));
  await runChecked([...command, ...inFiles, ...outFiles], 'compiled model', undefined, target);
  return emitted.outputs.map((t, i) => fromStorageBytes(readFileSync(outFiles[i]!), t));
}

/** Runs a built program (`command`: it and its arguments; in `cwd` when given); a missing program,
 * a non-zero exit (`what` failed) or a sanitizer report throws. Returns what it printed on stdout. */
export async function runChecked(
  command: readonly string[],
  what: string,
  cwd?: string,
  target?: Target,
): Promise<string> {
  const [cmd, ...args] = command;
  const r = await execa(cmd!, args, { reject: false, all: true, ...(cwd ? { cwd } : {}) });
  checkFound(r, cmd!, target);
  if (r.exitCode !== 0) throw new RuntimeError(`${what} failed (exit ${r.exitCode}):\n${r.all ?? ''}`);
  if (r.all && /runtime error|AddressSanitizer|LeakSanitizer|ThreadSanitizer/.test(r.all))
    throw new RuntimeError(`sanitizer report:\n${r.all}`);
  return r.stdout;
}

/** Host C++ flags of an emulated CUDA build (rl_cuda.h's RL_CUDA_HOST_EMULATION). -O2: the big
 * models' tiled GEMMs run twice as fast as at -O1, with the same IEEE results (no fast-math; ISO
 * C++ mode keeps the compiler from contracting a*b+c). On x86-64, -mfma makes the kernels' fmaf
 * one instruction, as on the GPU, instead of a libm call. */
export const CUDA_EMULATION_FLAGS = [
  '-std=c++17',
  '-O2',
  '-Wall',
  '-Wextra',
  '-Werror',
  '-DRL_CUDA_HOST_EMULATION',
  ...(process.arch === 'x64' ? ['-mfma'] : []),
];

/** The sm_XX to build for a device of compute capability `cap` ("9.0"): its own, and on Hopper
 * (9.0) sm_90a, whose arch-specific instructions (wgmma) run on that capability only. */
export const archForComputeCap = (cap: string): string => `sm_${cap.replace('.', '')}${cap === '9.0' ? 'a' : ''}`;

/** The sm_XX of this machine's first GPU (nvidia-smi), for builds that run on it: a cubin for
 * sm_80 does not run on an sm_90 device. */
export async function deviceArch(): Promise<string> {
  const r = await execa('nvidia-smi', ['--query-gpu=compute_cap', '--format=csv,noheader'], { reject: false });
  const cap = r.exitCode === 0 ? r.stdout.trim().split('\n')[0]?.trim() : undefined;
  if (!cap) throw new RuntimeError('no GPU on this machine (nvidia-smi found none)');
  return archForComputeCap(cap);
}

/** What a CUDA harness template needs to know of a build's I/O: counts (and at least one, for
 * array sizes) and byte sizes as C initializers. */
export function harnessIO(r: EmitResult): Record<string, number | string> {
  const sizes = (ts: readonly TensorType[]): string => (ts.length ? ts.map(storageBytes).join(', ') : '0');
  return {
    numInputs: r.inputs.length,
    numOutputs: r.outputs.length,
    numInputsOrOne: Math.max(1, r.inputs.length),
    numOutputsOrOne: Math.max(1, r.outputs.length),
    inputBytes: sizes(r.inputs),
    outputBytes: sizes(r.outputs),
  };
}

export interface CudaRunOptions {
  /** Run on the CPU through rl_cuda.h's emulation (default), or build with nvcc and run on the GPU. */
  readonly device?: boolean;
  /** Extra host compiler flags (sanitizers) of an emulated build. */
  readonly flags?: readonly string[];
  readonly checksAsOutputs?: boolean;
  readonly gpuArchs?: readonly string[];
}

/** Emits `entry` for CUDA and builds it with its harness (`harness IN... OUT...`) in `dir`: for
 * rl_cuda.h's host emulation (g++), or with `device` by nvcc for the GPU. */
export async function buildCompiledCuda(
  m: Module,
  entry: string,
  opts: CudaRunOptions = {},
  dir = tmp.dirSync({ prefix: 'xla-aot-cuda-', unsafeCleanup: true }).name,
): Promise<{ emitted: EmitResult; dir: string; exe: string }> {
  const prefix = 'model';
  const emitted = compile(m, {
    entry,
    prefix,
    sourceName: m.source.name.split('/').pop()!,
    cc: 'gcc',
    backend: 'cuda',
    checksAsOutputs: opts.checksAsOutputs ?? false,
    ...(opts.gpuArchs ? { gpuArchs: opts.gpuArchs } : opts.device ? { gpuArchs: [await deviceArch()] } : {}),
  });
  writeFiles(dir, emitted);
  const harness = render('cuda/harness.cu.hbs', {
    version: VERSION,
    poison: UNWRITTEN_BYTE,
    prefix,
    PREFIX: prefix.toUpperCase(),
    ...harnessIO(emitted),
  });
  writeFileSync(join(dir, 'harness.cu'), harness);
  const exe = join(dir, 'harness');
  const weights = [join(dir, `${prefix}_weights.S`)];
  // On the device: the generated Makefile's objects (nvcc, and cc for the weights), linked with the harness.
  const build = opts.device
    ? await execa(
        'sh',
        [
          '-c',
          `make -s NVCC=${NVCC} ${prefix}.o ${prefix}_weights.o && ${NVCC} -O3 -std=c++17 -I. harness.cu ${prefix}.o ${prefix}_weights.o -o harness`,
        ],
        { reject: false, all: true, cwd: dir },
      )
    : await execa(
        'g++',
        [
          ...CUDA_EMULATION_FLAGS,
          ...(opts.flags ?? []),
          '-x',
          'c++',
          '-I',
          dir,
          join(dir, `${prefix}.cu`),
          join(dir, 'harness.cu'),
          '-x',
          'assembler-with-cpp',
          ...weights,
          '-o',
          exe,
        ],
        { reject: false, all: true, cwd: dir },
      );
  if (build.exitCode !== 0) throw new RuntimeError(`CUDA build failed:\n${build.all ?? ''}`);
  return { emitted, dir, exe };
}

/** Emits `entry` for CUDA, builds it with its harness and runs it on `inputs`: on the CPU through
 * rl_cuda.h's host emulation (g++), or with `device` through nvcc on the machine's GPU. */
export async function runCompiledCuda(
  m: Module,
  entry: string,
  inputs: readonly Tensor[],
  opts: CudaRunOptions = {},
): Promise<CompiledRun> {
  const { emitted, dir, exe } = await buildCompiledCuda(m, entry, opts);
  if (inputs.length !== emitted.inputs.length)
    throw new RuntimeError(`@${entry} takes ${emitted.inputs.length} input(s), got ${inputs.length}`);
  return { outputs: await runHarness(dir, emitted, inputs, [exe]), emitted, dir };
}
