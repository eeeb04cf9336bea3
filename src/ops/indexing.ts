/**
 * @fileoverview Indexed data movement, each a naive loop written from the spec: gather,
 * dynamic_gather and scatter (with the index vector, batching and window dimensions the spec
 * defines). Deliberately independent of any index-map lowering.
 */
import type { TensorType } from '../ir/types.js';
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
import { defineOp } from './def.js';
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
  attrs: (r) => ({ dims: readGatherDims(r), sliceSizes: r.ints('slice_sizes') }),
  evaluate: (args, a, op) => [
    gatherEval(expectTensor(args[0]), expectTensor(args[1]), a.dims, a.sliceSizes, resultTensorType(op)),
  ],
});

const dynamicGather = defineOp({
  name: 'stablehlo.dynamic_gather',
  category: 'movement',
  spec: 'dynamic_gather',
  attrs: (r) => ({ dims: readGatherDims(r) }),
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

export const INDEXING = [gather, dynamicGather, scatter];
