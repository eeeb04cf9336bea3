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
import { makeTensor, RuntimeError, setElemBits, size, type Tensor } from '../interpret/tensor.js';
import { render } from '../emit-common/templates.js';
import { buildHarness, writeFiles } from './build.js';
import { cElemOrUndefined, storageBits } from './ctypes.js';
import { emitC, VERSION, type EmitResult } from './emit.js';

function toBytes(t: Tensor): Uint8Array {
  const ce = cElemOrUndefined(t.type.elem)!;
  const out = new Uint8Array(size(t) * ce.bytes);
  for (let i = 0; i < size(t); i++) {
    let bits = storageBits(ce, t, i);
    for (let b = 0; b < ce.bytes; b++) {
      out[i * ce.bytes + b] = Number(bits & 0xffn);
      bits >>= 8n;
    }
  }
  return out;
}

function fromBytes(bytes: Uint8Array, like: import('../ir/types.js').TensorType): Tensor {
  const ce = cElemOrUndefined(like.elem)!;
  const t = makeTensor(like);
  for (let i = 0; i < size(t); i++) {
    let bits = 0n;
    for (let b = ce.bytes - 1; b >= 0; b--) bits = (bits << 8n) | BigInt(bytes[i * ce.bytes + b]!);
    setElemBits(t, i, bits);
  }
  return t;
}

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
    writeFileSync(p, toBytes(t));
    return p;
  });
  const outFiles = emitted.outputs.map((_, i) => join(dir, `out${i}.bin`));
  const r = await execa(exe, [...inFiles, ...outFiles], { reject: false, all: true });
  if (r.exitCode !== 0) throw new RuntimeError(`compiled model failed (exit ${r.exitCode}):\n${r.all ?? ''}`);
  if (r.all && /runtime error|AddressSanitizer|LeakSanitizer/.test(r.all)) throw new RuntimeError(`sanitizer report:\n${r.all}`);
  const outputs = emitted.outputs.map((t, i) => fromBytes(readFileSync(outFiles[i]!), t));
  return { outputs, emitted, dir };
}
