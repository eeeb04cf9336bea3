/**
 * @fileoverview The SPMD partitioner's rules for gather and scatter (partition/spmd.ts calls them
 * with its resharding and emitting steps): which tilings the indexed ops keep.
 */
import type { Attr } from '../ir/attrs.js';
import type { Op, Value } from '../ir/core.js';
import { i64Array as ints } from '../ir/builder.js';
import type { TensorType } from '../ir/types.js';
import { attrsOf } from '../ops/index.js';
import { moved, REPLICATED, type Placement } from './placement.js';

const tensorOf = (v: Value): TensorType => v.type as TensorType;

export type Reshard = (v: Value, want: Placement) => Value;
export type Emit = (operands: Value[], resultPlaces: Placement[], attrs?: Record<string, Attr>) => Value[];
const dimsOf = (v: Value): number[] => [...tensorOf(v).shape.keys()];

/**
 * gather: tiles stay where no slice cuts across them. An operand tiled on a dimension that every
 * slice takes whole and no index addresses gathers each tile's part of every slice (the result
 * tiled on that dimension's offset dimension, the slice size the tile's); indices tiled on a
 * batch dimension gather their own rows of the whole operand (an embedding lookup of a
 * batch-sharded input: the result tiled on the matching batch dimension). Otherwise whole.
 */
export function partitionGather(op: Op, as: Reshard, placeOf: (v: Value) => Placement, emit: Emit): void {
  const { dims: g, sliceSizes } = attrsOf('stablehlo.gather', op);
  const [x, idx] = op.operands as [Value, Value];
  const [px, pi] = [placeOf(x), placeOf(idx)];
  const kept = dimsOf(x).filter((d) => !g.collapsedSliceDims.includes(d) && !g.operandBatchingDims.includes(d));
  if (
    px.kind === 'tiled' &&
    kept.includes(px.dim) &&
    !g.startIndexMap.includes(px.dim) &&
    sliceSizes[px.dim] === tensorOf(x).shape[px.dim]
  ) {
    const local = sliceSizes.map((s, d) => (d === px.dim ? s / px.ways : s));
    emit([as(x, px), as(idx, REPLICATED)], [moved(px, g.offsetDims[kept.indexOf(px.dim)]!)], {
      slice_sizes: ints(local),
    });
    return;
  }
  const batchDims = dimsOf(op.results[0]!).filter((d) => !g.offsetDims.includes(d));
  const indexDims = dimsOf(idx).filter((d) => d !== g.indexVectorDim);
  if (pi.kind === 'tiled' && pi.dim !== g.indexVectorDim && g.operandBatchingDims.length === 0) {
    emit([as(x, REPLICATED), as(idx, pi)], [moved(pi, batchDims[indexDims.indexOf(pi.dim)]!)]);
    return;
  }
  emit([as(x, REPLICATED), as(idx, REPLICATED)], [REPLICATED]);
}

/**
 * scatter (one operand): an operand dimension that no index addresses and every update window
 * covers whole keeps its tiles; each partition scatters its part of every window (the updates
 * tiled on the matching window dimension, the indices whole). Otherwise whole.
 */
export function partitionScatter(op: Op, as: Reshard, placeOf: (v: Value) => Placement, emit: Emit): void {
  const s = attrsOf('stablehlo.scatter', op);
  const [x, idx, upd] = op.operands as [Value, Value, Value];
  const window = dimsOf(x).filter((d) => !s.insertedWindowDims.includes(d) && !s.inputBatchingDims.includes(d));
  const [px, pu] = [placeOf(x), placeOf(upd)];
  const p =
    px.kind === 'tiled' ? px : pu.kind === 'tiled' ? moved(pu, window[s.updateWindowDims.indexOf(pu.dim)] ?? -1) : px;
  const k = p.kind === 'tiled' ? window.indexOf(p.dim) : -1;
  const u = s.updateWindowDims[k];
  if (
    p.kind === 'tiled' &&
    k >= 0 &&
    u !== undefined &&
    !s.scatterDimsToOperandDims.includes(p.dim) &&
    tensorOf(upd).shape[u] === tensorOf(x).shape[p.dim]
  ) {
    emit([as(x, p), as(idx, REPLICATED), as(upd, moved(p, u))], [p]);
    return;
  }
  emit([as(x, REPLICATED), as(idx, REPLICATED), as(upd, REPLICATED)], [REPLICATED]);
}
