/**
 * @fileoverview Writes an EmitResult to a directory and compiles it with the system C compiler
 * (execa): model.so and libmodel.a, or a test executable with a harness main.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import { RuntimeError } from '../interpret/tensor.js';
import { CFLAGS, type EmitResult } from './emit.js';

export function writeFiles(dir: string, r: EmitResult): string[] {
  mkdirSync(dir, { recursive: true });
  const written: string[] = [];
  for (const [name, content] of r.files) {
    writeFileSync(join(dir, name), content);
    written.push(name);
  }
  return written;
}

async function cc(cc: string, args: string[], cwd: string): Promise<void> {
  const res = await execa(cc, args, { cwd, reject: false, all: true });
  if (res.exitCode !== 0) {
    if ((res as { code?: string }).code === 'ENOENT' || /ENOENT/.test(String(res.message))) throw new RuntimeError(`C compiler '${cc}' not found (use --cc)`);
    throw new RuntimeError(`${cc} ${args.join(' ')} failed in ${cwd}:\n${res.all ?? ''}`);
  }
}

/** Compiles the emitted sources into PREFIX.so and libPREFIX.a. */
export async function buildLibrary(dir: string, r: EmitResult, prefix: string, compiler: string, extraFlags: readonly string[] = []): Promise<void> {
  const flags = [...CFLAGS.split(' '), ...extraFlags];
  for (const obj of r.objects) {
    const src = obj.replace(/\.o$/, r.files.has(obj.replace(/\.o$/, '.S')) ? '.S' : '.c');
    await cc(compiler, [...flags, '-fPIC', '-I.', '-c', src, '-o', obj], dir);
  }
  await cc(compiler, ['-shared', ...extraFlags, ...r.objects, '-o', `${prefix}.so`, '-lm'], dir);
  await execa('ar', ['rcs', `lib${prefix}.a`, ...r.objects], { cwd: dir });
}

/** Links the objects with a harness main (argv: input files..., output files...) into `exe`. */
export async function buildHarness(dir: string, r: EmitResult, prefix: string, compiler: string, harnessSource: string, extraFlags: readonly string[] = []): Promise<string> {
  writeFileSync(join(dir, 'harness.c'), harnessSource);
  const flags = [...CFLAGS.split(' '), ...extraFlags];
  const srcs = r.objects.map((obj) => obj.replace(/\.o$/, r.files.has(obj.replace(/\.o$/, '.S')) ? '.S' : '.c'));
  await cc(compiler, [...flags, '-I.', 'harness.c', ...srcs, '-o', 'harness', '-lm'], dir);
  return join(dir, 'harness');
}
