/**
 * @fileoverview The op builder the quantize phase writes integer forms with, and the type helpers
 * its parts share (quantized.ts, quantized-order.ts, quantized-arith.ts), and the fixed-point form of a
 * requantization multiplier.
 */
import { error } from '../diag/diagnostics.js';
import type { Loc } from '../diag/source.js';
import type { Attr } from '../ir/attrs.js';
import type { Value } from '../ir/core.js';
import { OpBuilder } from '../ir/builder.js';
import { floatElem, intElem, tensorType, type ElemType, type QuantElem, type TensorType } from '../ir/types.js';

export const I16 = intElem(16, true);
export const I32 = intElem(32, true);
export const I64 = intElem(64, true);
export const F32 = floatElem('f32')!;

export const quantOf = (v: Value): QuantElem | undefined =>
  v.type.kind === 'tensor' && v.type.elem.kind === 'quant' ? v.type.elem : undefined;
export const perAxis = (v: Value): boolean => quantOf(v)?.axis !== undefined;
export const tensorOf = (v: Value): TensorType => v.type as TensorType;

/** Ops into a list, one result each, with the constants and casts the integer forms need. */
export class Builder extends OpBuilder {
  constructor(loc: Loc) {
    super(loc, '%q');
  }

  one(name: string, operands: readonly Value[], type: TensorType, attrs: Record<string, Attr> = {}): Value {
    return this.op(name, operands, [type], attrs)[0]!;
  }

  /** A constant of `shape` holding `values` along dimension `dim` (one value: a splat). */
  along(shape: readonly number[], elem: ElemType, values: readonly (number | bigint)[], dim: number): Value {
    if (values.every((x) => x === values[0])) return this.constant(tensorType(shape, elem), [values[0]!]);
    const vector = this.constant(tensorType([values.length], elem), values);
    return this.one('stablehlo.broadcast_in_dim', [vector], tensorType(shape, elem), {
      broadcast_dimensions: { kind: 'denseArray', elemType: 'i64', values: [dim] },
    });
  }

  convert(x: Value, elem: ElemType): Value {
    return this.one('stablehlo.convert', [x], tensorType(tensorOf(x).shape, elem));
  }

  binary(name: string, a: Value, b: Value): Value {
    return this.one(`stablehlo.${name}`, [a, b], tensorOf(a));
  }

  /** The stored integers of a quantized value (bitcast_convert to its storage type). */
  storage(x: Value): Value {
    const q = quantOf(x)!;
    return this.one('stablehlo.bitcast_convert', [x], tensorType(tensorOf(x).shape, q.storage));
  }

  /** i64 `x` times `multiplier` in fixed point: floor(x * M0 / 2^n + 1/2) for multiplier = M0 * 2^-n. */
  timesFixedPoint(x: Value, multiplier: number): Value {
    const { m0, n } = fixedPoint(multiplier, this.loc);
    const shape = tensorOf(x).shape;
    const i64 = (v: bigint): Value => this.along(shape, I64, [v], 0);
    const p = this.binary('multiply', x, i64(BigInt(m0)));
    return this.binary('shift_right_arithmetic', this.binary('add', p, i64(1n << BigInt(n - 1))), i64(BigInt(n)));
  }

  /** i64 `scaled` plus q's zero point, clamped to its storage, as quantized values of `type`. */
  requantized(scaled: Value, q: QuantElem, type: TensorType): Value {
    const withZero = this.binary(
      'add',
      scaled,
      this.along(tensorOf(scaled).shape, I64, [BigInt(q.zeroPoints[0] ?? 0)], 0),
    );
    const bound = (x: bigint): Value => this.along([], I64, [x], 0);
    const clamped = this.one(
      'stablehlo.clamp',
      [bound(q.storageMin), withZero, bound(q.storageMax)],
      tensorOf(withZero),
    );
    return this.one('stablehlo.bitcast_convert', [this.convert(clamped, q.storage)], type);
  }
}

/** Whether `q` is a per-tensor quantization the integer forms take: integer storage of at most
 * 16 bits, expressed in f32. */
export const plainQuant = (q: QuantElem | undefined): q is QuantElem =>
  !!q && q.axis === undefined && q.storage.kind === 'int' && q.storage.bits <= 16 && q.expressed.name === 'f32';

/** multiplier = M0 * 2^-n with M0 in [2^30, 2^31) and 1 <= n <= 62 (tiny multipliers lose low bits). */
export function fixedPoint(multiplier: number, loc: Loc): { m0: number; n: number } {
  if (!(multiplier > 0) || !Number.isFinite(multiplier))
    throw error(
      'E0301',
      { op: `a requantization multiplier of ${multiplier} (scales must be positive)`, target: 'the quantize phase' },
      loc,
    );
  let e = Math.floor(Math.log2(multiplier)) + 1;
  let m0 = Math.round((multiplier / 2 ** e) * 2 ** 31);
  if (m0 >= 2 ** 31) [m0, e] = [2 ** 30, e + 1];
  if (m0 < 2 ** 30) [m0, e] = [Math.round((multiplier / 2 ** (e - 1)) * 2 ** 31), e - 1];
  let n = 31 - e;
  if (n < 1)
    throw error(
      'E0301',
      { op: `a requantization multiplier of ${multiplier} (at most 2^30)`, target: 'the quantize phase' },
      loc,
    );
  if (n > 62) [m0, n] = [Math.round(m0 / 2 ** (n - 62)), 62];
  return { m0, n };
}
