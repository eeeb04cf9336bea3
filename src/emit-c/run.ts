/**
 * @fileoverview Compile-and-run of a module through the C backend, for `xla-aot run --backend c`
 * and the tests: emits to a temporary directory, builds a harness executable, feeds raw input
 * files and reads raw outputs back as tensors.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execa } from 'execa';
import tmp from 'tmp';
import type { Module } from '../ir/core.js';
import { RuntimeError, type Tensor } from '../interpret/tensor.js';
import { render } from '../emit-common/templates.js';
import { buildHarness, writeFiles } from './build.js';
import { fromStorageBytes, toStorageBytes } from './ctypes.js';
import { emitC, VERSION, type EmitResult } from './emit.js';

export interface CompiledRun {
  readonly outputs: Tensor[];
  readonly emitted: EmitResult;
  readonly dir: string;
}

/** Emits, compiles (with `flags`, e.g. sanitizers) and runs `entry` on `inputs`. */
export async function runCompiled(m: Module, entry: string, inputs: readonly Tensor[], opts: { cc?: string; flags?: readonly string[]; keepDir?: string } = {}): Promise<CompiledRun> {
  const dir = opts.keepDir ?? tmp.dirSync({ prefix: 'xla-aot-', unsafeCleanup: true }).name;
  const prefix = 'model';
  const cc = opts.cc ?? 'gcc';
  const emitted = emitC(m, { entry, prefix, sourceName: m.source.name.split('/').pop()!, cc });
  writeFiles(dir, emitted);
  const harness = render('c/harness.c.hbs', { version: VERSION, prefix, numInputsOrOne: Math.max(1, emitted.inputs.length), numOutputsOrOne: Math.max(1, emitted.outputs.length) });
  const exe = await buildHarness(dir, emitted, prefix, cc, harness, opts.flags ?? []);
  if (inputs.length !== emitted.inputs.length) throw new RuntimeError(`@${entry} takes ${emitted.inputs.length} input(s), got ${inputs.length}`);
  const inFiles = inputs.map((t, i) => {
    const p = join(dir, `in${i}.bin`);
    writeFileSync(p, toStorageBytes(t));
    return p;
  });
  const outFiles = emitted.outputs.map((_, i) => join(dir, `out${i}.bin`));
  const r = await execa(exe, [...inFiles, ...outFiles], { reject: false, all: true });
  if (r.exitCode !== 0) throw new RuntimeError(`compiled model failed (exit ${r.exitCode}):\n${r.all ?? ''}`);
  if (r.all && /runtime error|AddressSanitizer|LeakSanitizer/.test(r.all)) throw new RuntimeError(`sanitizer report:\n${r.all}`);
  const outputs = emitted.outputs.map((t, i) => fromStorageBytes(readFileSync(outFiles[i]!), t));
  return { outputs, emitted, dir };
}
