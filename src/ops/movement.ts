/**
 * @fileoverview Data-movement ops, each a naive loop over result (or operand) indices written
 * from the spec: broadcast_in_dim, transpose, reshape, slice, dynamic_slice,
 * dynamic_update_slice, concatenate, pad, reverse, iota (their dynamic_* forms are dynamic.ts's,
 * gather and scatter indexing.ts's). Deliberately independent of any index-map lowering.
 */
import type { Op } from '../ir/core.js';
import { numElements, tensorType, typeToString, type TensorType, type Type } from '../ir/types.js';
import {
  copyElem,
  expectTensor,
  forEachIndex,
  intAt,
  makeTensor,
  setElem,
  size,
  strides,
  type RtValue,
  type Tensor,
} from '../ir/tensor.js';
import { mayUpdateInPlace } from './in-place.js';
import { checkDims, constraint, defineOp } from './def.js';
import { resultTensorType } from './elementwise.js';
import { RuntimeError } from '../diag/diagnostics.js';

export function tt(op: Op, types: readonly Type[], i: number): TensorType {
  const t = types[i];
  if (!t || t.kind !== 'tensor')
    return constraint(op, 'operand_type', `operand #${i} must be a tensor${t ? `, got ${typeToString(t)}` : ''}`);
  return t;
}

/** broadcast_in_dim's constraints on the dimensions (dynamic_broadcast_in_dim has the same ids). */
export function checkBroadcast(op: Op, p: string, x: TensorType, dims: readonly number[]): void {
  const r = op.results[0]?.type;
  if (dims.length !== x.shape.length)
    constraint(op, `${p}_c2`, `broadcast_dimensions has ${dims.length} entries, operand rank is ${x.shape.length}`);
  if (new Set(dims).size !== dims.length)
    constraint(op, `${p}_c4`, `broadcast_dimensions [${dims.join(', ')}] repeats`);
  if (r?.kind !== 'tensor') return;
  if (r.elem.name !== x.elem.name && x.elem.kind !== 'quant')
    constraint(op, `${p}_c1`, `result elements ${r.elem.name}, operand ${x.elem.name}`);
  dims.forEach((d, i) => {
    if (d < 0 || d >= r.shape.length)
      constraint(op, `${p}_c3`, `broadcast dimension ${d} out of range for result rank ${r.shape.length}`);
    const od = x.shape[i]!;
    if (od !== 1 && od >= 0 && r.shape[d]! >= 0 && od !== r.shape[d])
      constraint(op, `${p}_c5`, `operand dim ${i} (${od}) does not match result dim ${d} (${r.shape[d]})`);
  });
}

function isPermutation(p: readonly number[], n: number): boolean {
  return p.length === n && [...p].sort((a, b) => a - b).every((v, i) => v === i);
}

const broadcastInDim = defineOp({
  name: 'stablehlo.broadcast_in_dim',
  category: 'movement',
  spec: 'broadcast_in_dim',
  attrs: (r) => ({ dims: r.ints('broadcast_dimensions') }),
  infer: (types, a, op) => {
    checkBroadcast(op, 'broadcast_in_dim', tt(op, types, 0), a.dims);
    return undefined;
  },
  evaluate: (args, a, op) => [broadcast(expectTensor(args[0]), a.dims, resultTensorType(op))],
});

export function broadcast(x: Tensor, dims: readonly number[], rt: TensorType): Tensor {
  const out = makeTensor(rt);
  const xs = strides(x.type.shape);
  // The operand's stride along each result dimension (0 where the result repeats it).
  const srcStride = rt.shape.map(() => 0);
  dims.forEach((d, i) => (srcStride[d] = x.type.shape[i] === 1 ? 0 : xs[i]!));
  forEachIndex(rt.shape, (idx, flat) => {
    let src = 0;
    for (let d = 0; d < idx.length; d++) src += idx[d]! * srcStride[d]!;
    copyElem(out, flat, x, src);
  });
  return out;
}

const transpose = defineOp({
  name: 'stablehlo.transpose',
  category: 'movement',
  spec: 'transpose',
  attrs: (r) => ({ perm: r.ints('permutation') }),
  infer: (types, a, op) => {
    const x = tt(op, types, 0);
    if (!isPermutation(a.perm, x.shape.length))
      constraint(
        op,
        'transpose_c2',
        `permutation [${a.perm.join(', ')}] is not a permutation of the ${x.shape.length} operand dims`,
      );
    return [
      tensorType(
        a.perm.map((p) => x.shape[p]!),
        x.elem,
      ),
    ];
  },
  evaluate: (args, a, op) => {
    const x = expectTensor(args[0]);
    const out = makeTensor(resultTensorType(op));
    const xs = strides(x.type.shape);
    forEachIndex(out.type.shape, (idx, flat) => {
      let src = 0;
      for (let i = 0; i < a.perm.length; i++) src += idx[i]! * xs[a.perm[i]!]!;
      copyElem(out, flat, x, src);
    });
    return [out];
  },
});

function reshapeEval(args: readonly RtValue[], op: Op): RtValue[] {
  const x = expectTensor(args[0]);
  const rt = resultTensorType(op);
  if (numElements(rt.shape) !== size(x))
    throw new RuntimeError(`cannot reshape ${size(x)} elements into ${typeToString(rt)}`);
  return [{ kind: 'tensor', type: rt, data: x.data }];
}

const reshape = defineOp({
  name: 'stablehlo.reshape',
  category: 'movement',
  spec: 'reshape',
  infer: (types, _a, op) => {
    const x = tt(op, types, 0);
    const r = op.results[0]?.type;
    if (
      r?.kind === 'tensor' &&
      r.shape.every((d) => d >= 0) &&
      x.shape.every((d) => d >= 0) &&
      numElements(r.shape) !== numElements(x.shape)
    )
      constraint(op, 'reshape_c1', `operand has ${numElements(x.shape)} elements, result ${numElements(r.shape)}`);
    return undefined;
  },
  evaluate: (args, _a, op) => reshapeEval(args, op),
});

export function sliceEval(x: Tensor, start: readonly number[], st: readonly number[], rt: TensorType): Tensor {
  const out = makeTensor(rt);
  const xs = strides(x.type.shape);
  forEachIndex(rt.shape, (idx, flat) => {
    let src = 0;
    for (let i = 0; i < idx.length; i++) src += (start[i]! + idx[i]! * st[i]!) * xs[i]!;
    copyElem(out, flat, x, src);
  });
  return out;
}

const slice = defineOp({
  name: 'stablehlo.slice',
  category: 'movement',
  spec: 'slice',
  attrs: (r) => ({ start: r.ints('start_indices'), limit: r.ints('limit_indices'), strides: r.ints('strides', []) }),
  infer: (types, a, op) => {
    const x = tt(op, types, 0);
    const st = a.strides.length ? a.strides : a.start.map(() => 1);
    if (a.start.length !== x.shape.length || a.limit.length !== x.shape.length)
      constraint(op, 'slice_c2', 'start/limit indices must have one entry per operand dim');
    const shape = a.start.map((s, i) => {
      const l = a.limit[i]!;
      if (s < 0 || s > l || (x.shape[i]! >= 0 && l > x.shape[i]!))
        constraint(op, 'slice_c3', `bad slice [${s}:${l}] of dim ${i} (size ${x.shape[i]})`);
      if (st[i]! <= 0) constraint(op, 'slice_c4', 'strides must be positive');
      return Math.ceil((l - s) / st[i]!);
    });
    return [tensorType(shape, x.elem)];
  },
  evaluate: (args, a, op) => [
    sliceEval(
      expectTensor(args[0]),
      a.start,
      a.strides.length ? a.strides : a.start.map(() => 1),
      resultTensorType(op),
    ),
  ],
});

/** v clamped to [lo, hi] (dynamic start indices, as the spec clamps them). */
export function clampInt(v: number, lo: number, hi: number): number {
  return Math.min(Math.max(v, lo), hi);
}

const dynamicSlice = defineOp({
  name: 'stablehlo.dynamic_slice',
  category: 'movement',
  spec: 'dynamic_slice',
  attrs: (r) => ({ sizes: r.ints('slice_sizes') }),
  infer: (types, a, op) => {
    const x = types[0];
    if (x?.kind !== 'tensor') return undefined;
    if (types.length !== 1 + x.shape.length)
      constraint(op, 'dynamic_slice_c2', `${x.shape.length} start indices expected, got ${types.length - 1}`);
    if (a.sizes.length !== x.shape.length)
      constraint(
        op,
        'dynamic_slice_c3',
        `slice_sizes has ${a.sizes.length} entries for a rank-${x.shape.length} operand`,
      );
    a.sizes.forEach((n, d) => {
      if (n < 0 || (x.shape[d]! >= 0 && n > x.shape[d]!))
        constraint(op, 'dynamic_slice_c4', `slice_sizes[${d}] = ${n} outside [0, ${x.shape[d]}]`);
    });
    for (const t of types.slice(1))
      if (t.kind !== 'tensor' || t.shape.length !== 0 || (t.elem.kind !== 'int' && t.elem.kind !== 'bool'))
        constraint(op, 'dynamic_slice_c5', `start indices must be 0-d integer tensors, got ${typeToString(t)}`);
    return [tensorType(a.sizes, x.elem)];
  },
  evaluate: (args, a, op) => {
    const x = expectTensor(args[0]);
    const start = args.slice(1).map((s, i) => clampInt(intAt(expectTensor(s), 0), 0, x.type.shape[i]! - a.sizes[i]!));
    return [
      sliceEval(
        x,
        start,
        start.map(() => 1),
        resultTensorType(op),
      ),
    ];
  },
});

const dynamicUpdateSlice = defineOp({
  name: 'stablehlo.dynamic_update_slice',
  category: 'movement',
  spec: 'dynamic_update_slice',
  infer: (types, _a, op) => {
    const [x, upd] = [tt(op, types, 0), tt(op, types, 1)];
    const starts = types.slice(2).map((_, i) => tt(op, types, i + 2));
    if (upd.elem.name !== x.elem.name)
      constraint(
        op,
        'dynamic_update_slice_c2',
        `update element type ${upd.elem.name} differs from the operand's ${x.elem.name}`,
      );
    if (upd.shape.length !== x.shape.length)
      constraint(
        op,
        'dynamic_update_slice_c3',
        `update rank ${upd.shape.length} differs from the operand's ${x.shape.length}`,
      );
    if (starts.length !== x.shape.length)
      constraint(op, 'dynamic_update_slice_c4', `${starts.length} start indices for a rank-${x.shape.length} operand`);
    if (starts.some((s) => s.shape.length !== 0 || s.elem.kind !== 'int' || s.elem.name !== starts[0]!.elem.name))
      constraint(op, 'dynamic_update_slice_c5', 'start indices must be 0-d tensors of one integer type');
    // Dynamic dims (-1) are checked when the program runs.
    if (upd.shape.some((d, i) => d >= 0 && x.shape[i]! >= 0 && d > x.shape[i]!))
      constraint(
        op,
        'dynamic_update_slice_c6',
        `update shape [${upd.shape.join(', ')}] does not fit the operand's [${x.shape.join(', ')}]`,
      );
    return [x];
  },
  evaluate: (args, _a, op) => {
    const x = expectTensor(args[0]);
    const upd = expectTensor(args[1]);
    const start = args
      .slice(2)
      .map((s, i) => clampInt(intAt(expectTensor(s), 0), 0, x.type.shape[i]! - upd.type.shape[i]!));
    // A loop's carried tensor whose old value nobody reads again is updated where it is.
    const inPlace = mayUpdateInPlace(op, x);
    const out = inPlace ? x : makeTensor(resultTensorType(op));
    if (!inPlace) for (let i = 0; i < size(x); i++) copyElem(out, i, x, i);
    const os = strides(x.type.shape);
    forEachIndex(upd.type.shape, (idx, flat) => {
      let dst = 0;
      for (let i = 0; i < idx.length; i++) dst += (start[i]! + idx[i]!) * os[i]!;
      copyElem(out, dst, upd, flat);
    });
    return [out];
  },
});

const concatenate = defineOp({
  name: 'stablehlo.concatenate',
  category: 'movement',
  spec: 'concatenate',
  attrs: (r) => ({ dim: r.int('dimension') }),
  infer: (types, a, op) => {
    const ts = types.map((_, i) => tt(op, types, i));
    const first = ts[0];
    if (!first) return constraint(op, 'concatenate_c1', 'needs at least one operand');
    if (a.dim < 0 || a.dim >= first.shape.length)
      constraint(op, 'concatenate_c4', `dimension ${a.dim} out of range for rank ${first.shape.length}`);
    for (const t of ts) {
      if (t.shape.length !== first.shape.length) constraint(op, 'concatenate_c2', 'operands must have the same rank');
      t.shape.forEach((d, i) => {
        if (i !== a.dim && d !== first.shape[i])
          constraint(op, 'concatenate_c2', `operand shapes differ outside dimension ${a.dim}`);
      });
    }
    const shape = [...first.shape];
    shape[a.dim] = ts.reduce((n, t) => n + t.shape[a.dim]!, 0);
    return [tensorType(shape, first.elem)];
  },
  evaluate: (args, a, op) => [
    concatTensors(
      args.map((x) => expectTensor(x)),
      a.dim,
      resultTensorType(op),
    ),
  ],
});

/** Concatenates same-rank tensors along `dim` into a tensor of type `rt`. */
export function concatTensors(parts: readonly Tensor[], dim: number, rt: TensorType): Tensor {
  const out = makeTensor(rt);
  const os = strides(rt.shape);
  let offset = 0;
  for (const x of parts) {
    forEachIndex(x.type.shape, (idx, flat) => {
      let dst = 0;
      for (let i = 0; i < idx.length; i++) dst += (i === dim ? idx[i]! + offset : idx[i]!) * os[i]!;
      copyElem(out, dst, x, flat);
    });
    offset += x.type.shape[dim]!;
  }
  return out;
}

export function padEval(
  x: Tensor,
  pv: Tensor,
  low: readonly number[],
  interior: readonly number[],
  rt: TensorType,
): Tensor {
  const out = makeTensor(rt);
  for (let i = 0; i < size(out); i++) copyElem(out, i, pv, 0);
  const os = strides(rt.shape);
  forEachIndex(x.type.shape, (idx, flat) => {
    let dst = 0;
    for (let i = 0; i < idx.length; i++) {
      const p = low[i]! + idx[i]! * (interior[i]! + 1);
      if (p < 0 || p >= rt.shape[i]!) return;
      dst += p * os[i]!;
    }
    copyElem(out, dst, x, flat);
  });
  return out;
}

const pad = defineOp({
  name: 'stablehlo.pad',
  category: 'movement',
  spec: 'pad',
  attrs: (r) => ({
    low: r.ints('edge_padding_low'),
    high: r.ints('edge_padding_high'),
    interior: r.ints('interior_padding'),
  }),
  infer: (types, a, op) => {
    const x = tt(op, types, 0);
    const pv = tt(op, types, 1);
    if (pv.shape.length !== 0 || pv.elem.name !== x.elem.name)
      constraint(op, 'pad_c1', `the padding value must be a 0-d ${x.elem.name}, got ${typeToString(pv)}`);
    const rank = x.shape.length;
    if (a.low.length !== rank || a.high.length !== rank || a.interior.length !== rank)
      constraint(op, 'pad_c2', `edge and interior paddings need ${rank} entries each`);
    if (a.interior.some((v) => v < 0)) constraint(op, 'pad_c3', 'interior padding must be non-negative');
    const shape = x.shape.map((d, i) =>
      d < 0 ? -1 : a.low[i]! + d + Math.max(d - 1, 0) * a.interior[i]! + a.high[i]!,
    );
    shape.forEach((n, i) => {
      if (n < 0 && x.shape[i]! >= 0) constraint(op, 'pad_c4', `dimension ${i} is padded to ${n} elements`);
    });
    return [tensorType(shape, x.elem)];
  },
  evaluate: (args, a, op) => [
    padEval(expectTensor(args[0]), expectTensor(args[1]), a.low, a.interior, resultTensorType(op)),
  ],
});

const reverse = defineOp({
  name: 'stablehlo.reverse',
  category: 'movement',
  spec: 'reverse',
  arity: 1,
  attrs: (r) => ({ dims: r.ints('dimensions') }),
  infer: (types, a, op) => {
    const x = tt(op, types, 0);
    checkDims(op, a.dims, x.shape.length, 'reverse_c3', 'reverse_c2');
    return [x];
  },
  evaluate: (args, a, op) => {
    const x = expectTensor(args[0]);
    const out = makeTensor(resultTensorType(op));
    const xs = strides(x.type.shape);
    forEachIndex(out.type.shape, (idx, flat) => {
      let src = 0;
      for (let i = 0; i < idx.length; i++)
        src += (a.dims.includes(i) ? x.type.shape[i]! - 1 - idx[i]! : idx[i]!) * xs[i]!;
      copyElem(out, flat, x, src);
    });
    return [out];
  },
});

export function iotaEval(rt: TensorType, dim: number): Tensor {
  const out = makeTensor(rt);
  const isInt = rt.elem.kind === 'int';
  forEachIndex(rt.shape, (idx, flat) => {
    const v = idx[dim]!;
    if (rt.elem.kind === 'complex') setElem(out, flat, [v, 0]);
    else setElem(out, flat, isInt ? BigInt(v) : v);
  });
  return out;
}

const iota = defineOp({
  name: 'stablehlo.iota',
  category: 'movement',
  spec: 'iota',
  attrs: (r) => ({ dim: r.int('iota_dimension') }),
  infer: (_t, a, op) => {
    const r = op.results[0]?.type;
    if (r?.kind === 'tensor' && (a.dim < 0 || a.dim >= r.shape.length))
      constraint(op, 'iota_c1', `iota_dimension ${a.dim} out of range for rank ${r.shape.length}`);
    return undefined;
  },
  evaluate: (_args, a, op) => [iotaEval(resultTensorType(op), a.dim)],
});

const getDimensionSize = defineOp({
  name: 'stablehlo.get_dimension_size',
  category: 'movement',
  spec: 'get_dimension_size',
  arity: 1,
  attrs: (r) => ({ dim: r.int('dimension') }),
  infer: (types, a, op) => {
    checkDims(op, [a.dim], tt(op, types, 0).shape.length, 'get_dimension_size_c1');
    // The spec's result is tensor<i32>; older exports write tensor<i64>: any 0-d integer is accepted.
    const declared = op.results[0]?.type;
    if (declared?.kind !== 'tensor' || declared.shape.length !== 0 || declared.elem.kind !== 'int')
      constraint(op, 'get_dimension_size_c1', 'the result must be a 0-d integer tensor');
    return [declared];
  },
  evaluate: (args, a, op) => {
    const out = makeTensor(resultTensorType(op));
    setElem(out, 0, BigInt(expectTensor(args[0]).type.shape[a.dim]!));
    return [out];
  },
});

/** Element i of t as a rank-0 tensor (region arguments of reduce/scatter/sort bodies). */
export function scalarAt(t: Tensor, i: number): Tensor {
  const out = makeTensor(tensorType([], t.type.elem));
  copyElem(out, 0, t, i);
  return out;
}

export const MOVEMENT = [
  broadcastInDim,
  transpose,
  reshape,
  slice,
  dynamicSlice,
  dynamicUpdateSlice,
  concatenate,
  pad,
  reverse,
  iota,
  getDimensionSize,
];
