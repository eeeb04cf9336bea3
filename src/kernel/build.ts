/**
 * @fileoverview What a lowering builds a kernel with: the op's operands and results as typed
 * buffers (in0, in1, ..., out0, ...: the order the kernel is called with), its attributes as the
 * op table reads them, fresh local names, and shorthands for the IR's values.
 */
import { error } from '../diag/diagnostics.js';
import { floatElem, numElements, type ElemType, type TensorType } from '../ir/types.js';
import { attrsOf, type AttrsOf, type OpKind } from '../ops/index.js';
import type { FlatOp } from '../flat/program.js';
import type { Buf, Stmt, Val } from './ir.js';
import type { Idx } from '../ir/index-expr.js';

/** f64: the precision of the interpreter's own arithmetic, which some lowerings compute in. */
export const F64 = floatElem('f64')!;

/** A buffer with the tensor type it holds. */
export interface TensorBuf extends Buf {
  readonly t: TensorType;
}

export class KernelBuild {
  readonly ins: TensorBuf[];
  readonly outs: TensorBuf[];
  private nextLocal = 0;
  constructor(
    readonly fop: FlatOp,
    readonly target: string,
  ) {
    const buf = (s: FlatOp['ins'][number], name: string, output: boolean): TensorBuf => {
      if (s.type.kind !== 'tensor') throw error('E0301', { op: `${fop.op.name} with a non-tensor value`, target }, fop.op.loc);
      return { name, elem: s.type.elem, elements: numElements(s.type.shape), output, t: s.type };
    };
    this.ins = fop.ins.map((s, i) => buf(s, `in${i}`, false));
    this.outs = fop.outs.map((s, i) => buf(s, `out${i}`, true));
  }

  get params(): Buf[] {
    return [...this.ins, ...this.outs];
  }

  /** The op's attributes as op `kind`'s table entry reads them (typed by the op table). */
  attrsOf<K extends OpKind>(kind: K): AttrsOf<K> {
    return attrsOf(kind, this.fop.op);
  }

  unsupported(why: string): never {
    throw error('E0301', { op: `${this.fop.op.name} (${why})`, target: this.target }, this.fop.op.loc);
  }

  /** A fresh local name with `prefix`. */
  local(prefix: string): string {
    return `${prefix}${this.nextLocal++}`;
  }

  load(b: Buf, at: Idx): Val {
    return { k: 'load', buf: b, at };
  }

  /** Scalar op `name` of the op table on values of `elem` (result type `result`). */
  op(name: string, args: readonly Val[], elem: ElemType, result: ElemType = elem): Val {
    return { k: 'op', name, args, elem, result, owner: this.fop.op };
  }

  /** `x` (of `from`) converted to `to`. */
  convert(x: Val, from: ElemType, to: ElemType): Val {
    return this.op('convert', [x], from, to);
  }

  /** Element `at` of `b` as a value of `to` (f64 work of batch norm, triangular_solve, fft). */
  loadAs(b: Buf, at: Idx, to: ElemType): Val {
    return this.convert(this.load(b, at), b.elem, to);
  }

  /** Binary scalar op `name` on `elem`. */
  bin(name: string, a: Val, b: Val, elem: ElemType): Val {
    return this.op(name, [a, b], elem);
  }

}

export type IRLowering = (k: KernelBuild) => Stmt[];
