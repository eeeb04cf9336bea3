/**
 * @fileoverview What a lowering builds a kernel with: the op's operands and results as typed
 * buffers (in0, in1, ..., out0, ...: the order the kernel is called with), its attributes as the
 * op table reads them, fresh local names, and shorthands for the IR's values.
 */
import { error } from '../diag/diagnostics.js';
import { floatElem, numElements, type ElemType, type TensorType } from '../ir/types.js';
import { attrsOf, type AttrsOf, type OpKind } from '../ops/index.js';
import type { FlatOp } from '../flat/program.js';
import { and, type Buf, type Cond, type Stmt, type Val } from './ir.js';
import type { Region } from '../ir/core.js';
import { simpleCombiner } from '../ops/reduction.js';
import { int, type Idx } from '../ir/index-expr.js';

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
      if (s.type.kind !== 'tensor')
        throw error('E0301', { op: `${fop.op.name} with a non-tensor value`, target }, fop.op.loc);
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

// ---- shared by the lowerings ------------------------------------------------------------------

/** 0 as a value of `elem` (an accumulator's start). */
export const zero = (elem: ElemType): Val => ({ k: 'index', x: int(0), elem });
/** The value of local `name`. */
export const local = (name: string): Val => ({ k: 'local', name });
/** A number as a value of `elem`. */
export const num = (elem: ElemType, value: number): Val => ({ k: 'const', elem, value });
/** Operand element i, or element 0 of a rank-0 operand (scalar bounds, predicates). */
export const atOrScalar = (b: TensorBuf, i: Idx): Idx => (b.t.shape.length === 0 ? int(0) : i);

/** `body`, under `if (conditions)` when there are any. */
export const guarded = (conditions: readonly Cond[], body: Stmt[]): Stmt[] =>
  conditions.length ? [{ k: 'if', cond: and(...conditions), then: body }] : body;

/** Applies a reduction body to accumulators and new values: a single binary op inline (rounded to
 * the element type, as each step of the spec's tensor<E> body is), anything else as a region.
 * Returns the statements that update the accumulators. */
export function applyBody(
  k: KernelBuild,
  body: Region | undefined,
  elems: readonly ElemType[],
  accs: readonly string[],
  xs: readonly Val[],
): Stmt[] {
  const simple = simpleCombiner(body);
  if (accs.length === 1 && simple)
    return [
      {
        k: 'set',
        name: accs[0]!,
        value: k.op('round', [k.op(simple, [local(accs[0]!), xs[0]!], elems[0]!)], elems[0]!),
      },
    ];
  const results = accs.map(() => k.local('r'));
  return [
    { k: 'region', region: body, owner: k.fop.op, args: [...accs.map(local), ...xs], results },
    ...accs.map((a, j): Stmt => ({ k: 'set', name: a, value: local(results[j]!) })),
  ];
}

/** out[at] = body(out[at], value): a scatter's combine step. */
export function combineInto(k: KernelBuild, body: Region | undefined, out: TensorBuf, at: Idx, value: Val): Stmt[] {
  const acc = k.local('s');
  return [
    { k: 'local', name: acc, elem: out.elem, wide: false, init: k.load(out, at) },
    ...applyBody(k, body, [out.elem], [acc], [value]),
    { k: 'store', buf: out, at, value: local(acc) },
  ];
}
