/**
 * @fileoverview Uniform quantization: uniform_quantize / uniform_dequantize, and the spec's
 * "dequantize, compute in the expressed type, quantize" rule for every other op that takes or
 * produces !quant.uniform tensors (applied by the interpreter driver via `quantizedView`).
 */
import type { Op } from '../ir/core.js';
import { tensorType, type QuantElem, type TensorType, type Type } from '../ir/types.js';
import { expectTensor, forEachIndex, makeTensor, type RtValue, type Tensor } from '../ir/tensor.js';
import { constraint, defineOp } from './def.js';
import { resultTensorType } from './elementwise.js';
import { SCALAR } from './scalar.js';
import { RuntimeError } from '../diag/diagnostics.js';

function scaleAt(q: QuantElem, idx: readonly number[]): { scale: number; zp: number } {
  const k = q.axis === undefined ? 0 : idx[q.axis]!;
  return { scale: Math.fround(q.scales[k] ?? q.scales[0]!), zp: q.zeroPoints[k] ?? q.zeroPoints[0] ?? 0 };
}

export function dequantize(t: Tensor): Tensor {
  const q = t.type.elem;
  if (q.kind !== 'quant') return t;
  const out = makeTensor(tensorType(t.type.shape, q.expressed));
  const src = t.data as bigint[];
  const dst = out.data as Float64Array;
  forEachIndex(t.type.shape, (idx, flat) => {
    const { scale, zp } = scaleAt(q, idx);
    dst[flat] = Math.fround(Math.fround(Number(src[flat]!) - zp) * scale);
  });
  return out;
}

export function quantize(t: Tensor, type: TensorType): Tensor {
  const q = type.elem;
  if (q.kind !== 'quant') throw new RuntimeError('quantize to a non-quantized type');
  const x = t.type.elem.kind === 'quant' ? dequantize(t) : t;
  const out = makeTensor(type);
  const src = x.data as Float64Array;
  const dst = out.data as bigint[];
  const roundEven = SCALAR['round_nearest_even']!.float!;
  forEachIndex(type.shape, (idx, flat) => {
    const { scale, zp } = scaleAt(q, idx);
    const r = roundEven(Math.fround(src[flat]! / scale));
    let v: bigint;
    if (Number.isNaN(r)) v = 0n;
    else if (r > 1e30) v = q.storageMax;
    else if (r < -1e30) v = q.storageMin;
    else v = BigInt(r) + BigInt(zp);
    dst[flat] = v < q.storageMin ? q.storageMin : v > q.storageMax ? q.storageMax : v;
  });
  return out;
}

const uniformQuantize = defineOp({
  name: 'stablehlo.uniform_quantize',
  category: 'elementwise',
  spec: 'uniform_quantize',
  arity: 1,
  infer: (types, _a, op) => {
    const x = types[0];
    const r = op.results[0]?.type;
    if (x?.kind !== 'tensor' || r?.kind !== 'tensor') return undefined;
    if (r.elem.kind !== 'quant')
      return constraint(op, 'uniform_quantize_c1', `the result must be quantized, got ${r.elem.name}`);
    const expressed = x.elem.kind === 'quant' ? x.elem.expressed : x.elem;
    if (expressed.name !== r.elem.expressed.name)
      constraint(op, 'uniform_quantize_c2', `expressed types differ: ${expressed.name} and ${r.elem.expressed.name}`);
    return [tensorType(x.shape, r.elem)];
  },
  evaluate: (args, _a, op) => [quantize(expectTensor(args[0]), resultTensorType(op))],
});

const uniformDequantize = defineOp({
  name: 'stablehlo.uniform_dequantize',
  category: 'elementwise',
  spec: 'uniform_dequantize',
  arity: 1,
  infer: (types, _a, op) => {
    const x = types[0];
    if (x?.kind !== 'tensor') return undefined;
    if (x.elem.kind !== 'quant')
      return constraint(op, 'uniform_dequantize_c2', `the operand must be quantized, got ${x.elem.name}`);
    return [tensorType(x.shape, x.elem.expressed)];
  },
  evaluate: (args) => [dequantize(expectTensor(args[0]))],
});

/** Ops that handle quantized tensors themselves (storage-level semantics). */
export const QUANT_NATIVE = new Set([
  'stablehlo.uniform_quantize',
  'stablehlo.uniform_dequantize',
  'stablehlo.bitcast_convert',
  'stablehlo.constant',
  'func.call',
  'func.return',
  'stablehlo.return',
  'stablehlo.tuple',
  'stablehlo.get_tuple_element',
  'stablehlo.optimization_barrier',
  'check.expect_eq',
  'check.expect_eq_const',
]);

function expressedType(t: Type): Type {
  return t.kind === 'tensor' && t.elem.kind === 'quant' ? tensorType(t.shape, t.elem.expressed) : t;
}

export function hasQuantTypes(op: Op): boolean {
  const q = (t: Type): boolean => t.kind === 'tensor' && t.elem.kind === 'quant';
  return op.operands.some((v) => q(v.type)) || op.results.some((v) => q(v.type));
}

const views = new WeakMap<Op, Op>();
/** The op with quantized result types replaced by their expressed float types. */
export function quantizedView(op: Op): Op {
  let v = views.get(op);
  if (!v) {
    v = { ...op, results: op.results.map((r) => ({ ...r, type: expressedType(r.type) })) };
    views.set(op, v);
  }
  return v;
}

export function dequantizeArgs(args: readonly RtValue[]): RtValue[] {
  return args.map((a) => (a.kind === 'tensor' && a.type.elem.kind === 'quant' ? dequantize(a) : a));
}

export function requantizeResults(op: Op, results: readonly RtValue[]): RtValue[] {
  return results.map((r, i) => {
    const t = op.results[i]?.type;
    return t?.kind === 'tensor' && t.elem.kind === 'quant' && r.kind === 'tensor' ? quantize(r, t) : r;
  });
}

export const QUANT = [uniformQuantize, uniformDequantize];
