/**
 * @fileoverview Indexed data movement, each a naive loop written from the spec: gather,
 * dynamic_gather and scatter (with the index vector, batching and window dimensions the spec
 * defines). Deliberately independent of any index-map lowering.
 */
import type { Op } from '../ir/core.js';
import { sameElem, tensorType, typeToString, type TensorType, type Type } from '../ir/types.js';
import {
  copyElem,
  expectTensor,
  flatIndex,
  forEachIndex,
  intAt,
  makeTensor,
  size,
  strides,
  type Tensor,
} from '../ir/tensor.js';
import { constraint, defineOp } from './def.js';
import { resultTensorType } from './elementwise.js';
import { clampInt, scalarAt } from './movement.js';

export interface GatherDims {
  offsetDims: number[];
  collapsedSliceDims: number[];
  operandBatchingDims: number[];
  startIndicesBatchingDims: number[];
  startIndexMap: number[];
  indexVectorDim: number;
}

function readGatherDims(r: import('../ir/attrs.js').AttrReader): GatherDims {
  const d = r.has('dimension_numbers') ? r.struct('dimension_numbers') : r;
  return {
    offsetDims: d.ints('offset_dims', []),
    collapsedSliceDims: d.ints('collapsed_slice_dims', []),
    operandBatchingDims: d.ints('operand_batching_dims', []),
    startIndicesBatchingDims: d.ints('start_indices_batching_dims', []),
    startIndexMap: d.ints('start_index_map', []),
    indexVectorDim: d.int('index_vector_dim', 0),
  };
}

/** Reads the index vector of `indices` at batch position `batch` (index_vector_dim removed). */
function indexVector(indices: Tensor, batch: readonly number[], ivd: number): number[] {
  const shape = indices.type.shape;
  const st = strides(shape);
  const hasVec = ivd < shape.length;
  const n = hasVec ? shape[ivd]! : 1;
  const out: number[] = [];
  for (let k = 0; k < n; k++) {
    let flat = 0;
    let bi = 0;
    for (let d = 0; d < shape.length; d++) {
      if (hasVec && d === ivd) flat += k * st[d]!;
      else flat += batch[bi++]! * st[d]!;
    }
    out.push(intAt(indices, flat));
  }
  return out;
}

/** The spec's list checks, each failing with the constraint id it names. */
function unique(op: Op, id: string, what: string, xs: readonly number[]): void {
  if (new Set(xs).size !== xs.length) constraint(op, id, `${what} [${xs.join(', ')}] repeats a dimension`);
}
function sorted(op: Op, id: string, what: string, xs: readonly number[]): void {
  if (xs.some((x, i) => i > 0 && x < xs[i - 1]!)) constraint(op, id, `${what} [${xs.join(', ')}] is not sorted`);
}
function inRange(op: Op, id: string, what: string, xs: readonly number[], rank: number): void {
  const bad = xs.find((x) => x < 0 || x >= rank);
  if (bad !== undefined) constraint(op, id, `${what} has dimension ${bad}, outside [0, ${rank})`);
}

/**
 * The index-side constraints gather and scatter share: index_vector_dim, the batching dimension
 * pairs, and the start-index map (`p`: the op's name in constraint ids; `c`: its ids for, in
 * order, index_vector_dim range, batching-dims uniqueness, range, not the index vector, count,
 * sizes, start map size, start map uniqueness with operand batching dims, start map range).
 */
function checkIndexing(
  op: Op,
  p: string,
  c: readonly number[],
  operand: TensorType,
  indices: TensorType,
  opBatching: readonly number[],
  idxBatching: readonly number[],
  startMap: readonly number[],
  ivd: number,
  names: { opBatching: string; idxBatching: string; startMap: string },
): void {
  const ir = indices.shape.length;
  if (ivd < 0 || ivd > ir) constraint(op, `${p}_c${c[0]}`, `index_vector_dim ${ivd} outside [0, ${ir}]`);
  unique(op, `${p}_c${c[1]}`, names.idxBatching, idxBatching);
  inRange(op, `${p}_c${c[2]}`, names.idxBatching, idxBatching, ir);
  if (idxBatching.includes(ivd))
    constraint(op, `${p}_c${c[3]}`, `${names.idxBatching} contains index_vector_dim ${ivd}`);
  if (opBatching.length !== idxBatching.length)
    constraint(op, `${p}_c${c[4]}`, `${names.opBatching} and ${names.idxBatching} differ in length`);
  opBatching.forEach((d, k) => {
    const a = operand.shape[d];
    const b = indices.shape[idxBatching[k]!];
    if (a !== undefined && b !== undefined && a >= 0 && b >= 0 && a !== b)
      constraint(op, `${p}_c${c[5]}`, `batching dimension sizes differ: ${a} and ${b}`);
  });
  const vec = ivd < ir ? indices.shape[ivd]! : 1;
  if (vec >= 0 && startMap.length !== vec)
    constraint(op, `${p}_c${c[6]}`, `${names.startMap} has ${startMap.length} entries for index vectors of ${vec}`);
  unique(op, `${p}_c${c[7]}`, `${names.startMap} with ${names.opBatching}`, [...startMap, ...opBatching]);
  inRange(op, `${p}_c${c[8]}`, names.startMap, startMap, operand.shape.length);
  if (indices.elem.kind !== 'int') constraint(op, `${p}_i2`, `indices must be integers, got ${typeToString(indices)}`);
}

function tensorsOf(types: readonly Type[]): TensorType[] | undefined {
  return types.every((t) => t.kind === 'tensor') ? (types as TensorType[]) : undefined;
}

/** Checks gather's dimension numbers (spec gather C1-C21; dynamic_gather has the same ids) and
 * gives the result shape (C22) when the slice sizes are known. */
function inferGather(
  op: Op,
  p: string,
  operand: TensorType,
  indices: TensorType,
  g: GatherDims,
  sliceSizes: readonly number[] | undefined,
): TensorType | undefined {
  const xr = operand.shape.length;
  if (xr !== g.offsetDims.length + g.collapsedSliceDims.length + g.operandBatchingDims.length)
    constraint(
      op,
      `${p}_c1`,
      `rank ${xr} operand needs offset_dims, collapsed_slice_dims and operand_batching_dims of ${xr} entries in all`,
    );
  checkIndexing(
    op,
    p,
    [2, 13, 14, 15, 16, 17, 3, 18, 19],
    operand,
    indices,
    g.operandBatchingDims,
    g.startIndicesBatchingDims,
    g.startIndexMap,
    g.indexVectorDim,
    {
      opBatching: 'operand_batching_dims',
      idxBatching: 'start_indices_batching_dims',
      startMap: 'start_index_map',
    },
  );
  unique(op, `${p}_c4`, 'offset_dims', g.offsetDims);
  sorted(op, `${p}_c4`, 'offset_dims', g.offsetDims);
  const batchShape = indices.shape.filter((_, d) => d !== g.indexVectorDim);
  const rank = batchShape.length + g.offsetDims.length;
  inRange(op, `${p}_c5`, 'offset_dims', g.offsetDims, rank);
  unique(op, `${p}_c6`, 'collapsed_slice_dims with operand_batching_dims', [
    ...g.collapsedSliceDims,
    ...g.operandBatchingDims,
  ]);
  sorted(op, `${p}_c7`, 'collapsed_slice_dims', g.collapsedSliceDims);
  inRange(op, `${p}_c8`, 'collapsed_slice_dims', g.collapsedSliceDims, xr);
  sorted(op, `${p}_c10`, 'operand_batching_dims', g.operandBatchingDims);
  inRange(op, `${p}_c11`, 'operand_batching_dims', g.operandBatchingDims, xr);
  if (!sliceSizes) return undefined;
  g.collapsedSliceDims.forEach((d) => {
    if (sliceSizes[d]! > 1) constraint(op, `${p}_c9`, `slice_sizes[${d}] = ${sliceSizes[d]} for a collapsed dimension`);
  });
  g.operandBatchingDims.forEach((d) => {
    if (sliceSizes[d]! > 1) constraint(op, `${p}_c12`, `slice_sizes[${d}] = ${sliceSizes[d]} for a batching dimension`);
  });
  if (sliceSizes.length !== xr)
    constraint(op, `${p}_c20`, `slice_sizes has ${sliceSizes.length} entries for a rank-${xr} operand`);
  sliceSizes.forEach((n, d) => {
    if (n < 0 || (operand.shape[d]! >= 0 && n > operand.shape[d]!))
      constraint(op, `${p}_c21`, `slice_sizes[${d}] = ${n} outside [0, ${operand.shape[d]}]`);
  });
  const offsetSizes = sliceSizes.filter(
    (_, d) => !g.collapsedSliceDims.includes(d) && !g.operandBatchingDims.includes(d),
  );
  const shape: number[] = [];
  let b = 0;
  let o = 0;
  for (let d = 0; d < rank; d++) shape.push(g.offsetDims.includes(d) ? offsetSizes[o++]! : batchShape[b++]!);
  return tensorType(shape, operand.elem);
}

function gatherEval(x: Tensor, indices: Tensor, g: GatherDims, sliceSizes: readonly number[], rt: TensorType): Tensor {
  const out = makeTensor(rt);
  const rank = rt.shape.length;
  const batchDims = [...Array(rank).keys()].filter((d) => !g.offsetDims.includes(d));
  const xs = strides(x.type.shape);
  const xr = x.type.shape.length;
  const offsetOperandDims = [...Array(xr).keys()].filter(
    (d) => !g.collapsedSliceDims.includes(d) && !g.operandBatchingDims.includes(d),
  );
  forEachIndex(rt.shape, (idx, flat) => {
    const batch = batchDims.map((d) => idx[d]!);
    const start = indexVector(indices, batch, g.indexVectorDim);
    const full = new Array<number>(xr).fill(0);
    g.startIndexMap.forEach((od, k) => {
      full[od] = clampInt(start[k]!, 0, x.type.shape[od]! - sliceSizes[od]!);
    });
    g.operandBatchingDims.forEach((od, k) => {
      const ds = g.startIndicesBatchingDims[k]!;
      full[od] = full[od]! + batch[ds < g.indexVectorDim ? ds : ds - 1]!;
    });
    g.offsetDims.forEach((rd, k) => {
      const od = offsetOperandDims[k]!;
      full[od] = full[od]! + idx[rd]!;
    });
    copyElem(out, flat, x, flatIndex(full, xs));
  });
  return out;
}

const gather = defineOp({
  name: 'stablehlo.gather',
  category: 'movement',
  spec: 'gather',
  arity: 2,
  attrs: (r) => ({ dims: readGatherDims(r), sliceSizes: r.ints('slice_sizes') }),
  infer: (types, a, op) => {
    const [x, idx] = tensorsOf(types) ?? [];
    if (!x || !idx) return undefined;
    const t = inferGather(op, 'gather', x, idx, a.dims, a.sliceSizes);
    return t && [t];
  },
  evaluate: (args, a, op) => [
    gatherEval(expectTensor(args[0]), expectTensor(args[1]), a.dims, a.sliceSizes, resultTensorType(op)),
  ],
});

const dynamicGather = defineOp({
  name: 'stablehlo.dynamic_gather',
  category: 'movement',
  spec: 'dynamic_gather',
  arity: 3,
  attrs: (r) => ({ dims: readGatherDims(r) }),
  infer: (types, a, op) => {
    const [x, idx] = tensorsOf(types) ?? [];
    if (x && idx) inferGather(op, 'dynamic_gather', x, idx, a.dims, undefined);
    return undefined; // the slice sizes are an operand
  },
  evaluate: (args, a, op) => {
    const s = expectTensor(args[2]);
    const sizes = Array.from({ length: size(s) }, (_, i) => intAt(s, i));
    return [gatherEval(expectTensor(args[0]), expectTensor(args[1]), a.dims, sizes, resultTensorType(op))];
  },
});

export interface ScatterDims {
  updateWindowDims: number[];
  insertedWindowDims: number[];
  inputBatchingDims: number[];
  scatterIndicesBatchingDims: number[];
  scatterDimsToOperandDims: number[];
  indexVectorDim: number;
}

const scatter = defineOp({
  name: 'stablehlo.scatter',
  category: 'movement',
  spec: 'scatter',
  attrs: (r): ScatterDims => {
    const d = r.has('scatter_dimension_numbers') ? r.struct('scatter_dimension_numbers') : r;
    return {
      updateWindowDims: d.ints('update_window_dims', []),
      insertedWindowDims: d.ints('inserted_window_dims', []),
      inputBatchingDims: d.ints('input_batching_dims', []),
      scatterIndicesBatchingDims: d.ints('scatter_indices_batching_dims', []),
      scatterDimsToOperandDims: d.ints('scatter_dims_to_operand_dims', []),
      indexVectorDim: d.int('index_vector_dim', 0),
    };
  },
  infer: (types, s, op) => inferScatter(types, s, op),
  evaluate: (args, s, op, ctx) => {
    const n = (args.length - 1) / 2;
    const inputs = args.slice(0, n).map((v) => expectTensor(v));
    const indices = expectTensor(args[n]);
    const updates = args.slice(n + 1).map((v) => expectTensor(v));
    const results = inputs.map((x, i) => {
      const out = makeTensor(resultTensorType(op, i));
      for (let k = 0; k < size(x); k++) copyElem(out, k, x, k);
      return out;
    });
    const x0 = inputs[0]!;
    const xr = x0.type.shape.length;
    const xs = strides(x0.type.shape);
    const ushape = updates[0]!.type.shape;
    const scatterDims = [...Array(ushape.length).keys()].filter((d) => !s.updateWindowDims.includes(d));
    const windowOperandDims = [...Array(xr).keys()].filter(
      (d) => !s.insertedWindowDims.includes(d) && !s.inputBatchingDims.includes(d),
    );
    const body = op.regions[0]!;
    forEachIndex(ushape, (idx, flat) => {
      const batch = scatterDims.map((d) => idx[d]!);
      const start = indexVector(indices, batch, s.indexVectorDim);
      const full = new Array<number>(xr).fill(0);
      s.scatterDimsToOperandDims.forEach((od, k) => {
        full[od] = start[k]!;
      });
      s.inputBatchingDims.forEach((od, k) => {
        const ds = s.scatterIndicesBatchingDims[k]!;
        full[od] = full[od]! + batch[ds < s.indexVectorDim ? ds : ds - 1]!;
      });
      s.updateWindowDims.forEach((ud, k) => {
        const od = windowOperandDims[k]!;
        full[od] = full[od]! + idx[ud]!;
      });
      if (full.some((v, d) => v < 0 || v >= x0.type.shape[d]!)) return;
      const dst = flatIndex(full, xs);
      const cur = results.map((r) => scalarAt(r, dst));
      const upd = updates.map((u) => scalarAt(u, flat));
      const res = ctx.runRegion(body, [...cur, ...upd]);
      results.forEach((r, i) => copyElem(r, dst, expectTensor(res[i]), 0));
    });
    return results;
  },
});

/** Scatter's constraints (spec scatter C1-C22, C24, C25); the results have the inputs' types. */
function inferScatter(types: readonly Type[], s: ScatterDims, op: Op): Type[] | undefined {
  const ts = tensorsOf(types);
  if (!ts) return undefined;
  if (ts.length % 2 !== 1 || ts.length < 3)
    constraint(op, 'scatter_c5', `N inputs, indices, N updates expected (${ts.length} operands)`);
  const n = (ts.length - 1) / 2;
  const inputs = ts.slice(0, n);
  const indices = ts[n]!;
  const updates = ts.slice(n + 1);
  const x = inputs[0]!;
  const xr = x.shape.length;
  if (inputs.some((t) => t.shape.join() !== x.shape.join())) constraint(op, 'scatter_c1', 'inputs of different shapes');
  if (xr !== s.updateWindowDims.length + s.insertedWindowDims.length + s.inputBatchingDims.length)
    constraint(
      op,
      'scatter_c2',
      `rank ${xr} inputs need update_window_dims, inserted_window_dims and input_batching_dims of ${xr} entries in all`,
    );
  const u = updates[0]!;
  if (updates.some((t) => t.shape.join() !== u.shape.join()))
    constraint(op, 'scatter_c3', 'updates of different shapes');
  updates.forEach((t, i) => {
    if (!sameElem(t.elem, inputs[i]!.elem))
      constraint(op, 'scatter_c6', `update ${i} has element type ${t.elem.name}, input ${inputs[i]!.elem.name}`);
  });
  unique(op, 'scatter_c7', 'update_window_dims', s.updateWindowDims);
  sorted(op, 'scatter_c7', 'update_window_dims', s.updateWindowDims);
  inRange(op, 'scatter_c8', 'update_window_dims', s.updateWindowDims, u.shape.length);
  unique(op, 'scatter_c9', 'inserted_window_dims with input_batching_dims', [
    ...s.insertedWindowDims,
    ...s.inputBatchingDims,
  ]);
  sorted(op, 'scatter_c10', 'inserted_window_dims', s.insertedWindowDims);
  inRange(op, 'scatter_c11', 'inserted_window_dims', s.insertedWindowDims, xr);
  sorted(op, 'scatter_c12', 'input_batching_dims', s.inputBatchingDims);
  inRange(op, 'scatter_c13', 'input_batching_dims', s.inputBatchingDims, xr);
  checkIndexing(
    op,
    'scatter',
    [22, 14, 15, 16, 17, 18, 19, 20, 21],
    x,
    indices,
    s.inputBatchingDims,
    s.scatterIndicesBatchingDims,
    s.scatterDimsToOperandDims,
    s.indexVectorDim,
    {
      opBatching: 'input_batching_dims',
      idxBatching: 'scatter_indices_batching_dims',
      startMap: 'scatter_dims_to_operand_dims',
    },
  );
  // C4: the updates' shape: scatter dimensions from the indices, window dimensions within the input's.
  const scatterSizes = indices.shape.filter((_, d) => d !== s.indexVectorDim);
  const windowBounds = x.shape.filter((_, d) => !s.insertedWindowDims.includes(d) && !s.inputBatchingDims.includes(d));
  if (u.shape.length !== scatterSizes.length + s.updateWindowDims.length)
    constraint(
      op,
      'scatter_c4',
      `updates of rank ${u.shape.length}, expected ${scatterSizes.length + s.updateWindowDims.length}`,
    );
  let sd = 0;
  let wd = 0;
  u.shape.forEach((n, d) => {
    if (s.updateWindowDims.includes(d)) {
      const bound = windowBounds[wd++]!;
      if (n >= 0 && bound >= 0 && n > bound)
        constraint(op, 'scatter_c4', `update window dimension ${d} of ${n} exceeds ${bound}`);
    } else {
      const want = scatterSizes[sd++]!;
      if (n >= 0 && want >= 0 && n !== want)
        constraint(op, 'scatter_c4', `update scatter dimension ${d} of ${n}, the indices give ${want}`);
    }
  });
  return inputs;
}

export const INDEXING = [gather, dynamicGather, scatter];
