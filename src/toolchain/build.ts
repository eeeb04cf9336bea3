/**
 * @fileoverview Writes an EmitResult to a directory and compiles it with the target's C compiler
 * (execa): PREFIX.so (hosted targets) and libPREFIX.a, or an executable with a harness main.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { execa } from 'execa';

import { compilerOf, toolOf, type Target } from '../target/targets.js';
import { CFLAGS } from '../emit-c/emit.js';
import type { EmitResult } from '../emit-common/program.js';
import { RuntimeError } from '../diag/diagnostics.js';

export function writeFiles(dir: string, r: EmitResult): string[] {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, content] of r.files) {
    writeFileSync(join(dir, name), content);
    written.push(name);
  }
  return written;
}

/** Throws when execa could not start `program` at all, naming the Debian packages that provide it. */
export function checkFound(res: object, program: string, target?: Target): void {
  if ((res as { code?: string }).code !== 'ENOENT') return;
  const hint = target?.packages.length
    ? `; install the Debian packages ${target.packages.join(' ')} (or run 'make toolchains')`
    : ' (use --cc)';
  throw new RuntimeError(`'${program}' not found${hint}`);
}

/** Runs a toolchain program; a missing one is reported with the Debian packages that provide it. */
export async function tool(program: string, args: readonly string[], cwd: string, target?: Target): Promise<string> {
  const res = await execa(program, args, { cwd, reject: false, all: true });
  checkFound(res, program, target);
  if (res.exitCode !== 0) throw new RuntimeError(`${program} ${args.join(' ')} failed in ${cwd}:\n${res.all ?? ''}`);
  return res.stdout;
}

/** Compiler and flags for the emitted sources: the common flags, then the target's, then `extra`. */
export function compileFlags(r: EmitResult, extra: readonly string[]): string[] {
  return [...CFLAGS.split(' '), ...r.target.cflags, ...r.buildFlags, ...extra];
}

/** The emitted source an object is compiled from (`.S` for the weight blob, `.c` otherwise). */
export const sourceOf = (r: EmitResult, obj: string): string =>
  obj.replace(/\.o$/, r.files.has(obj.replace(/\.o$/, '.S')) ? '.S' : '.c');

export interface BuiltLibrary {
  readonly files: readonly string[];
}

/** Compiles each of `sources` (a .c or .S file) to its .o in `dir` with `args` before `-c`, as
 * many at once as this machine has cores (a large model's kernels are split over several files
 * for this). */
export async function compileInParallel(
  compiler: string,
  args: readonly string[],
  sources: readonly string[],
  dir: string,
  t?: Target,
): Promise<string[]> {
  const objects = sources.map((src) => src.replace(/\.[cS]$/, '.o'));
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < sources.length; i = next++)
      await tool(compiler, [...args, '-c', sources[i]!, '-o', objects[i]!], dir, t);
  };
  await Promise.all(Array.from({ length: Math.min(availableParallelism(), sources.length) }, worker));
  return objects;
}

/** Compiles the emitted sources into libPREFIX.a, plus PREFIX.so on hosted targets. */
export async function buildLibrary(
  dir: string,
  r: EmitResult,
  prefix: string,
  cc?: string,
  extraFlags: readonly string[] = [],
): Promise<BuiltLibrary> {
  const t = r.target;
  const compiler = compilerOf(t, cc);
  const pic = t.os === 'hosted' ? ['-fPIC'] : [];
  const flags = compileFlags(r, extraFlags);
  // -fstack-usage: per-function frame sizes (.su files) for the report's stack estimate.
  await compileInParallel(
    compiler,
    [...flags, ...pic, '-fstack-usage', '-I.'],
    r.objects.map((obj) => sourceOf(r, obj)),
    dir,
    t,
  );
  const files: string[] = [];
  if (t.os === 'hosted') {
    await tool(compiler, [...flags, '-shared', ...r.objects, '-o', `${prefix}.so`, '-lm'], dir, t);
    files.push(`${prefix}.so`);
  }
  await tool(toolOf(t, 'ar'), ['rcs', `lib${prefix}.a`, ...r.objects], dir, t);
  files.push(`lib${prefix}.a`);
  return { files };
}

/** Links the built objects of a bare-metal model alone (no startup, no harness), entry points kept
 * and unused sections collected, into `elf`: the image's share of the model and of the library and
 * compiler-runtime routines it calls (libm, newlib's string functions, libgcc's helpers). */
export async function linkClosure(dir: string, r: EmitResult, prefix: string, elf: string): Promise<void> {
  const t = r.target;
  const flags = ['-nostartfiles', '--specs=nosys.specs', '-Wl,--gc-sections', '-Wl,-z,noexecstack'];
  const roots = [`-Wl,--entry=${prefix}_run`, `-Wl,--undefined=${prefix}_init`];
  await tool(compilerOf(t, undefined), [...compileFlags(r, flags), ...roots, ...r.objects, '-lm', '-o', elf], dir, t);
}

/** Links the emitted sources with a harness main (and, for firmware, startup code) into `exe`. */
export async function buildExecutable(
  dir: string,
  r: EmitResult,
  cc: string | undefined,
  harnessFiles: ReadonlyMap<string, string | Uint8Array>,
  exe: string,
  opts: { extraFlags?: readonly string[]; linkFlags?: readonly string[] } = {},
): Promise<string> {
  const t = r.target;
  const sources: string[] = [];
  for (const [name, content] of harnessFiles) {
    writeFileSync(join(dir, name), content);
    if (/\.[cS]$/.test(name)) sources.push(name);
  }
  const srcs = r.objects.map((obj) => sourceOf(r, obj));
  const compiler = compilerOf(t, cc);
  const flags = [...compileFlags(r, opts.extraFlags ?? []), '-I.'];
  const link = [...t.exeFlags, ...(opts.linkFlags ?? []), '-o', exe, '-lm'];
  // Kernels split over several files: compile them at once, then link; otherwise one gcc call.
  if (srcs.filter((s) => s.endsWith('.c')).length > 1) {
    const objects = await compileInParallel(compiler, flags, [...sources, ...srcs], dir, t);
    await tool(compiler, [...flags, ...objects, ...link], dir, t);
  } else await tool(compiler, [...flags, ...sources, ...srcs, ...link], dir, t);
  return join(dir, exe);
}

/** nvcc: the CUDA Toolkit's default place when it is not on PATH. */
export const NVCC = existsSync('/usr/local/cuda/bin/nvcc') ? '/usr/local/cuda/bin/nvcc' : 'nvcc';

/** Builds a CUDA output directory's PREFIX.so and libPREFIX.a with its generated Makefile (nvcc). */
export async function buildCudaLibrary(dir: string, prefix: string): Promise<string[]> {
  await tool('make', ['-s', `NVCC=${NVCC}`], dir);
  return [`${prefix}.so`, `lib${prefix}.a`];
}
