/**
 * @fileoverview Scalars the host follows: control flow runs on the host (emit.ts), and a branch
 * on a value the GPU computed must read it back, draining the stream (an LSTM of 64 steps waited
 * for the GPU 64 times: its latency was the round trips, docs/gpu-runs.md run 14). A loop counter
 * and its test (`i < 64`, `i + 1`) need no GPU data: the host can compute them too. Here, the
 * one-element integer and boolean values computed only from constants and from each other (by
 * kernels, and by the copies on control-flow edges) are followed on the host: each has a host
 * variable, each kernel computing one also runs on the host (the same kernel IR, rendered as a
 * plain function over the host variables), each edge copy is made on the host too, and a branch
 * or switch on such a value reads the host variable. The GPU still computes them as before (its
 * kernels may read them: a dynamic_slice at the counter). Integers only: the host's and the
 * device's integer arithmetic are the same C, so the two copies agree bit for bit.
 */
import type { TensorType } from '../ir/types.js';
import { numElements } from '../ir/types.js';
import type { FlatOp, Sym } from '../flat/program.js';
import { controlCopies } from '../flat/flatten.js';
import type { FusedProgram } from '../emit-common/program.js';
import { CudaRenderer } from './cuda-renderer.js';
import type { Kernel } from '../emit-common/kernel.js';

/** A kernel rendered for the host: one thread, plain loops, no __restrict__ (an in-place kernel's
 * operand and result are one host variable). */
class HostRenderer extends CudaRenderer {
  protected override readonly kernelPrefix = 'static inline void';
  protected override readonly serial = true;
}

export interface HostScalars {
  /** The host variable of each followed value. */
  readonly names: ReadonlyMap<Sym, string>;
  /** Followed values nothing on the GPU reads (a loop's test): the GPU neither computes nor copies them. */
  readonly hostOnly: ReadonlySet<Sym>;
  /** The host functions of the kernels computing followed values, by kernel op. */
  readonly kernels: ReadonlyMap<FlatOp, { readonly name: string; readonly source: string }>;
}

const integral = (s: Sym): boolean => {
  const t = s.type as TensorType;
  return s.type.kind === 'tensor' && ((t.elem.kind === 'int' && t.elem.bits >= 8) || t.elem.kind === 'bool');
};
const followable = (s: Sym): boolean => integral(s) && numElements((s.type as TensorType).shape) === 1;

/** The values of `f` the host can follow, and the host functions that compute them; `isWeight`:
 * a constant the host has (in the weights blob). */
export function followScalars(f: FusedProgram, kernels: readonly Kernel[], isWeight: (s: Sym) => boolean): HostScalars {
  const { prog } = f.c;
  const producers = new Map<Sym, FlatOp[]>();
  f.kernelOps.forEach((k) => k.outs.forEach((s) => producers.set(s, [...(producers.get(s) ?? []), k])));
  const copies = [...prog.control.values()].flatMap((c) => controlCopies(c));
  const followed = new Set<Sym>([...producers.keys(), ...copies.map(([, to]) => to)].filter(followable));
  const known = (s: Sym): boolean => followed.has(s) || isWeight(s);
  const computable = (k: FlatOp): boolean =>
    !f.gemmOf.has(k) &&
    !k.rowParts &&
    k.outs.every((s) => followed.has(s)) &&
    k.ins.every(known) &&
    // No float step in a fused chain: nvcc contracts a * b + c into an FMA, the host's compiler may not.
    (k.group?.members ?? []).every((m) => m.outs.every(integral));
  // The largest set closed under "computed from followed values": drop what is not, until none is.
  for (let changed = !f.c.fault; changed;) {
    changed = false;
    const drop = (s: Sym): void => {
      if (followed.delete(s)) changed = true;
    };
    for (const k of f.kernelOps) if (!computable(k)) k.outs.forEach(drop);
    for (const [from, to] of copies) if (!known(from)) drop(to);
  }
  if (f.c.fault) followed.clear();
  const names = new Map([...followed].map((s) => [s, `rl_host_v${s.id}`]));
  const hostKernels = new Map<FlatOp, { name: string; source: string }>();
  f.kernelOps.forEach((k, i) => {
    if (!k.outs.length || !k.outs.every((s) => followed.has(s))) return;
    const ir = kernels[i]!.ir;
    const name = `${ir.name}_on_host`;
    const owner = k.group?.reduce?.op ?? k.op;
    const comment = `/* ${name}: ${ir.name} on the host, over the host's copies of its scalars (host-scalars.ts) */`;
    hostKernels.set(k, { name, source: new HostRenderer().render({ ...ir, name, comment }, owner, true) });
  });
  // What the GPU needs: the outputs, what its kernels read, what the host reads back, and what
  // is copied into any of those; a kernel runs there if it computes some of that.
  const onDevice = (k: FlatOp): boolean => !hostKernels.has(k) || k.outs.some((s) => deviceNeeds.has(s));
  const deviceNeeds = new Set<Sym>(prog.outputs);
  for (const [op, c] of prog.control) {
    const tested = c.kind === 'branch' ? c.cond : c.kind === 'switch' ? c.index : undefined;
    if (tested && !followed.has(tested)) deviceNeeds.add(tested);
    if (c.kind === 'effect') op.ins.forEach((s) => deviceNeeds.add(s));
  }
  for (let size = -1; size !== deviceNeeds.size;) {
    size = deviceNeeds.size;
    for (const k of f.kernelOps) if (onDevice(k)) k.ins.forEach((s) => deviceNeeds.add(s));
    for (const [from, to] of copies) if (deviceNeeds.has(to)) deviceNeeds.add(from);
  }
  const hostOnly = new Set([...followed].filter((s) => !deviceNeeds.has(s)));
  return { names, hostOnly, kernels: hostKernels };
}
