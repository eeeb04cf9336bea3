/**
 * @fileoverview Max pooling before a float activation (canonicalize, on the flat program): a max
 * pool of an elementwise chain that is non-decreasing in one operand (a bias add, a ReLU, a
 * minimum with a bound: add, subtract of a value from it, maximum, minimum) whose other operands
 * are the same across each window (splat constants, or broadcasts that do not vary along the
 * dimensions the window spans or steps over) pools the chain's operand and runs the chain on the
 * pooled values: exact, since for f non-decreasing max_i f(x_i) = f(max_i x_i) (a NaN in the
 * window gives NaN both ways; +0 above -0 both ways), and a 2x2 pool leaves a quarter of the
 * values to the chain (a convolution's bias-and-ReLU epilogue, here, runs after the pool). Taken
 * where the pool has no padding or base dilation and its init is -inf (it meets only values it
 * cannot exceed), and each value of the chain is read by the next only.
 */
import { tensorType, type TensorType, type Type } from '../ir/types.js';
import { filledTensor, uniformElem, type Tensor } from '../ir/tensor.js';
import { attrsOf } from '../ops/index.js';
import type { FlatOp, Sym } from '../flat/program.js';
import { spannedDims, unpaddedMaxPool } from './quantized-order.js';

/** What the rewrite reads of the simplification it runs in. */
export interface PoolContext {
  /** The kernel op (kept so far) computing each value. */
  readonly producer: ReadonlyMap<Sym, FlatOp>;
  /** A constant's value (undefined for other values). */
  readonly valueOf: (s: Sym) => Tensor | undefined;
  /** How many times each value is read in the program. */
  readonly uses: ReadonlyMap<Sym, number>;
  /** A new value of type `t`. */
  readonly fresh: (t: Type) => Sym;
  /** A new constant holding `t`, located where constant `like` is. */
  readonly constant: (t: Tensor, like: Sym) => Sym;
}

const NON_DECREASING = new Set(['stablehlo.add', 'stablehlo.subtract', 'stablehlo.maximum', 'stablehlo.minimum']);

/** The one number every element of constant `t` holds, if they are all equal. */
function uniform(t: Tensor | undefined): number | undefined {
  const v = t && uniformElem(t);
  return typeof v === 'number' ? v : undefined;
}

/**
 * The ops that replace max pool `r` (pool, then the chain on the pooled values, its last op
 * writing `r`'s result), or undefined where the rewrite does not apply.
 */
export function poolBeforeActivation(r: FlatOp, cx: PoolContext): FlatOp[] | undefined {
  const w = unpaddedMaxPool(r.op);
  if (!w || r.ins.length !== 2) return undefined;
  const [x, init] = r.ins as [Sym, Sym];
  const out = r.outs[0]!.type as TensorType;
  if (x.type.kind !== 'tensor' || x.type.elem.kind !== 'float' || uniform(cx.valueOf(init)) !== -Infinity)
    return undefined;
  const spanned = spannedDims(w);
  /** Whether `s` is the same across each window: a splat constant, or a broadcast constant along
   * the spanned dimensions. */
  const sameInWindows = (s: Sym): boolean => {
    if (uniform(cx.valueOf(s)) !== undefined) return true;
    const b = cx.producer.get(s);
    return (
      b?.op.name === 'stablehlo.broadcast_in_dim' &&
      !attrsOf('stablehlo.broadcast_in_dim', b.op).dims.some((d: number) => spanned.has(d))
    );
  };
  const chain: { readonly fop: FlatOp; readonly at: number }[] = [];
  let v = x;
  for (;;) {
    const p = cx.producer.get(v);
    if (!p || cx.uses.get(v) !== 1 || !NON_DECREASING.has(p.op.name) || p.ins.length !== 2) break;
    // The chain's operand: either one of an add, maximum or minimum; a subtract's left one.
    const at = [0, 1].find((i) => (i === 0 || p.op.name !== 'stablehlo.subtract') && sameInWindows(p.ins[1 - i]!));
    if (at === undefined) break;
    chain.unshift({ fop: p, at });
    v = p.ins[at]!;
  }
  if (!chain.length) return undefined;
  const pooledType = tensorType(out.shape, x.type.elem);
  const pooled = cx.fresh(pooledType);
  const ops: FlatOp[] = [{ ...r, ins: [v, init], outs: [pooled] }];
  let cur = pooled;
  chain.forEach(({ fop, at }, i) => {
    const other = fop.ins[1 - at]!;
    const value = uniform(cx.valueOf(other));
    let bound: Sym;
    if (value !== undefined) bound = cx.constant(filledTensor(pooledType, value), other);
    else {
      const b = cx.producer.get(other)!;
      bound = cx.fresh(pooledType);
      ops.push({ ...b, outs: [bound] });
    }
    const res = i === chain.length - 1 ? r.outs[0]! : cx.fresh(pooledType);
    ops.push({ ...fop, ins: at === 0 ? [cur, bound] : [bound, cur], outs: [res] });
    cur = res;
  });
  return ops;
}
