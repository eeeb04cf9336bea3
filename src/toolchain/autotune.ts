/**
 * @fileoverview `--autotune`: at compile time, times a few candidate tiles (emit-c/gemm-tiling.ts
 * tileCandidates: the cost model's best register tiles and k blocks) of every distinct f32 GEMM of
 * a model on this machine, and keeps the fastest in a tuning file (JSON) that later builds read
 * with `--tuning-file`: the timing happens once, on the machine the user chose, and every build
 * from the file is deterministic. Each candidate is the kernel the compiler emits for that tile
 * (one thread, no fused epilogue), timed alone on seeded data: the minimum over 5 samples of at
 * least 20 ms each.
 */
import { readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import tmp from 'tmp';
import { RuntimeError } from '../diag/diagnostics.js';
import type { Module } from '../ir/core.js';
import type { GemmPlan, GemmTuning, TileChoice } from '../kernel/ukernel.js';
import { runPipeline, type CompileOptions } from '../pipeline.js';
import type { FusedProgram } from '../emit-common/program.js';
import { RUNTIME_DIR } from '../emit-common/templates.js';
import type { KernelParam } from '../emit-common/kernel.js';
import { CFLAGS } from '../emit-c/emit.js';
import { emitGemmKernel, gemmKey, gemmScratchBytes, simdMacro } from '../emit-c/gemm.js';
import { tileCandidates, tiledPlan } from '../emit-c/gemm-tiling.js';
import { cannotRunHere, compilerOf, type Target } from '../target/targets.js';
import { tool } from './build.js';

const FORMAT = 'xla-aot tuning 1';

/** A tuning file: the winning tile of each GEMM (by gemmKey), with what was measured. */
export interface TuningFile {
  readonly format: typeof FORMAT;
  /** The target and ISA it was made for (a build for another ISA refuses it). */
  readonly target: string;
  readonly simd: string;
  readonly vectorBits: number;
  /** Where it was measured (for the reader). */
  readonly machine: string;
  readonly gemms: Readonly<Record<string, TunedGemm>>;
}

export interface TunedGemm extends TileChoice {
  readonly microseconds: number;
  /** Every candidate timed (tileName: microseconds), the cost model's own choice first. */
  readonly candidates: Readonly<Record<string, number>>;
}

/** How a tuning file names a tile: `MR x NRV vectors, kc KC`. */
export const tileName = (c: TileChoice): string => `${c.mr} x ${c.nrv} vectors, kc ${c.kc}`;

/** The tile choices of a tuning file, as the pipeline takes them (EmitOptions.tuning). */
export const tuningOf = (f: TuningFile): GemmTuning =>
  new Map(Object.entries(f.gemms).map(([key, g]) => [key, { mr: g.mr, nrv: g.nrv, kc: g.kc }]));

/** Reads a tuning file made for `target`'s ISA; a clear error for anything else. */
export function readTuningFile(path: string, target: Target): TuningFile {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new RuntimeError(`cannot read tuning file ${path}: ${e instanceof Error ? e.message : String(e)}`);
  }
  const f = parsed as Partial<TuningFile>;
  if (f.format !== FORMAT || typeof f.gemms !== 'object' || f.gemms === null)
    throw new RuntimeError(`${path}: not a tuning file (expected "format": "${FORMAT}" and "gemms")`);
  if (f.simd !== target.simd || f.vectorBits !== target.vectorBits)
    throw new RuntimeError(
      `${path}: made for ${f.simd} ${f.vectorBits}-bit (target ${f.target}), but target ${target.name} is ${target.simd} ${target.vectorBits}-bit: run --autotune for it`,
    );
  for (const [key, g] of Object.entries(f.gemms))
    if (![g.mr, g.nrv, g.kc].every((x) => Number.isInteger(x) && x > 0))
      throw new RuntimeError(`${path}: GEMM "${key}": mr, nrv and kc must be positive integers`);
  return f as TuningFile;
}

export function writeTuningFile(path: string, f: TuningFile): void {
  writeFileSync(path, `${JSON.stringify(f, null, 2)}\n`);
}

/** Why `--autotune` cannot time kernels for `target` here, or undefined. */
export function cannotTune(target: Target): string | undefined {
  if (target.runner.kind !== 'native' || target.os !== 'hosted')
    return `--autotune times kernels on this machine: target ${target.name} does not run here natively (pass a --tuning-file made where it runs)`;
  if (!simdMacro(target) || target.vectorBits === 0)
    return `--autotune tunes SIMD GEMMs: target ${target.name} has none`;
  return cannotRunHere(target);
}

/** The f32 GEMMs of a compile, by key, with the plan the cost model made for each. */
function gemmsOf(m: Module, o: CompileOptions): Map<string, GemmPlan> {
  let fused: FusedProgram | undefined;
  runPipeline(m, {
    ...o,
    stopAfter: 'fusion',
    observe: (r) => {
      if (r.phase === 'fusion') fused = r.fused;
    },
  });
  const plans = new Map<string, GemmPlan>();
  const target = o.target!;
  for (const p of fused?.gemmOf.values() ?? []) {
    if (p.kind !== 'gemm' || ![p.elems.a, p.elems.b, p.elems.c, p.elems.out].every((e) => e.name === 'f32')) continue;
    plans.set(gemmKey(p, target, p.bPrepacked), p);
  }
  return plans;
}

/**
 * Times the candidate tiles of every f32 GEMM of `m` (compiled with `o`) that `previous` does not
 * already hold, on this machine; returns the tuning file with both. `progress` hears of each GEMM.
 */
export async function autotune(
  m: Module,
  o: CompileOptions,
  previous?: TuningFile,
  progress?: (done: number, total: number) => void,
): Promise<TuningFile> {
  const target = o.target!;
  const why = cannotTune(target);
  if (why) throw new RuntimeError(why);
  const gemms: Record<string, TunedGemm> = { ...(previous?.gemms ?? {}) };
  const todo = [...gemmsOf(m, o)].filter(([key]) => !(key in gemms));
  for (const [i, [key, plan]] of todo.entries()) {
    progress?.(i, todo.length);
    const candidates = tileCandidates(plan, target);
    const seconds = await timeCandidates(plan, candidates, target, o.cc);
    const best = seconds.indexOf(Math.min(...seconds));
    gemms[key] = {
      ...candidates[best]!,
      microseconds: round(seconds[best]! * 1e6),
      candidates: Object.fromEntries(candidates.map((c, j) => [tileName(c), round(seconds[j]! * 1e6)])),
    };
  }
  return {
    format: FORMAT,
    target: target.name,
    simd: target.simd,
    vectorBits: target.vectorBits,
    machine: `${cpus()[0]?.model.trim() ?? 'unknown CPU'}, L1d ${target.cache.l1 / 1024} KiB, L2 ${target.cache.l2 / 1024} KiB`,
    gemms,
  };
}

const round = (x: number): number => Number(x.toPrecision(4));

/** The kernels' operands (the names emitGemmKernel reads): A, B, C and the scratch. */
const PARAMS: readonly KernelParam[] = [
  { name: 'in0', cType: 'const float* restrict', output: false },
  { name: 'in1', cType: 'const float* restrict', output: false },
  { name: 'out0', cType: 'float* restrict', output: true },
  { name: 'scratch', cType: 'uint8_t* restrict', output: true },
];

/** Builds one program with every candidate's kernel and returns each one's seconds per call. */
async function timeCandidates(
  base: GemmPlan,
  candidates: readonly TileChoice[],
  target: Target,
  cc: string,
): Promise<number[]> {
  const plans = candidates.map((c) => tiledPlan(base, target, c));
  const a = base.a;
  const aFloats =
    a.kind === 'matrix'
      ? (base.batch - 1) * a.batchStride + (base.m - 1) * a.mStride + (base.k - 1) * a.kStride + 1
      : a.batch * a.height * a.width * a.channels;
  const bFloats = Math.max(
    ...plans.map((p) =>
      p.bPrepacked
        ? p.batch * Math.ceil(p.n / p.tiling.nr) * p.k * p.tiling.nr
        : (p.batch - 1) * p.b.batchStride + (p.k - 1) * p.b.kStride + (p.n - 1) * p.b.nStride + 1,
    ),
  );
  const scratch = Math.max(64, ...plans.map(gemmScratchBytes));
  const dir = tmp.dirSync({ prefix: 'xla-aot-tune-', unsafeCleanup: true }).name;
  for (const h of ['rl.h', 'rl_simd.h']) copyFileSync(join(RUNTIME_DIR, 'include', h), join(dir, h));
  const kernels = plans.map((p, i) =>
    emitGemmKernel(p, `candidate${i}`, `/* candidate ${i}: ${tileName(candidates[i]!)} */`, PARAMS),
  );
  const source = [
    '#define _POSIX_C_SOURCE 199309L',
    '#include <stdio.h>',
    '#include <stdlib.h>',
    '#include <time.h>',
    '#include "rl.h"',
    `#define ${simdMacro(target)} 1`,
    '#include "rl_simd.h"',
    ...kernels,
    'static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }',
    'static void* buffer(size_t bytes, unsigned seed) {',
    '  unsigned char* p = aligned_alloc(64, (bytes + 63) / 64 * 64);',
    '  if (!p) exit(1);',
    '  for (size_t i = 0; i < bytes / 4; ++i) { seed = seed * 1664525u + 1013904223u; ((float*)p)[i] = (float)(seed >> 8) / 16777216.0f - 0.5f; }',
    '  return p;',
    '}',
    'typedef void (*kernel_fn)(const float*, const float*, float*, uint8_t*);',
    'int main(void) {',
    `  const float* a = buffer(${4 * aFloats}, 1); const float* b = buffer(${4 * bFloats}, 2);`,
    `  float* c = buffer(${4 * base.batch * base.m * base.n}, 3); uint8_t* s = buffer(${scratch}, 4);`,
    `  kernel_fn k[${plans.length}] = {${plans.map((_, i) => `candidate${i}`).join(', ')}};`,
    `  for (int i = 0; i < ${plans.length}; ++i) {`,
    '    double best = 1e30;',
    '    k[i](a, b, c, s);',
    '    for (int sample = 0; sample < 5; ++sample) {',
    '      long reps = 0; double t0 = now(), t;',
    '      do { k[i](a, b, c, s); ++reps; t = now(); } while (t - t0 < 0.02);',
    '      if ((t - t0) / reps < best) best = (t - t0) / reps;',
    '    }',
    '    printf("%.9g\\n", best);',
    '  }',
    '  return 0;',
    '}',
    '',
  ].join('\n');
  writeFileSync(join(dir, 'tune.c'), source);
  const compiler = compilerOf(target, cc);
  // -std=gnu11: aligned_alloc and clock_gettime for the timing main (the kernels are C99).
  const flags = [...CFLAGS.split(' ').filter((f) => f !== '-std=c99'), '-std=gnu11', ...target.cflags];
  await tool(compiler, [...flags, '-I.', 'tune.c', '-o', 'tune', '-lm'], dir, target);
  const out = (await tool('./tune', [], dir, target)).trim().split('\n').map(Number);
  if (out.length !== plans.length || !out.every((x) => x > 0 && Number.isFinite(x)))
    throw new RuntimeError(`autotune: the timing program printed ${out.join(', ')}`);
  return out;
}
