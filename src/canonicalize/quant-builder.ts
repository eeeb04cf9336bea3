/**
 * @fileoverview The op builder the quantize phase writes integer forms with, and the type helpers
 * its parts share (quantized.ts, quantized-order.ts).
 */
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
}
