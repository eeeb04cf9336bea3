/**
 * @fileoverview Ops appended to a list at one source location: what a tensor-level pass that
 * rewrites one op into several builds (partition/unroll.ts, canonicalize/quantized.ts).
 */
import type { Loc } from '../diag/source.js';
import type { Attr, DenseElem } from './attrs.js';
import { newValue, type Op, type Region, type Value } from './core.js';
import { storageElem, type TensorType, type Type } from './types.js';

/** A `array<i64: ...>` attribute (permutations, slice bounds, sizes). */
export const i64Array = (xs: readonly number[]): Attr => ({ kind: 'denseArray', elemType: 'i64', values: xs });

export class OpBuilder {
  readonly ops: Op[] = [];
  /** `name`: the SSA name the built values print with. */
  constructor(
    readonly loc: Loc,
    private readonly name: string,
  ) {}

  /** Appends op `name` and returns its results. */
  op(
    name: string,
    operands: readonly Value[],
    resultTypes: readonly Type[],
    attrs: Record<string, Attr> = {},
    regions: Region[] = [],
  ): Value[] {
    const results = resultTypes.map((t) => newValue(t, this.name));
    this.ops.push({ name, operands: [...operands], results, attrs, regions, successors: [], loc: this.loc });
    return results;
  }

  /** A dense constant of type `t`: one value (a splat) or every element in row-major order. */
  constant(t: TensorType, values: readonly (number | bigint)[]): Value {
    const e = storageElem(t.elem);
    const elem = (x: number | bigint): DenseElem =>
      e.kind === 'float'
        ? { kind: 'float', value: Number(x) }
        : e.kind === 'bool'
          ? { kind: 'bool', value: Number(x) !== 0 }
          : { kind: 'int', value: BigInt(x), hex: false };
    return this.op('stablehlo.constant', [], [t], {
      value: { kind: 'dense', literal: { elems: values.map(elem) }, type: t },
    })[0]!;
  }
}
