/**
 * @fileoverview Order ops on quantized values in the quantize phase (quantized.ts):
 *   - maximum, minimum and clamp whose operands and result share one per-tensor quantization, and
 *     pooling (reduce_window, reduce) with one such op as its body, run on the stored integers
 *     (exact: dequantization is monotonic);
 *   - a max pool of a quantized contraction's result runs on the contraction's i32 accumulators,
 *     before the requantization (poolsBeforeRequantization).
 */
import { newValue, type Block, type Op, type Region, type Value } from '../ir/core.js';
import { tensorType, type ElemType, type QuantElem } from '../ir/types.js';
import { attrsOf } from '../ops/index.js';
import type { WindowAttrs } from '../ops/reduction.js';
import { constantValue } from '../ops/control.js';
import { uniformElem, type Elem } from '../ir/tensor.js';
import { Builder, I32, quantOf, tensorOf } from './quant-builder.js';

/** Ops that commute with dequantization when operands and result share one per-tensor
 * quantization (it is monotonic): computed on the stored integers, exactly as the spec's
 * dequantize, op, quantize would (ReLU as the maximum with the zero point, clamps, pooling's max). */
export const ORDER_OPS = new Set(['stablehlo.maximum', 'stablehlo.minimum', 'stablehlo.clamp']);

/** Whether `op`'s one result and `operands` share one per-tensor quantization. */
export function sameQuantization(op: Op, operands: readonly Value[]): boolean {
  const q = quantOf(op.results[0]!);
  if (!q || q.axis !== undefined || op.results.length !== 1) return false;
  return operands.every((v) => {
    const e = quantOf(v);
    return !!e && e.axis === undefined && e.name === q.name;
  });
}

/** An order op on the stored integers of same-quantization operands; a reduction (pooling's
 * reduce_window, reduce) whose body is one order op of its two arguments, with that body on
 * integer scalars. */
export function lowerOrderOp(op: Op, operands: readonly Value[]): { ops: Op[]; result: Value } {
  const b = new Builder(op.loc);
  const out = tensorOf(op.results[0]!);
  const storage = (out.elem as QuantElem).storage;
  const ints = operands.map((v) => b.storage(v));
  const regions = op.regions.map((r) => scalarBody(r, storage));
  const [r] = b.op(op.name, ints, [tensorType(out.shape, storage)], op.attrs, regions);
  return { ops: b.ops, result: b.one('stablehlo.bitcast_convert', [r!], out) };
}

/** A body of one binary op of its two arguments (an order op: isOrderReduction's; an add:
 * quantized-pool.ts's), on scalars of `elem`. */
export function scalarBody(r: Region, elem: ElemType): Region {
  const scalar = tensorType([], elem);
  const [x, y, m] = [newValue(scalar, 'lhs'), newValue(scalar, 'rhs'), newValue(scalar, 'm')];
  const [body, ret] = r.blocks[0]!.ops as [Op, Op];
  const ops: Op[] = [
    { ...body, operands: [x, y], results: [m], regions: [] },
    { ...ret, operands: [m], results: [] },
  ];
  return { blocks: [{ ...r.blocks[0]!, args: [x, y], ops }] };
}

/** A reduce_window or reduce of one operand whose body is one order op of its two arguments. */
export const isOrderReduction = (op: Op): boolean => reducesWith(op, ['stablehlo.maximum', 'stablehlo.minimum']);

/** Whether `op` is a reduce_window or reduce of one operand whose body is one op named in `names`
 * of its two arguments. */
export function reducesWith(op: Op, names: readonly string[]): boolean {
  if ((op.name !== 'stablehlo.reduce_window' && op.name !== 'stablehlo.reduce') || op.operands.length !== 2)
    return false;
  const block = op.regions[0]?.blocks[0];
  const [body, ret] = block?.ops ?? [];
  return (
    block?.ops.length === 2 &&
    names.includes(body!.name) &&
    body!.operands.length === 2 &&
    body!.operands.every((v, i) => v === block.args[i]) &&
    ret!.operands[0] === body!.results[0]
  );
}

/** The windows of `op` when it is a max pool whose every window lies inside its operand: a
 * reduce_window of one operand whose body is a maximum, with no padding or base dilation (the
 * init then only meets values, never stands in for one). Both pool-first rewrites start here. */
export function unpaddedMaxPool(op: Op): WindowAttrs | undefined {
  if (op.name !== 'stablehlo.reduce_window' || !isOrderReduction(op)) return undefined;
  if (op.regions[0]!.blocks[0]!.ops[0]!.name !== 'stablehlo.maximum') return undefined;
  const w = attrsOf('stablehlo.reduce_window', op);
  return w.padding.some((p) => p.some((x) => x !== 0)) || w.baseDil.some((d) => d !== 1) ? undefined : w;
}

/** The dimensions windows span or step over (all but those one wide with stride one): a function
 * commutes with the pool only where it is the same along these. */
export const spannedDims = (w: WindowAttrs): Set<number> =>
  new Set(w.dims.flatMap((d, i) => (d !== 1 || w.strides[i] !== 1 ? [i] : [])));

/** A max pool computed on a contraction's accumulators, before their requantization. */
export interface PoolFirst {
  /** The contraction (QDQ: the uniform_quantize that stands for one). */
  readonly contraction: Op;
  /** Order ops with constant bounds between the contraction and the pool (a ReLU), in order. */
  readonly chain: readonly Op[];
}

/** The one element every element of constant `v` holds, if `v` is such a constant (a splat). */
export function splatElem(v: Value, def: ReadonlyMap<Value, Op>): Elem | undefined {
  const c = def.get(v);
  if (c?.name !== 'stablehlo.constant' || v.type.kind !== 'tensor') return undefined;
  return uniformElem(constantValue(c.attrs['value'], v.type, c));
}

/** The one stored integer of every element of constant `v`, if `v` is one. */
function splat(v: Value, def: ReadonlyMap<Value, Op>): bigint | undefined {
  const x = splatElem(v, def);
  return typeof x === 'bigint' ? x : undefined;
}

/** The operand of order op `op` (maximum, minimum, clamp of one quantization) that is not a
 * constant splat, when all its others are. */
function boundedOperand(op: Op, def: ReadonlyMap<Value, Op>): Value | undefined {
  if (!ORDER_OPS.has(op.name) || !sameQuantization(op, op.operands)) return undefined;
  const free = op.operands.filter((v) => splat(v, def) === undefined);
  return free.length === 1 ? free[0] : undefined;
}

/**
 * Max pools that can run on the i32 accumulators of the quantized contraction they read.
 * requantize(acc) = clamp(zr + floor(acc * M0 / 2^n + 1/2)) with M0 > 0 is monotonic
 * non-decreasing in acc, as is a ReLU (a maximum with a constant) or any order op with constant
 * bounds; so where one such function applies to every element of a window, the window's maximum
 * of the function is the function of the window's maximum, and requantization (and the ReLU) run
 * on the pooled values only (a quarter of them for a 2x2 pool), with bit-identical results. That
 * needs: the window one wide and strided one along the dimension per-channel multipliers vary
 * along; every window inside the operand (no padding, no base dilation), so the init only meets
 * values it cannot exceed, being the storage minimum; each value between read by the next only.
 * `requantizationDim`: for a quantized contraction (or a QDQ quantize standing for one), the
 * result dimension its requantization varies along (-1: none); undefined for other ops.
 * Returns the pools with what they absorb, and the ops absorbed (computed at the pool).
 */
export function poolsBeforeRequantization(
  block: Block,
  def: ReadonlyMap<Value, Op>,
  uses: ReadonlyMap<Value, number>,
  requantizationDim: (op: Op) => number | undefined,
): { pools: Map<Op, PoolFirst>; absorbed: Set<Op> } {
  const pools = new Map<Op, PoolFirst>();
  const absorbed = new Set<Op>();
  for (const pool of block.ops) {
    const w = unpaddedMaxPool(pool);
    if (!w || !sameQuantization(pool, pool.operands)) continue;
    const q = quantOf(pool.results[0]!)!;
    if (splat(pool.operands[1]!, def) !== q.storageMin) continue;
    const chain: Op[] = [];
    let v = pool.operands[0]!;
    let contraction: Op | undefined;
    while (uses.get(v) === 1 && def.has(v)) {
      const d = def.get(v)!;
      const dim = requantizationDim(d);
      if (dim !== undefined) {
        const along = dim < 0 || !spannedDims(w).has(dim);
        if (along && quantOf(d.results[0]!)?.name === q.name) contraction = d;
        break;
      }
      const next = boundedOperand(d, def);
      if (!next) break;
      chain.unshift(d);
      v = next;
    }
    if (!contraction) continue;
    pools.set(pool, { contraction, chain });
    for (const op of [contraction, ...chain]) absorbed.add(op);
  }
  return { pools, absorbed };
}

/** Max pool `pool`'s windows over i32 accumulators `acc` (the pool's attributes; init: the least i32). */
export function poolAccumulators(b: Builder, acc: Value, pool: Op): Value {
  const scalar = tensorType([], I32);
  const body = scalarBody(pool.regions[0]!, I32);
  const least = b.constant(scalar, [-(2n ** 31n)]);
  const shape = tensorOf(pool.results[0]!).shape;
  return b.op('stablehlo.reduce_window', [acc, least], [tensorType(shape, I32)], pool.attrs, [body])[0]!;
}

/** `chain` (order ops with constant bounds, poolsBeforeRequantization) applied to the pooled,
 * requantized `x`: each bound a splat of the pooled shape (or the scalar it was). */
export function applyChain(
  chain: readonly Op[],
  x: Value,
  def: ReadonlyMap<Value, Op>,
  use: (v: Value) => Value,
): { ops: Op[]; result: Value } {
  const ops: Op[] = [];
  let cur = x;
  for (const op of chain) {
    const b = new Builder(op.loc);
    const t = tensorOf(cur);
    const operands = op.operands.map((v) => {
      const s = splat(v, def);
      if (s === undefined) return cur;
      return tensorOf(v).shape.length === 0 ? use(v) : b.constant(tensorType(t.shape, tensorOf(v).elem), [s]);
    });
    const lowered = lowerOrderOp({ ...op, operands, results: [newValue(t, op.results[0]!.name)] }, operands);
    ops.push(...b.ops, ...lowered.ops);
    cur = lowered.result;
  }
  return { ops, result: cur };
}
