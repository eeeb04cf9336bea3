/**
 * @fileoverview The plumbing of `make bench` (main.ts): this machine's host target and the
 * references' environment, building a compiled model with one of bench/c's harnesses (sources on
 * all cores, as `make -j`), running it and ONNX Runtime, judging outputs and formatting figures.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { SourceFile } from '../diag/source.js';
import { compileInParallel, sourceOf, tool, writeFiles } from '../toolchain/build.js';
import type { GemmTuning } from '../kernel/ukernel.js';
import { CFLAGS } from '../emit-c/emit.js';
import type { EmitResult } from '../emit-common/program.js';
import { compile } from '../pipeline.js';
import { importModule } from '../import/index.js';
import { lookupTarget } from '../target/targets.js';
import { Progress } from '../util/progress.js';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const BENCH_C = join(ROOT, 'bench', 'c');
export const WORK = join(ROOT, 'out', 'bench');
export const SAMPLES = 7;
export const MIN_SECONDS = 0.1;
/** Untimed calls before the samples, on both sides. */
export const WARMUP = 30;
/** Largest accepted difference between our outputs and the reference's: |ours - theirs| relative
 * to the reference's largest |value| (models), or to |value| + 1e-3 (GEMM). f32 results summed in
 * another order stay near 1e-6; a wrong kernel is far above. */
const OUTPUT_BOUND = 1e-3;
/**
 * `XLA_AOT_HIDE_CPU_FLAGS=avx512f make bench` runs this machine as an AVX2 one: our side builds
 * with -mno-avx512f and AVX2 tiles (targets.ts), OpenBLAS is pinned to its Haswell (AVX2) kernels
 * and the peak is the AVX2 FMA peak. ONNX Runtime cannot be told (it picks its kernels from
 * CPUID): it keeps AVX-512, which can only make its side faster.
 */
export const AVX2_ONLY = (process.env['XLA_AOT_HIDE_CPU_FLAGS'] ?? '').split(',').includes('avx512f');

/** The OPENBLAS_CORETYPE the references run with: none (OpenBLAS picks its kernels from the CPU;
 * an environment's pin is dropped) unless the bench runs as an AVX2 machine or pickOpenblasKernels
 * found OpenBLAS blind to this CPU's vectors. */
let openblasPin: string | undefined = AVX2_ONLY ? 'Haswell' : undefined;

function referenceEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env['OPENBLAS_CORETYPE'];
  delete env['OPENBLAS_L2_SIZE'];
  if (openblasPin) env['OPENBLAS_CORETYPE'] = openblasPin;
  env['OPENBLAS_NUM_THREADS'] = '1';
  return env;
}

/** OpenBLAS's kernel families that use AVX2 (and FMA) or AVX-512, by openblas_get_corename(). */
const OPENBLAS_AVX2_CORES = ['Haswell', 'Zen'];
const OPENBLAS_AVX512_CORES = ['SkylakeX', 'Cooperlake', 'SapphireRapids'];

/**
 * A reference on its SSE kernels would make every ratio against it a flattering lie. OpenBLAS
 * picks its kernels by CPU model, and a release older than the CPU falls back to a generic core
 * (Debian 12's 0.3.21 takes a 2023 Xeon for "Prescott", SSE3). Asks OpenBLAS what it picked; when
 * that ignores the vectors this machine has, pins the family for them (SkylakeX: AVX-512;
 * Haswell: AVX2). Returns why the kernels are those the GEMM lines then report.
 */
export async function pickOpenblasKernels(): Promise<string> {
  if (AVX2_ONLY) return 'OPENBLAS_CORETYPE=Haswell: its AVX2 kernels';
  const dir = join(WORK, 'openblas_core');
  mkdirSync(dir, { recursive: true });
  await execa('gcc', ['-O2', join(BENCH_C, 'openblas_core.c'), '-o', 'openblas_core', '-lopenblas'], { cwd: dir });
  const picked = String((await runJson('./openblas_core', [], dir))['openblas_core']);
  openblasPin = openblasPinFor(picked, host.simd);
  return openblasPin
    ? `OPENBLAS_CORETYPE=${openblasPin}: OpenBLAS took this CPU for ${picked}, whose kernels lack its ${host.simd.toUpperCase()}`
    : 'its own choice for this CPU; OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE unset';
}

/** The kernel family to pin when OpenBLAS's pick (`picked`) lacks the machine's vectors, or
 * undefined where its pick uses them (or the machine has neither AVX2 nor AVX-512). */
export function openblasPinFor(picked: string, simd: string): string | undefined {
  const wanted = simd === 'avx512' ? OPENBLAS_AVX512_CORES : simd === 'avx2' ? OPENBLAS_AVX2_CORES : undefined;
  return wanted && !wanted.includes(picked) ? wanted[0] : undefined;
}

export async function runJson(
  cmd: string,
  args: readonly string[],
  cwd: string,
): Promise<Record<string, number | string>> {
  const r = await execa(cmd, args, { cwd, env: referenceEnv(), extendEnv: false, all: true, reject: false });
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.exitCode}):\n${r.all}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number | string>;
}

export const host = lookupTarget('host');

/** Emits `mlir` for the host and compiles it with a bench harness; returns the directory. */
export async function buildWithHarness(
  name: string,
  mlir: string,
  harness: string,
  defines: Record<string, number>,
  libs: readonly string[],
  threads = 1,
  tuning?: GemmTuning,
): Promise<{ dir: string; emitted: EmitResult; cBuildSeconds: number }> {
  const dir = join(WORK, name);
  mkdirSync(dir, { recursive: true });
  const m = importModule(new SourceFile(`${name}.mlir`, mlir));
  const emitted = compile(m, {
    entry: 'main',
    prefix: 'model',
    sourceName: `${name}.mlir`,
    cc: 'gcc',
    target: host,
    threads,
    ...(tuning ? { tuning } : {}),
  });
  writeFiles(dir, emitted);
  writeFileSync(join(dir, `${name}.mlir`), mlir);
  const sources = emitted.objects.map((o) => sourceOf(emitted, o));
  const defs = Object.entries({ SAMPLES, MIN_SECONDS, WARMUP, ...defines }).map(([k, v]) => `-D${k}=${v}`);
  // gnu11 for the harness (aligned_alloc, clock_gettime); the model sources are C99 and compile as is.
  const flags = [
    ...CFLAGS.split(' '),
    ...host.cflags,
    ...emitted.buildFlags,
    '-std=gnu11',
    ...defs,
    '-I.',
    `-I${BENCH_C}`,
  ];
  copyFileSync(join(BENCH_C, harness), join(dir, harness));
  // As `make -j` builds it: every source at once on this machine's cores (a large model's kernels
  // are split over several files), then the link.
  const started = performance.now();
  const objects = await compileInParallel('gcc', flags, [harness, ...sources], dir);
  await tool('gcc', [...flags, ...objects, '-o', 'bench', ...libs, '-lm'], dir);
  return { dir, emitted, cBuildSeconds: (performance.now() - started) / 1e3 };
}

/** BENCH_ONLY=regex (e.g. `make bench BENCH_ONLY=cnn`) runs only the GEMM shapes and models whose names match. */
const only = process.env['BENCH_ONLY'] ? new RegExp(process.env['BENCH_ONLY']) : undefined;
export const selected = (name: string): boolean => !only || only.test(name);

/** Builds `mlir` (one input, one output) for the host with the model harness, its input `input`
 * in dir/in.bin, to be timed by runWithInput or versusOrt. */
export async function buildModelBench(
  name: string,
  mlir: string,
  input: Float32Array | Int8Array,
  threads = 1,
  defines: Record<string, number> = {},
): Promise<{ dir: string; cBuildSeconds: number }> {
  const built = await buildWithHarness(name, mlir, 'model_bench.c', defines, [], threads);
  writeFileSync(join(built.dir, 'in.bin'), input);
  return { dir: built.dir, cBuildSeconds: built.cBuildSeconds };
}

/** Builds `mlir` (one input, one output) for the host with the model harness, feeds it `input`
 * as in.bin and times it; the output of its first call is left in dir/out.bin. */
export async function runWithInput(
  name: string,
  mlir: string,
  input: Float32Array | Int8Array,
  threads = 1,
  defines: Record<string, number> = {},
): Promise<{ dir: string; seconds: number; status: number; cBuildSeconds: number }> {
  const { dir, cBuildSeconds } = await buildModelBench(name, mlir, input, threads, defines);
  const r = await runJson('./bench', [], dir);
  return { dir, seconds: Number(r['ours_s']), status: Number(r['status']), cBuildSeconds };
}

/** bench/ort.mjs's arguments for dir/model.onnx on dir/ort_in.bin (output to dir/ort_out.bin);
 * `samples`: a count, or `lockstep`. */
const ortArgs = (dims: readonly number[], samples: string, threads: number, warmup: number): string[] => [
  join(ROOT, 'bench', 'ort.mjs'),
  'model.onnx',
  'ort_in.bin',
  JSON.stringify(dims),
  'ort_out.bin',
  samples,
  String(MIN_SECONDS),
  String(warmup),
  String(threads),
];

/** ONNX Runtime's median latency for dir/model.onnx on dir/ort_in.bin (output left in dir/ort_out.bin). */
export const ortRun = (dir: string, dims: readonly number[], threads = 1, warmup = WARMUP): Promise<number> =>
  runJson('node', ortArgs(dims, String(SAMPLES), threads, warmup), dir).then((r) => Number(r['ort_s']));

/** Rounds of versusOrt: each side takes one sample (>= MIN_SECONDS) per round. */
export const ROUNDS = 11;

/** A model's latency on both sides: the medians of each side's samples, and the median of the
 * rounds' ratios (ours / theirs), which is the figure a line states. */
export interface Versus {
  readonly ours: number;
  readonly theirs: number;
  readonly ratio: number;
  readonly status: number;
}

/**
 * Our compiled model (dir/bench, from buildModelBench) against ONNX Runtime on `onnx` fed `input`
 * (written to dir/model.onnx and dir/ort_in.bin; `dims` its shape), timed in lockstep: both processes load and warm up (one
 * after the other: a pool warming up beside the other process finds the cores taken, and
 * rl_threads.h's guard may then run stretches on one thread), then take their samples in turns
 * (ours then theirs, the next round theirs then ours), with a pause after each so the other
 * side's spinning pool threads go idle (SETTLE_MS). On a machine whose speed drifts (seen on a
 * shared 2-vCPU VM: one model 60-83 ms in back-to-back runs of a few seconds) the two samples of
 * one round see the same machine, where two separate runs' medians do not. Leaves both sides'
 * first outputs in dir/out.bin and dir/ort_out.bin.
 */
export async function versusOrt(
  dir: string,
  onnx: Uint8Array,
  input: Float32Array | Int8Array,
  dims: readonly number[],
  threads = 1,
  warmup = WARMUP,
): Promise<Versus> {
  writeFileSync(join(dir, 'model.onnx'), onnx);
  writeFileSync(join(dir, 'ort_in.bin'), input);
  const ours = lockstep('./bench', ['--lockstep'], dir);
  let ort: ReturnType<typeof lockstep> | undefined;
  try {
    await ours.ready();
    ort = lockstep('node', ortArgs(dims, 'lockstep', threads, warmup), dir);
    await ort.ready();
    const mine: number[] = [];
    const theirs: number[] = [];
    const ratios: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      // Who goes first alternates, so a steady drift favours neither side.
      let us: number, them: number;
      if (r % 2 === 0) {
        us = await ours.sample();
        them = await ort.sample();
      } else {
        them = await ort.sample();
        us = await ours.sample();
      }
      mine.push(us);
      theirs.push(them);
      ratios.push(us / them);
    }
    const status = Number((JSON.parse(await ours.finish()) as { status: number }).status);
    await ort.finish();
    return { ours: median(mine), theirs: median(theirs), ratio: median(ratios), status };
  } finally {
    ours.kill();
    ort?.kill();
  }
}

const median = (v: readonly number[]): number => [...v].sort((a, b) => a - b)[v.length >> 1]!;
const pause = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));
/** The pause after each sample: ONNX Runtime's pool threads spin on a core for 40-50 ms after a
 * run ends (seen with 2 intra-op threads: a 10 ms pause left our 2-thread BERT layer at 21 ms
 * against 13 ms alone); ours spin about 3 ms. */
const SETTLE_MS = 100;

/** A bench process driven line by line (the --lockstep protocol of model_bench.c and ort.mjs). */
function lockstep(cmd: string, args: readonly string[], cwd: string) {
  const child = execa(cmd, args, { cwd, env: referenceEnv(), extendEnv: false, reject: false, all: true });
  const lines = child[Symbol.asyncIterator]();
  const next = async (): Promise<string> => {
    const line = await lines.next();
    if (line.done !== true) return String(line.value);
    const r = await child;
    throw new Error(`${cmd} ${args.join(' ')} ended early (exit ${r.exitCode}):\n${r.all}`);
  };
  return {
    ready: async (): Promise<void> => {
      const line = await next();
      if (line !== 'ready') throw new Error(`${cmd}: expected "ready", got: ${line}`);
    },
    /** One sample's seconds per call, then the pause. */
    sample: async (): Promise<number> => {
      child.stdin!.write('\n');
      const seconds = Number(await next());
      await pause(SETTLE_MS);
      return seconds;
    },
    /** Ends the samples; the process's last line (ours: its status as JSON). */
    finish: async (): Promise<string> => {
      child.stdin!.end();
      let last = '';
      for (let line = await lines.next(); line.done !== true; line = await lines.next()) last = String(line.value);
      const r = await child;
      if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.exitCode}):\n${r.all}`);
      return last;
    },
    kill: (): void => void child.kill(),
  };
}

/** Why a bench line's result cannot be trusted, or undefined: a model status other than RL_OK
 * (0), or outputs that differ beyond OUTPUT_BOUND (NaN when either side is not finite). */
export function untrusted(status: number, maxRelDiff: number): string | undefined {
  if (status !== 0) return `the model returned status ${status}`;
  if (!(maxRelDiff <= OUTPUT_BOUND))
    return `outputs differ from the reference's (max rel diff ${maxRelDiff}, bound ${OUTPUT_BOUND})`;
  return undefined;
}

export const fmt = (s: number): string => (s >= 1e-3 ? `${(s * 1e3).toFixed(3)} ms` : `${(s * 1e6).toFixed(1)} us`);
export const gflops = (flops: number, s: number): string => `${(flops / s / 1e9).toFixed(1)} GFLOP/s`;
export const gops = (ops: number, s: number): string => `${(ops / s / 1e9).toFixed(1)} GOP/s`;

/** Largest |a - b| relative to b's largest |value|; NaN when a value of either side is not finite
 * or the lengths differ (a NaN output is a failure, never "no difference"). */
export function maxRelDiff(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return NaN;
  let worst = 0;
  let scale = 0;
  for (const v of b) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i]!) || !Number.isFinite(b[i]!)) return NaN;
    worst = Math.max(worst, Math.abs(a[i]! - b[i]!) / (scale || 1));
  }
  return worst;
}

/** A file's bytes as an ArrayBuffer of their own (for typed-array views of outputs). */
export const outputBytes = (path: string): ArrayBuffer => {
  const b = readFileSync(path);
  return b.buffer.slice(b.byteOffset, b.byteOffset + b.length);
};
export const floats = (path: string): Float32Array => new Float32Array(outputBytes(path));

/** On a terminal: which line the bench is working on (the real models take minutes). */
export const progress = new Progress();
