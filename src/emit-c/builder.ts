/**
 * @fileoverview What a C lowering writes into: the kernel being built (its parameters, code and
 * flags) and the located error for what it cannot lower.
 */
import { error } from '../diag/diagnostics.js';
import type { Op } from '../ir/core.js';
import type { TensorType } from '../ir/types.js';
import { attrsOf, type AttrsOf, type OpKind } from '../ops/index.js';
import type { FlatOp, Sym } from '../flat/program.js';
import type { KernelIR } from '../kernel/ir.js';
import { CodeWriter } from '../emit-common/code-writer.js';
import { cElem, type CElem } from './ctypes.js';

export interface KernelParam {
  readonly name: string;
  readonly cType: string;
  readonly output: boolean;
  /** An input the body never reads (a splat leaf spelled as a literal, a leaf passed twice):
   * marked used for the C compiler's -Werror. */
  readonly unread?: boolean;
}

export interface Kernel {
  readonly name: string;
  /** `/* model.mlir:12:8 stablehlo.add *\/` */
  readonly comment: string;
  readonly params: readonly KernelParam[];
  readonly source: string;
  /** Written against rl_simd.h (the model then includes it). */
  readonly usesSimd?: boolean;
  /** The kernel IR it was rendered from (absent for kernels still written as C text). */
  readonly ir?: KernelIR;
}

export const tensorOf = (s: Sym, fop: FlatOp): TensorType => {
  if (s.type.kind !== 'tensor') throw error('E0301', { op: `${fop.op.name} with a non-tensor value`, target: 'C backend' }, fop.op.loc);
  return s.type;
};



export type KernelInput = { name: string; t: TensorType; c: CElem };

export class KernelBuilder {
  readonly w = new CodeWriter();
  readonly params: KernelParam[] = [];
  /** Local-variable numbering for inlined region bodies (per kernel: deterministic names). */
  readonly names = { next: 0 };
  /** Set by a lowering that wrote rl_vf_* code. */
  usesSimd = false;
  /** Set by a lowering that wrote its outermost loop over [row_begin, row_end) of this many rows
   * (the kernel then splits them across the thread pool). */
  parallelRows?: number;
  /** `lanes`: f32 lanes of the target's rl_simd.h vectors (undefined on scalar targets); `threads`: --threads. */
  constructor(
    readonly fop: FlatOp,
    readonly lanes?: number,
    readonly threads = 1,
  ) {}

  input(i: number): { name: string; t: TensorType; c: CElem } {
    const t = tensorOf(this.fop.ins[i]!, this.fop);
    const c = cElem(t, this.fop.op.name, this.fop.op.loc);
    const name = `in${i}`;
    this.params.push({ name, cType: `const ${c.storage}* restrict`, output: false });
    return { name, t, c };
  }

  /** The op's attributes as its op-table entry reads them. */
  attrsOf<K extends OpKind>(kind: K): AttrsOf<K> {
    return attrsOf(kind, this.fop.op);
  }

  output(i = 0): { name: string; t: TensorType; c: CElem } {
    const t = tensorOf(this.fop.outs[i]!, this.fop);
    const c = cElem(t, this.fop.op.name, this.fop.op.loc);
    const name = `out${i}`;
    this.params.push({ name, cType: `${c.storage}* restrict`, output: true });
    return { name, t, c };
  }
}

export type Lowering = (k: KernelBuilder) => void;

/** The located E0301 of an op the C backend cannot lower (yet), saying why. */
export function unsupported(fop: FlatOp, why: string): never {
  return unsupportedOp(fop.op, why);
}

export function unsupportedOp(op: Op, why: string): never {
  throw error('E0301', { op: `${op.name} (${why})`, target: 'C backend' }, op.loc);
}
