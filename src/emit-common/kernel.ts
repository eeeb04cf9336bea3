/**
 * @fileoverview A C kernel as the backend assembles it (its parameters with their C types and
 * source) and the located error for what the C backend cannot lower.
 */
import { error } from '../diag/diagnostics.js';
import type { Op } from '../ir/core.js';
import type { TensorType } from '../ir/types.js';
import type { FlatOp, Sym } from '../flat/program.js';
import type { KernelIR } from '../kernel/ir.js';

export interface KernelParam {
  readonly name: string;
  readonly cType: string;
  readonly output: boolean;
  /** An input the body never reads (a splat leaf spelled as a literal, a leaf passed twice):
   * marked used for the C compiler's -Werror. */
  readonly unread?: boolean;
}

/** A kernel function's opening line, `RL_KERNEL void name(params) {` (emit-c/files.ts reads
 * the prototypes back from it). */
export const kernelOpening = (name: string, params: readonly KernelParam[]): string =>
  `RL_KERNEL void ${name}(${params.map((x) => `${x.cType} ${x.name}`).join(', ')}) {`;

export interface Kernel {
  readonly name: string;
  /** `/* model.mlir:12:8 stablehlo.add *\/` */
  readonly comment: string;
  readonly params: readonly KernelParam[];
  readonly source: string;
  /** Written against rl_simd.h (the model then includes it). */
  readonly usesSimd?: boolean;
  /** The kernel IR it was rendered from. */
  readonly ir: KernelIR;
}

export const tensorOf = (s: Sym, fop: FlatOp): TensorType => {
  if (s.type.kind !== 'tensor')
    throw error('E0301', { op: `${fop.op.name} with a non-tensor value`, target: 'C backend' }, fop.op.loc);
  return s.type;
};

/** The located E0301 of an op the C backend cannot lower (yet), saying why. */
export function unsupported(fop: FlatOp, why: string, backend = 'C backend'): never {
  return unsupportedOp(fop.op, why, backend);
}

export function unsupportedOp(op: Op, why: string, backend = 'C backend'): never {
  throw error('E0301', { op: `${op.name} (${why})`, target: backend }, op.loc);
}
