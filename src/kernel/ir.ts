/**
 * @fileoverview The kernel IR: what a lowering builds and a renderer (emit-common/cstyle.ts and
 * its C and CUDA subclasses) prints. A kernel is a loop nest over typed buffers: loops carry their
 * extent and a `parallel` mark (iterations independent: thread-pool rows on a CPU, threads on a
 * GPU); indexes are a small integer AST (no strings), every store computes its linear index (no
 * running counters, so any iteration can run anywhere); scalar values are the op table's scalar
 * ops over element types, which each renderer spells.
 */
import type { Op, Region } from '../ir/core.js';
import { int, v, type Idx } from '../ir/index-expr.js';
import type { ElemType } from '../ir/types.js';
import type { Tensor } from '../ir/tensor.js';
import type { FusionGroup } from '../flat/program.js';
import type { UkernelPlan } from './ukernel.js';

// ---- buffers -------------------------------------------------------------------------------------

/** A kernel parameter: a tensor's buffer (elements in row-major order). */
export interface Buf {
  readonly name: string;
  readonly elem: ElemType;
  readonly elements: number;
  readonly output: boolean;
}

/** A vector of `lanes` consecutive elements of `elem` (f32 now; int8/int16/int32 lanes to come),
 * as vectorize.ts makes them from loops marked `vector`. */
export interface VecType {
  readonly elem: ElemType;
  readonly lanes: number;
}

/** Conditions over indexes. */
export type Cond =
  | { readonly k: 'cmp'; readonly a: Idx; readonly rel: '<' | '>=' | '=='; readonly b: Idx }
  | { readonly k: 'and'; readonly all: readonly Cond[] }
  /** A boolean scalar (a region's i1 result), or its negation. */
  | { readonly k: 'truth'; readonly value: Val; readonly negate: boolean };

export const lt = (a: Idx, b: Idx | number): Cond => ({ k: 'cmp', a, rel: '<', b: typeof b === 'number' ? int(b) : b });
export const ge = (a: Idx, b: Idx | number): Cond => ({
  k: 'cmp',
  a,
  rel: '>=',
  b: typeof b === 'number' ? int(b) : b,
});
export const eq = (a: Idx, b: Idx | number): Cond => ({
  k: 'cmp',
  a,
  rel: '==',
  b: typeof b === 'number' ? int(b) : b,
});
export const and = (...all: readonly Cond[]): Cond =>
  all.length === 1 ? all[0]! : { k: 'and', all: all.flatMap((c) => (c.k === 'and' ? c.all : [c])) };

// ---- scalar values ---------------------------------------------------------------------------------

/** A scalar in the compute type of its element type (renderers pick storage vs compute types). */
export type Val =
  /** Element `at` of `buf`, loaded (converted to its compute type); `raw`: as stored, for values
   * only moved (select), which a store with `raw` writes back bit for bit. */
  | { readonly k: 'load'; readonly buf: Buf; readonly at: Idx; readonly raw?: boolean }
  /** `then` where `cond` holds, else `otherwise` (window elements in padding read the init value). */
  | { readonly k: 'cond'; readonly cond: Cond; readonly then: Val; readonly otherwise: Val }
  /** An op-table scalar op (`add`, `exponential`, `compare`, `convert`, `select`, ...) of `owner`
   * (its attributes: comparison direction, ...) on values of element type `elem`. */
  | {
      readonly k: 'op';
      readonly name: string;
      readonly args: readonly Val[];
      readonly elem: ElemType;
      readonly result: ElemType;
      readonly owner: Op;
    }
  /** An index as a value of element type `elem` (iota, dimension sizes). */
  | { readonly k: 'index'; readonly x: Idx; readonly elem: ElemType }
  /** A local scalar (accumulator, region result, or a value the enclosing code binds). */
  | { readonly k: 'local'; readonly name: string }
  /** A constant whose elements are all `value`'s element 0 (a splat fused as a literal). */
  | { readonly k: 'splat'; readonly elem: ElemType; readonly value: Tensor }
  /** A number the lowering chose (epsilon, pi, a count) as a value of real or complex `elem`. */
  | { readonly k: 'const'; readonly elem: ElemType; readonly value: number }
  /** f64 uniform in [0, 1): draw `pair` (0 or 1) for element `at` of the stream `key`, the
   * interpreter's generator (ops/random.ts uniform01), which each runtime provides. */
  | { readonly k: 'uniform01'; readonly key: number; readonly at: Idx; readonly pair: 0 | 1 }
  /** buf[at], buf[at + 1], ..., as a vector. */
  | { readonly k: 'vload'; readonly buf: Buf; readonly at: Idx; readonly type: VecType }
  /** A scalar in every lane. */
  | { readonly k: 'broadcast'; readonly value: Val; readonly type: VecType }
  /** Scalar op `name` (the op table's, as in `op`) lane by lane. */
  | {
      readonly k: 'vop';
      readonly name: string;
      readonly args: readonly Val[];
      readonly type: VecType;
      readonly owner: Op;
    };

// ---- statements -------------------------------------------------------------------------------------

export type Stmt =
  /** for (var = from; var < to; var += step (1 if absent)); `parallel`: iterations are
   * independent; `vector`: the body is elementwise along `var`, so vectorize.ts may run it in
   * vectors (a loop of vector steps, then the scalar remainder). */
  | {
      readonly k: 'loop';
      readonly var: string;
      readonly from: Idx;
      readonly to: Idx;
      readonly parallel: boolean;
      readonly body: readonly Stmt[];
      readonly vector?: boolean;
      readonly step?: number;
    }
  /** buf[at] = value, stored (rounded/converted to the buffer's storage type; `raw`: a raw value). */
  | { readonly k: 'store'; readonly buf: Buf; readonly at: Idx; readonly value: Val; readonly raw?: boolean }
  /** buf[at], buf[at + 1], ... = the lanes of vector `value`. */
  | { readonly k: 'vstore'; readonly buf: Buf; readonly at: Idx; readonly value: Val; readonly type: VecType }
  /** buf[at] = src[from]: an element moved as stored, bit for bit. */
  | { readonly k: 'move'; readonly buf: Buf; readonly at: Idx; readonly src: Buf; readonly from: Idx }
  /** The whole of `src` copied to `buf` (same bytes). */
  | { readonly k: 'copy'; readonly buf: Buf; readonly src: Buf }
  /** A named scalar of element type `elem` computed once (`note`: what it is, for readers). */
  | {
      readonly k: 'let';
      readonly name: string;
      readonly elem: ElemType;
      readonly value: Val;
      readonly note?: string;
      readonly lanes?: number;
    }
  /** const int64 name = value. */
  | { readonly k: 'index'; readonly name: string; readonly value: Idx }
  /** A mutable int64 (a selected position), declared and later assigned. */
  | { readonly k: 'var'; readonly name: string; readonly value: Idx }
  | { readonly k: 'setIndex'; readonly name: string; readonly value: Idx }
  /** A mutable scalar of element type `elem` (`wide`: accumulated in the widest type of its
   * class: double for floats, as the interpreter sums), set to `init`. */
  | {
      readonly k: 'local';
      readonly name: string;
      readonly elem: ElemType;
      readonly wide: boolean;
      readonly init: Val;
      readonly lanes?: number;
    }
  | { readonly k: 'set'; readonly name: string; readonly value: Val }
  /** A scalar region (reduce / map / sort bodies) applied to `args`; `results` name its returns. */
  | {
      readonly k: 'region';
      readonly region: Region | undefined;
      readonly owner: Op;
      readonly args: readonly Val[];
      readonly results: readonly string[];
    }
  | { readonly k: 'if'; readonly cond: Cond; readonly then: readonly Stmt[]; readonly otherwise?: readonly Stmt[] }
  /** Leaves the innermost loop (an insertion sort's inner loop stops at the first ordered pair). */
  | { readonly k: 'break' }
  /** Exchanges buf[a] and buf[b], as stored. */
  | { readonly k: 'swap'; readonly buf: Buf; readonly a: Idx; readonly b: Idx }
  /** A scratch array local to the kernel (to one thread on a GPU), addressed like a parameter;
   * in the compute precision a lowering needs (f64 work arrays of triangular_solve and fft). */
  | { readonly k: 'array'; readonly buf: Buf }
  /** A contraction computed by the backend's micro-kernel for `plan` (ukernel.ts): the kernel's
   * whole body. `epilogue`: the fusion group applied to each element of the product. */
  | { readonly k: 'ukernel'; readonly plan: UkernelPlan; readonly epilogue?: FusionGroup }
  | { readonly k: 'comment'; readonly text: string };

export interface KernelIR {
  readonly name: string;
  /** What the kernel computes and where from (op and source location, or the fused ops). */
  readonly comment: string;
  readonly params: readonly Buf[];
  readonly body: readonly Stmt[];
}

// ---- building ---------------------------------------------------------------------------------------

/** A loop nest over `shape` (variables prefix0, prefix1, ...); `body` gets the index variables. */
export function nest(shape: readonly number[], body: (idx: Idx[]) => Stmt[], prefix = 'i', parallel = true): Stmt[] {
  const names = shape.map((_, d) => `${prefix}${d}`);
  const open = (d: number): Stmt[] =>
    d === shape.length
      ? body(names.map(v))
      : [{ k: 'loop', var: names[d]!, from: int(0), to: int(shape[d]!), parallel, body: open(d + 1) }];
  return open(0);
}

/** One loop over `n` elements (variable `i`). */
/** for var in [from, to) around `body`; sequential unless `parallel`. */
export const loop = (name: string, to: Idx | number, body: Stmt[], parallel = false, from = 0): Stmt => ({
  k: 'loop',
  var: name,
  from: int(from),
  to: typeof to === 'number' ? int(to) : to,
  parallel,
  body,
});

export const flatLoop = (n: number, body: (i: Idx) => Stmt[]): Stmt[] => [
  { k: 'loop', var: 'i', from: int(0), to: int(n), parallel: true, body: body(v('i')) },
];
