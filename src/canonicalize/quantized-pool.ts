/**
 * @fileoverview Average pooling of quantized values in the quantize phase (quantized.ts). The QDQ
 * form PyTorch's and ONNX's exports write, uniform_quantize(divide(pool(uniform_dequantize(x)),
 * C)), where pool is a reduce_window or reduce (a global pool) summing one operand from 0.0 and C
 * a splat constant (or a multiply by one), runs on the stored integers. With zx, sx the input's
 * zero point and scale and zr, sr the result's:
 *   S = the same sums of (x - zx) in i32 (padding and base dilation's holes add 0, the
 *       dequantized value of the f32 init);
 *   q = clamp(zr + floor(S * M0 / 2^n + 1/2)), for sx / (C sr) = M0 * 2^-n (sx C / sr for a multiply).
 * The spec sums in f32, divides and quantizes rounding half to even: the integer form rounds half
 * up once, so a result may differ from the interpreter's by one quantum where the exact mean is
 * within rounding of a tie (or is one). Pools whose sums could pass i32, or whose multiplier the
 * fixed-point form cannot hold, stay in f32.
 */
import type { Block, Op, Value } from '../ir/core.js';
import { tensorType, type TensorType } from '../ir/types.js';
import { attrsOf } from '../ops/index.js';
import { Builder, I32, I64, plainQuant, quantOf, tensorOf } from './quant-builder.js';
import { reducesWith, scalarBody, splatElem } from './quantized-order.js';

/** An average pool found in QDQ form, computed at its uniform_quantize. */
export interface AveragePool {
  /** The reduce_window or reduce summing the dequantized values. */
  readonly pool: Op;
  /** The quantized values it dequantizes (per tensor). */
  readonly input: Value;
  /** What the sums of (x - zx) are multiplied by: sx / (C sr) for a divide, sx C / sr for a multiply. */
  readonly multiplier: number;
}

/** The number every element of constant `v` holds, if `v` is a float splat. */
function floatSplat(v: Value, def: ReadonlyMap<Value, Op>): number | undefined {
  const x = splatElem(v, def);
  return typeof x === 'number' ? x : undefined;
}

/** Whether `op` sums its one operand (a body that adds its two arguments) from a 0.0 init. */
const isSum = (op: Op, def: ReadonlyMap<Value, Op>): boolean =>
  reducesWith(op, ['stablehlo.add']) && floatSplat(op.operands[1]!, def) === 0;

/** How many elements each of `pool`'s sums adds at most. */
function windowElements(pool: Op): number {
  const count = (xs: readonly number[]): number => xs.reduce((a, b) => a * b, 1);
  if (pool.name === 'stablehlo.reduce_window') return count(attrsOf('stablehlo.reduce_window', pool).dims);
  const shape = tensorOf(pool.operands[0]!).shape;
  return count(attrsOf('stablehlo.reduce', pool).dims.map((d) => shape[d]!));
}

/** The average pools of `block` in QDQ form (each at its uniform_quantize), and the ops they
 * replace (the pool and the divide: each read by the next only). */
export function averagePools(
  block: Block,
  def: ReadonlyMap<Value, Op>,
  uses: ReadonlyMap<Value, number>,
): { at: Map<Op, AveragePool>; absorbed: Set<Op> } {
  const at = new Map<Op, AveragePool>();
  const absorbed = new Set<Op>();
  const once = (v: Value): boolean => uses.get(v) === 1;
  for (const quantize of block.ops) {
    if (quantize.name !== 'stablehlo.uniform_quantize') continue;
    const qr = quantOf(quantize.results[0]!);
    if (!plainQuant(qr)) continue;
    const scale = def.get(quantize.operands[0]!);
    if (
      !scale ||
      !once(scale.results[0]!) ||
      (scale.name !== 'stablehlo.divide' && scale.name !== 'stablehlo.multiply')
    )
      continue;
    // divide(pool, C); multiply(pool, C) or multiply(C, pool).
    const poolSide = scale.name === 'stablehlo.divide' ? 0 : floatSplat(scale.operands[0]!, def) === undefined ? 0 : 1;
    const c = floatSplat(scale.operands[1 - poolSide]!, def);
    const pool = def.get(scale.operands[poolSide]!);
    if (c === undefined || !(c > 0) || !pool || !once(pool.results[0]!) || !isSum(pool, def)) continue;
    const dq = def.get(pool.operands[0]!);
    const qx = dq?.name === 'stablehlo.uniform_dequantize' ? quantOf(dq.operands[0]!) : undefined;
    if (!plainQuant(qx) || windowElements(pool) * 2 ** qx.storage.bits >= 2 ** 31) continue;
    const factor = scale.name === 'stablehlo.divide' ? 1 / c : c;
    const multiplier = (Math.fround(qx.scales[0]!) * factor) / Math.fround(qr.scales[0]!);
    if (!Number.isFinite(multiplier) || !(multiplier > 0) || multiplier > 2 ** 30) continue;
    at.set(quantize, { pool, input: dq!.operands[0]!, multiplier });
    absorbed.add(pool).add(scale);
  }
  return { at, absorbed };
}

/** The pool on the stored integers (`input`: its quantized input after the phase's rewrites),
 * giving the quantize's result. */
export function lowerAveragePool(quantize: Op, p: AveragePool, input: Value): { ops: Op[]; result: Value } {
  const b = new Builder(quantize.loc);
  const [qx, qr] = [quantOf(input)!, quantOf(quantize.results[0]!)!];
  const inShape = tensorOf(input).shape;
  const centered = b.binary(
    'subtract',
    b.convert(b.storage(input), I32),
    b.along(inShape, I32, [BigInt(qx.zeroPoints[0] ?? 0)], 0),
  );
  const sumType = tensorType(tensorOf(p.pool.results[0]!).shape, I32);
  const zero = b.along([], I32, [0n], 0);
  const [sums] = b.op(p.pool.name, [centered, zero], [sumType], p.pool.attrs, [scalarBody(p.pool.regions[0]!, I32)]);
  const scaled = b.timesFixedPoint(b.convert(sums!, I64), p.multiplier);
  return { ops: b.ops, result: b.requantized(scaled, qr, quantize.results[0]!.type as TensorType) };
}
