/**
 * @fileoverview The dynamic-shape forms of the movement ops (dynamic_pad, dynamic_iota,
 * dynamic_broadcast_in_dim, dynamic_reshape, real_dynamic_slice): their shapes or paddings are
 * operand values, so their checks are structural (shape operands, ranks, element types) and the
 * interpreter reads the values; the backends refuse dynamic shapes.
 */
import type { Op } from '../ir/core.js';
import { numElements, tensorType, typeToString, type TensorType, type Type } from '../ir/types.js';
import { expectTensor, intAt, size, type RtValue } from '../ir/tensor.js';
import { constraint, defineOp } from './def.js';
import { resultTensorType } from './elementwise.js';
import { broadcast, checkBroadcast, iotaEval, padEval, sliceEval, tt } from './movement.js';
import { RuntimeError } from '../diag/diagnostics.js';

/** A 1-D integer shape-like operand of `n` entries (when `n` is known), else the constraint `id`. */
function shapeOperand(
  op: Op,
  types: readonly Type[],
  i: number,
  n: number | undefined,
  id: string,
  what: string,
): void {
  const t = types[i];
  if (t?.kind !== 'tensor' || t.shape.length !== 1 || t.elem.kind !== 'int')
    constraint(op, id, `${what} must be a 1-d integer tensor${t ? `, got ${typeToString(t)}` : ''}`);
  else if (n !== undefined && t.shape[0]! >= 0 && t.shape[0] !== n)
    constraint(op, id, `${what} has ${t.shape[0]} entries, expected ${n}`);
}

/** The declared result as a tensor type (the dynamic ops take their shapes from operand values). */
function declaredTensor(op: Op): TensorType {
  const r = op.results[0]?.type;
  return r?.kind === 'tensor' ? r : constraint(op, 'result_type', 'the result must be a tensor');
}

const dynamicPad = defineOp({
  name: 'stablehlo.dynamic_pad',
  category: 'movement',
  spec: 'dynamic_pad',
  arity: 5,
  infer: (types, _a, op) => {
    const x = tt(op, types, 0);
    const pv = tt(op, types, 1);
    if (pv.shape.length !== 0 || pv.elem.name !== x.elem.name)
      constraint(op, 'dynamic_pad_c1', `the padding value must be a 0-d ${x.elem.name}, got ${typeToString(pv)}`);
    for (const [i, what] of [
      [2, 'edge_padding_low'],
      [3, 'edge_padding_high'],
      [4, 'interior_padding'],
    ] as const)
      shapeOperand(op, types, i, x.shape.length, 'dynamic_pad_c2', what);
    if (declaredTensor(op).shape.length !== x.shape.length)
      constraint(op, 'dynamic_pad_c4', "the result must have the operand's rank");
    return undefined;
  },
  evaluate: (args, _a, op) => {
    const ints = (v: RtValue | undefined): number[] => {
      const t = expectTensor(v);
      return Array.from({ length: size(t) }, (_, i) => intAt(t, i));
    };
    return [padEval(expectTensor(args[0]), expectTensor(args[1]), ints(args[2]), ints(args[4]), resultTensorType(op))];
  },
});

const dynamicIota = defineOp({
  name: 'stablehlo.dynamic_iota',
  category: 'movement',
  spec: 'dynamic_iota',
  arity: 1,
  attrs: (r) => ({ dim: r.int('iota_dimension') }),
  infer: (types, a, op) => {
    const r = declaredTensor(op);
    shapeOperand(op, types, 0, r.shape.length, 'dynamic_iota_c2', 'output_shape');
    if (a.dim < 0 || a.dim >= r.shape.length)
      constraint(op, 'dynamic_iota_c1', `iota_dimension ${a.dim} outside [0, ${r.shape.length})`);
    return undefined;
  },
  evaluate: (args, a, op) => {
    const shapeT = expectTensor(args[0]);
    const shape = Array.from({ length: size(shapeT) }, (_, i) => intAt(shapeT, i));
    return [iotaEval(tensorType(shape, resultTensorType(op).elem), a.dim)];
  },
});

/** Result shape from a shape operand, checked against the declared type where it is static. */
function shapeFromOperand(v: RtValue | undefined, op: Op): TensorType {
  const t = expectTensor(v);
  const shape = Array.from({ length: size(t) }, (_, i) => intAt(t, i));
  const declared = resultTensorType(op);
  declared.shape.forEach((d, i) => {
    if (d >= 0 && d !== shape[i])
      throw new RuntimeError(
        `shape operand [${shape.join(', ')}] does not match result type ${typeToString(declared)}`,
      );
  });
  return tensorType(shape, declared.elem);
}

const dynamicBroadcastInDim = defineOp({
  name: 'stablehlo.dynamic_broadcast_in_dim',
  category: 'movement',
  spec: 'dynamic_broadcast_in_dim',
  attrs: (r) => ({ dims: r.ints('broadcast_dimensions') }),
  infer: (types, a, op) => {
    checkBroadcast(op, 'dynamic_broadcast_in_dim', tt(op, types, 0), a.dims);
    shapeOperand(op, types, 1, declaredTensor(op).shape.length, 'dynamic_broadcast_in_dim_c7', 'output_dimensions');
    return undefined;
  },
  evaluate: (args, a, op) => [broadcast(expectTensor(args[0]), a.dims, shapeFromOperand(args[1], op))],
});

const dynamicReshape = defineOp({
  name: 'stablehlo.dynamic_reshape',
  category: 'movement',
  spec: 'dynamic_reshape',
  arity: 2,
  infer: (types, _a, op) => {
    const x = tt(op, types, 0);
    const r = declaredTensor(op);
    if (r.elem.name !== x.elem.name)
      constraint(op, 'dynamic_reshape_c1', `result elements ${r.elem.name}, operand ${x.elem.name}`);
    shapeOperand(op, types, 1, r.shape.length, 'dynamic_reshape_c3', 'output_shape');
    if (x.shape.every((d) => d >= 0) && r.shape.every((d) => d >= 0) && numElements(x.shape) !== numElements(r.shape))
      constraint(op, 'dynamic_reshape_c2', `${typeToString(x)} and ${typeToString(r)} differ in element count`);
    return undefined;
  },
  evaluate: (args, _a, op) => {
    const x = expectTensor(args[0]);
    const rt = shapeFromOperand(args[1], op);
    if (numElements(rt.shape) !== size(x))
      throw new RuntimeError(`cannot reshape ${size(x)} elements into ${typeToString(rt)}`);
    return [{ kind: 'tensor', type: rt, data: x.data }];
  },
});

const realDynamicSlice = defineOp({
  name: 'stablehlo.real_dynamic_slice',
  category: 'movement',
  spec: 'real_dynamic_slice',
  arity: 4,
  infer: (types, _a, op) => {
    const x = tt(op, types, 0);
    const r = declaredTensor(op);
    if (r.elem.name !== x.elem.name)
      constraint(op, 'real_dynamic_slice_c1', `result elements ${r.elem.name}, operand ${x.elem.name}`);
    if (r.shape.length !== x.shape.length)
      constraint(op, 'real_dynamic_slice_c1', "the result must have the operand's rank");
    for (const [i, what] of [
      [1, 'start_indices'],
      [2, 'limit_indices'],
      [3, 'strides'],
    ] as const)
      shapeOperand(op, types, i, x.shape.length, 'real_dynamic_slice_c2', what);
    return undefined;
  },
  evaluate: (args, _a, op) => {
    const ints = (v: RtValue | undefined): number[] => {
      const t = expectTensor(v);
      return Array.from({ length: size(t) }, (_, i) => intAt(t, i));
    };
    const [start, limit, st] = [ints(args[1]), ints(args[2]), ints(args[3])];
    const shape = start.map((s, i) => Math.ceil((limit[i]! - s) / st[i]!));
    return [sliceEval(expectTensor(args[0]), start, st, tensorType(shape, resultTensorType(op).elem))];
  },
});

export const DYNAMIC = [dynamicPad, dynamicIota, dynamicBroadcastInDim, dynamicReshape, realDynamicSlice];
