/**
 * @fileoverview Lowerings that move elements: broadcast, transpose, slice, reverse, iota,
 * concatenate, pad, the dynamic slices, gather and scatter. Each output element is written once
 * at its computed linear index (scatter combines into its destination in update order).
 */
import type { Region } from '../ir/core.js';
import { strides } from '../ir/tensor.js';
import { and, flatLoop, ge, lt, nest, type Stmt } from './ir.js';
import { add, int, linear, mul, sub, v, type Idx } from '../ir/index-expr.js';
import { combineInto, guarded, type IRLowering, type KernelBuild, type TensorBuf } from './build.js';

// ---- movement ----------------------------------------------------------------------------------------

/** out[idx] = x[source(idx)] over the output's index space. */
function gatherFrom(source: (k: KernelBuild, idx: Idx[], xs: number[]) => Idx): IRLowering {
  return (k) => {
    const [x, out] = [k.ins[0]!, k.outs[0]!];
    const xs = strides(x.t.shape);
    const os = strides(out.t.shape);
    return nest(out.t.shape, (idx) => [{ k: 'move', buf: out, at: linear(idx, os), src: x, from: source(k, idx, xs) }]);
  };
}

const broadcastIndex = (k: KernelBuild, idx: Idx[], xs: number[]): Idx => {
  const dims = k.attrsOf('stablehlo.broadcast_in_dim').dims;
  return add(...dims.map((d, i) => mul(idx[d]!, k.ins[0]!.t.shape[i] === 1 ? 0 : xs[i]!)));
};

const transpose = gatherFrom((k, idx, xs) =>
  add(...k.attrsOf('stablehlo.transpose').perm.map((p, i) => mul(idx[i]!, xs[p]!))),
);

const slice = gatherFrom((k, idx, xs) => {
  const a = k.attrsOf('stablehlo.slice');
  return add(
    ...idx.map((x, i) => mul(x, xs[i]! * (a.strides[i] ?? 1))),
    int(a.start.reduce((s, x, i) => s + x * xs[i]!, 0)),
  );
});

const reverse = gatherFrom((k, idx, xs) => {
  const dims = k.attrsOf('stablehlo.reverse').dims;
  return add(...idx.map((x, i) => mul(dims.includes(i) ? sub(int(k.ins[0]!.t.shape[i]! - 1), x) : x, xs[i]!)));
});

export const iota: IRLowering = (k) => {
  const out = k.outs[k.outs.length - 1]!;
  const dim = (
    k.fop.op.name === 'stablehlo.dynamic_iota' ? k.attrsOf('stablehlo.dynamic_iota') : k.attrsOf('stablehlo.iota')
  ).dim;
  const os = strides(out.t.shape);
  return nest(out.t.shape, (idx) => [
    { k: 'store', buf: out, at: linear(idx, os), value: { k: 'index', x: idx[dim]!, elem: out.elem } },
  ]);
};

const concatenate: IRLowering = (k) => {
  const out = k.outs[0]!;
  const dim = k.attrsOf('stablehlo.concatenate').dim;
  const os = strides(out.t.shape);
  let offset = 0;
  return k.ins.flatMap((x) => {
    const at = offset;
    offset += x.t.shape[dim]!;
    return [
      { k: 'comment', text: `operand ${x.name} at offset ${at} along dimension ${dim}` } as Stmt,
      ...nest(x.t.shape, (idx) => [
        { k: 'move', buf: out, at: linear(idx, os, at * os[dim]!), src: x, from: linear(idx, strides(x.t.shape)) },
      ]),
    ];
  });
};

const pad: IRLowering = (k) => {
  const [x, pv, out] = [k.ins[0]!, k.ins[1]!, k.outs[0]!];
  const a = k.attrsOf('stablehlo.pad');
  const os = strides(out.t.shape);
  const xs = strides(x.t.shape);
  const fill = flatLoop(out.elements, (i) => [{ k: 'move', buf: out, at: i, src: pv, from: int(0) }]);
  // Only bounds the static shapes do not prove are tested (negative padding crops).
  const place = nest(x.t.shape, (idx) => {
    const p = idx.map((i, d) => add(int(a.low[d]!), mul(i, a.interior[d]! + 1)));
    const last = (d: number): number => a.low[d]! + (x.t.shape[d]! - 1) * (a.interior[d]! + 1);
    const inside = p.flatMap((pd, d) => [
      ...(a.low[d]! < 0 ? [ge(pd, 0)] : []),
      ...(last(d) >= out.t.shape[d]! ? [lt(pd, out.t.shape[d]!)] : []),
    ]);
    return guarded(inside, [{ k: 'move', buf: out, at: linear(p, os), src: x, from: linear(idx, xs) }]);
  });
  return [...fill, ...place];
};

/** `const int64_t s<d> = clamp(start_d, 0, limit_d)` for dynamic starts read from operands. */
function clampedStarts(
  k: KernelBuild,
  starts: readonly TensorBuf[],
  limits: readonly number[],
): { decls: Stmt[]; at: Idx[] } {
  const decls: Stmt[] = starts.map((s, d) => ({
    k: 'index',
    name: `s${d}`,
    value: { k: 'clamp', x: { k: 'read', buf: s, at: int(0) }, lo: 0, hi: limits[d]! },
  }));
  return { decls, at: starts.map((_, d) => v(`s${d}`)) };
}

const dynamicSlice: IRLowering = (k) => {
  const [x, out] = [k.ins[0]!, k.outs[0]!];
  const s = clampedStarts(
    k,
    k.ins.slice(1),
    x.t.shape.map((n, d) => n - out.t.shape[d]!),
  );
  const [xs, os] = [strides(x.t.shape), strides(out.t.shape)];
  return [
    ...s.decls,
    ...nest(out.t.shape, (idx) => [
      {
        k: 'move',
        buf: out,
        at: linear(idx, os),
        src: x,
        from: linear(
          idx.map((i, d) => add(s.at[d]!, i)),
          xs,
        ),
      },
    ]),
  ];
};

const dynamicUpdateSlice: IRLowering = (k) => {
  const [x, upd, out] = [k.ins[0]!, k.ins[1]!, k.outs[0]!];
  // A loop-carried update in place (ops/in-place.ts) finds the rest of the tensor already there.
  const inPlace = k.fop.ins[0] === k.fop.outs[0];
  const first: Stmt = inPlace
    ? { k: 'comment', text: 'in place: writes only the update into the loop-carried buffer' }
    : { k: 'copy', buf: out, src: x };
  const s = clampedStarts(
    k,
    k.ins.slice(2),
    x.t.shape.map((n, d) => n - upd.t.shape[d]!),
  );
  const [us, os] = [strides(upd.t.shape), strides(out.t.shape)];
  return [
    first,
    ...s.decls,
    ...nest(upd.t.shape, (idx) => [
      {
        k: 'move',
        buf: out,
        at: linear(
          idx.map((i, d) => add(s.at[d]!, i)),
          os,
        ),
        src: upd,
        from: linear(idx, us),
      },
    ]),
  ];
};

/** Entry `kk` of the index vector of `ind` at batch position `batch`, as an index. */
function indexVectorAt(ind: TensorBuf, batch: readonly Idx[], indexVectorDim: number, kk: number): Idx {
  const is = strides(ind.t.shape);
  const hasVec = indexVectorDim < ind.t.shape.length;
  const terms: Idx[] = [];
  let bi = 0;
  for (let d = 0; d < ind.t.shape.length; d++) {
    if (hasVec && d === indexVectorDim) continue;
    terms.push(mul(batch[bi++]!, is[d]!));
  }
  return { k: 'read', buf: ind, at: add(...terms, int(hasVec ? kk * is[indexVectorDim]! : 0)) };
}

/** Gather/scatter operand index: to the start positions in `full`, adds each batching dim's
 * coordinate (from the indices' batch dims, skipping the index vector dim) and each window dim's
 * position (from the result/update index). */
function addBatchAndWindow(
  full: Idx[],
  batching: {
    operandDims: readonly number[];
    indicesDims: readonly number[];
    indexVectorDim: number;
    batch: readonly Idx[];
  },
  window: { dims: readonly number[]; operandDims: readonly number[]; index: readonly Idx[] },
): void {
  batching.operandDims.forEach((od, kk) => {
    const ds = batching.indicesDims[kk]!;
    full[od] = add(full[od]!, batching.batch[ds < batching.indexVectorDim ? ds : ds - 1]!);
  });
  window.dims.forEach((d, kk) => {
    const od = window.operandDims[kk]!;
    full[od] = add(full[od]!, window.index[d]!);
  });
}

const gather: IRLowering = (k) => {
  const [x, ind, out] = [k.ins[0]!, k.ins[1]!, k.outs[0]!];
  const { dims: g, sliceSizes } = k.attrsOf('stablehlo.gather');
  const rank = out.t.shape.length;
  const batchDims = [...Array(rank).keys()].filter((d) => !g.offsetDims.includes(d));
  const xr = x.t.shape.length;
  const offsetOperandDims = [...Array(xr).keys()].filter(
    (d) => !g.collapsedSliceDims.includes(d) && !g.operandBatchingDims.includes(d),
  );
  const [xs, os] = [strides(x.t.shape), strides(out.t.shape)];
  return nest(out.t.shape, (oi) => {
    const batch = batchDims.map((d) => oi[d]!);
    const full: Idx[] = new Array<Idx>(xr).fill(int(0));
    g.startIndexMap.forEach(
      (od, kk) =>
        (full[od] = {
          k: 'clamp',
          x: indexVectorAt(ind, batch, g.indexVectorDim, kk),
          lo: 0,
          hi: x.t.shape[od]! - sliceSizes[od]!,
        }),
    );
    addBatchAndWindow(
      full,
      {
        operandDims: g.operandBatchingDims,
        indicesDims: g.startIndicesBatchingDims,
        indexVectorDim: g.indexVectorDim,
        batch,
      },
      { dims: g.offsetDims, operandDims: offsetOperandDims, index: oi },
    );
    return [{ k: 'move', buf: out, at: linear(oi, os), src: x, from: linear(full, xs) }];
  });
};

/** True when a scatter body just returns its second argument (plain overwrite). */
function isReplaceBody(body: Region | undefined): boolean {
  const block = body?.blocks[0];
  return (
    !!block &&
    block.ops.length === 1 &&
    block.ops[0]!.name === 'stablehlo.return' &&
    block.ops[0]!.operands[0] === block.args[1]
  );
}

const scatter: IRLowering = (k) => {
  if (k.ins.length !== 3) k.unsupported('variadic scatter');
  const [x, ind, upd, out] = [k.ins[0]!, k.ins[1]!, k.ins[2]!, k.outs[0]!];
  const s = k.attrsOf('stablehlo.scatter');
  const body = k.fop.op.regions[0];
  const xr = x.t.shape.length;
  const [os, us] = [strides(out.t.shape), strides(upd.t.shape)];
  const scatterDims = upd.t.shape.map((_, d) => d).filter((d) => !s.updateWindowDims.includes(d));
  const windowOperandDims = [...Array(xr).keys()].filter(
    (d) => !s.insertedWindowDims.includes(d) && !s.inputBatchingDims.includes(d),
  );
  return [
    { k: 'copy', buf: out, src: x },
    ...nest(
      upd.t.shape,
      (ui) => {
        const batch = scatterDims.map((d) => ui[d]!);
        const full: Idx[] = new Array<Idx>(xr).fill(int(0));
        s.scatterDimsToOperandDims.forEach((od, kk) => (full[od] = indexVectorAt(ind, batch, s.indexVectorDim, kk)));
        addBatchAndWindow(
          full,
          {
            operandDims: s.inputBatchingDims,
            indicesDims: s.scatterIndicesBatchingDims,
            indexVectorDim: s.indexVectorDim,
            batch,
          },
          { dims: s.updateWindowDims, operandDims: windowOperandDims, index: ui },
        );
        const p = full.map((_, d) => v(`p${d}`));
        const dst = linear(p, os);
        const src = linear(ui, us);
        const write: Stmt[] = isReplaceBody(body)
          ? [{ k: 'move', buf: out, at: dst, src: upd, from: src }]
          : combineInto(k, body, out, dst, k.load(upd, src));
        return [
          ...full.map((f, d): Stmt => ({ k: 'index', name: `p${d}`, value: f })),
          { k: 'if', cond: and(...p.flatMap((pd, d) => [ge(pd, 0), lt(pd, out.t.shape[d]!)])), then: write },
        ];
      },
      'i',
      false,
    ),
  ];
};

export const MOVEMENT_LOWERINGS = {
  'stablehlo.broadcast_in_dim': gatherFrom(broadcastIndex),
  'stablehlo.transpose': transpose,
  'stablehlo.slice': slice,
  'stablehlo.reverse': reverse,
  'stablehlo.iota': iota,
  'stablehlo.concatenate': concatenate,
  'stablehlo.pad': pad,
  'stablehlo.dynamic_slice': dynamicSlice,
  'stablehlo.dynamic_update_slice': dynamicUpdateSlice,
  'stablehlo.gather': gather,
  'stablehlo.scatter': scatter,
} as const;
