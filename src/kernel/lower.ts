/**
 * @fileoverview Lowerings of single ops to the kernel IR (ir.ts): movement (broadcast, transpose,
 * slice, concatenate, pad, dynamic slices, gather, scatter), elementwise and type-changing ops,
 * reductions, windows, contractions and the small ops. Each store computes the linear index of
 * what it writes. Parameters are the op's operands (in0, in1, ...) then its results (out0, ...),
 * the order the kernel is called with.
 */
import type { Region } from '../ir/core.js';
import type { ElemType } from '../ir/types.js';
import { strides } from '../ir/tensor.js';
import type { OpKind } from '../ops/index.js';
import { simpleCombiner, type WindowAttrs } from '../ops/reduction.js';
import type { DotDims } from '../ops/contraction.js';
import { and, eq, flatLoop, ge, lt, nest, type Cond, type Stmt, type Val } from './ir.js';
import { add, div, int, linear, mod, mul, sub, v, type Idx } from '../ir/index-expr.js';
import type { IRLowering, KernelBuild, TensorBuf } from './build.js';
import { STATS_LOWERINGS } from './lower-stats.js';
import { SORT_LOWERINGS } from './lower-sort.js';
import { LINALG_LOWERINGS } from './lower-linalg.js';


const zero = (elem: ElemType): Val => ({ k: 'index', x: int(0), elem });
const local = (name: string): Val => ({ k: 'local', name });
/** Operand element i, or element 0 of a rank-0 operand (scalar bounds, predicates). */
const atOrScalar = (b: TensorBuf, i: Idx): Idx => (b.t.shape.length === 0 ? int(0) : i);

// ---- elementwise -----------------------------------------------------------------------------------

export function elementwise(name: string): IRLowering {
  return (k) => {
    const out = k.outs[0]!;
    const c = k.ins[0]!.elem;
    return flatLoop(out.elements, (i) => [{ k: 'store', buf: out, at: i, value: k.op(name, k.ins.map((x) => k.load(x, i)), c) }]);
  };
}

/** compare, convert and clamp: their scalar op over (possibly rank-0) operands. */
function mixed(name: string): IRLowering {
  return (k) => {
    const out = k.outs[0]!;
    const operand = k.ins[name === 'clamp' ? 1 : 0]!;
    return flatLoop(out.elements, (i) => [{ k: 'store', buf: out, at: i, value: k.op(name, k.ins.map((x) => k.load(x, atOrScalar(x, i))), operand.elem, out.elem) }]);
  };
}

/** select moves the chosen element as stored (no load/store round trip). */
const select: IRLowering = (k) => {
  const [p, a, b, out] = [k.ins[0]!, k.ins[1]!, k.ins[2]!, k.outs[0]!];
  const raw = (x: TensorBuf, i: Idx): Val => ({ k: 'load', buf: x, at: atOrScalar(x, i), raw: true });
  return flatLoop(out.elements, (i) => [{ k: 'store', buf: out, at: i, raw: true, value: k.op('select', [raw(p, i), raw(a, i), raw(b, i)], a.elem) }]);
};

/** One scalar op per element, the result stored in the output's type (type-changing small ops). */
function perElement(name: string): IRLowering {
  return (k) => {
    const out = k.outs[0]!;
    return flatLoop(out.elements, (i) => [{ k: 'store', buf: out, at: i, value: k.op(name, k.ins.map((x) => k.load(x, i)), k.ins[0]!.elem, out.elem) }]);
  };
}

/** real / imag: of a complex operand its part; of a real one the value itself, or 0. */
function part(which: 'real' | 'imag'): IRLowering {
  return (k) => {
    const [x, out] = [k.ins[0]!, k.outs[0]!];
    if (x.elem.kind === 'complex') return perElement(which)(k);
    return flatLoop(out.elements, (i) => [{ k: 'store', buf: out, at: i, value: which === 'real' ? k.load(x, i) : { k: 'index', x: int(0), elem: out.elem } }]);
  };
}

const copyAll: IRLowering = (k) => k.ins.map((x, i) => ({ k: 'copy', buf: k.outs[i]!, src: x }));

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

const transpose = gatherFrom((k, idx, xs) => add(...k.attrsOf('stablehlo.transpose').perm.map((p, i) => mul(idx[i]!, xs[p]!))));

const slice = gatherFrom((k, idx, xs) => {
  const a = k.attrsOf('stablehlo.slice');
  return add(...idx.map((x, i) => mul(x, xs[i]! * (a.strides[i] ?? 1))), int(a.start.reduce((s, x, i) => s + x * xs[i]!, 0)));
});

const reverse = gatherFrom((k, idx, xs) => {
  const dims = k.attrsOf('stablehlo.reverse').dims;
  return add(...idx.map((x, i) => mul(dims.includes(i) ? sub(int(k.ins[0]!.t.shape[i]! - 1), x) : x, xs[i]!)));
});

const iota: IRLowering = (k) => {
  const out = k.outs[k.outs.length - 1]!;
  const dim = (k.fop.op.name === 'stablehlo.dynamic_iota' ? k.attrsOf('stablehlo.dynamic_iota') : k.attrsOf('stablehlo.iota')).dim;
  const os = strides(out.t.shape);
  return nest(out.t.shape, (idx) => [{ k: 'store', buf: out, at: linear(idx, os), value: { k: 'index', x: idx[dim]!, elem: out.elem } }]);
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
      ...nest(x.t.shape, (idx) => [{ k: 'move', buf: out, at: linear(idx, os, at * os[dim]!), src: x, from: linear(idx, strides(x.t.shape)) }]),
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
    const inside = p.flatMap((pd, d) => [...(a.low[d]! < 0 ? [ge(pd, 0)] : []), ...(last(d) >= out.t.shape[d]! ? [lt(pd, out.t.shape[d]!)] : [])]);
    return guarded(inside, [{ k: 'move', buf: out, at: linear(p, os), src: x, from: linear(idx, xs) }]);
  });
  return [...fill, ...place];
};

/** `const int64_t s<d> = clamp(start_d, 0, limit_d)` for dynamic starts read from operands. */
function clampedStarts(k: KernelBuild, starts: readonly TensorBuf[], limits: readonly number[]): { decls: Stmt[]; at: Idx[] } {
  const decls: Stmt[] = starts.map((s, d) => ({ k: 'index', name: `s${d}`, value: { k: 'clamp', x: { k: 'read', buf: s, at: int(0) }, lo: 0, hi: limits[d]! } }));
  return { decls, at: starts.map((_, d) => v(`s${d}`)) };
}

const dynamicSlice: IRLowering = (k) => {
  const [x, out] = [k.ins[0]!, k.outs[0]!];
  const s = clampedStarts(k, k.ins.slice(1), x.t.shape.map((n, d) => n - out.t.shape[d]!));
  const [xs, os] = [strides(x.t.shape), strides(out.t.shape)];
  return [...s.decls, ...nest(out.t.shape, (idx) => [{ k: 'move', buf: out, at: linear(idx, os), src: x, from: linear(idx.map((i, d) => add(s.at[d]!, i)), xs) }])];
};

const dynamicUpdateSlice: IRLowering = (k) => {
  const [x, upd, out] = [k.ins[0]!, k.ins[1]!, k.outs[0]!];
  // A loop-carried update in place (ops/in-place.ts) finds the rest of the tensor already there.
  const inPlace = k.fop.ins[0] === k.fop.outs[0];
  const first: Stmt = inPlace ? { k: 'comment', text: 'in place: writes only the update into the loop-carried buffer' } : { k: 'copy', buf: out, src: x };
  const s = clampedStarts(k, k.ins.slice(2), x.t.shape.map((n, d) => n - upd.t.shape[d]!));
  const [us, os] = [strides(upd.t.shape), strides(out.t.shape)];
  return [first, ...s.decls, ...nest(upd.t.shape, (idx) => [{ k: 'move', buf: out, at: linear(idx.map((i, d) => add(s.at[d]!, i)), os), src: upd, from: linear(idx, us) }])];
};

/** `body`, under `if (conditions)` when there are any. */
const guarded = (conditions: readonly Cond[], body: Stmt[]): Stmt[] => (conditions.length ? [{ k: 'if', cond: and(...conditions), then: body }] : body);

// ---- reductions and windows ------------------------------------------------------------------------

/** Applies a reduction body to accumulators and new values: a single binary op inline (rounded to
 * the element type, as each step of the spec's tensor<E> body is), anything else as a region.
 * Returns the statements that update the accumulators. */
function applyBody(k: KernelBuild, body: Region | undefined, elems: readonly ElemType[], accs: readonly string[], xs: readonly Val[]): Stmt[] {
  const simple = simpleCombiner(body);
  if (accs.length === 1 && simple) return [{ k: 'set', name: accs[0]!, value: k.op('round', [k.op(simple, [local(accs[0]!), xs[0]!], elems[0]!)], elems[0]!) }];
  const results = accs.map(() => k.local('r'));
  return [{ k: 'region', region: body, owner: k.fop.op, args: [...accs.map(local), ...xs], results }, ...accs.map((a, j): Stmt => ({ k: 'set', name: a, value: local(results[j]!) }))];
}

/** out[at] = body(out[at], value): a scatter's combine step. */
function combineInto(k: KernelBuild, body: Region | undefined, out: TensorBuf, at: Idx, value: Val): Stmt[] {
  const acc = k.local('s');
  return [{ k: 'local', name: acc, elem: out.elem, wide: false, init: k.load(out, at) }, ...applyBody(k, body, [out.elem], [acc], [value]), { k: 'store', buf: out, at, value: local(acc) }];
}

const reduce: IRLowering = (k) => {
  const n = k.ins.length / 2;
  const [xs, inits] = [k.ins.slice(0, n), k.ins.slice(n)];
  const x = xs[0]!;
  const dims = k.attrsOf('stablehlo.reduce').dims;
  const keep = x.t.shape.map((_, d) => d).filter((d) => !dims.includes(d));
  const st = strides(x.t.shape);
  const os = strides(keep.map((d) => x.t.shape[d]!));
  const accs = xs.map((_, j) => `acc${j}`);
  return nest(keep.map((d) => x.t.shape[d]!), (oi) => [
    ...xs.map((xj, j): Stmt => ({ k: 'local', name: accs[j]!, elem: xj.elem, wide: false, init: k.load(inits[j]!, int(0)) })),
    ...nest(dims.map((d) => x.t.shape[d]!), (ri) => {
      const at = add(...keep.map((d, j) => mul(oi[j]!, st[d]!)), ...dims.map((d, j) => mul(ri[j]!, st[d]!)));
      return applyBody(k, k.fop.op.regions[0], xs.map((b) => b.elem), accs, xs.map((b) => k.load(b, at)));
    }, 'r', false),
    ...k.outs.map((out, j): Stmt => ({ k: 'store', buf: out, at: linear(oi, os), value: local(accs[j]!) })),
  ]);
};

/** Declares p<d> (window element `wi` of output position `oi` in padded, dilated coordinates);
 * returns the conditions for a real operand element and its flat index (`st`: the operand's
 * strides in those dims). Bounds and dilation tests that the static shapes prove always true are
 * left out. */
export function windowElement(w: WindowAttrs, shape: readonly number[], oi: readonly Idx[], wi: readonly Idx[], outShape: readonly number[], st: readonly number[] = strides(shape)): { decls: Stmt[]; inside: Cond[]; index: Idx } {
  const decls: Stmt[] = [];
  const inside: Cond[] = [];
  const idx: Idx[] = [];
  oi.forEach((o, d) => {
    const [stride, dil, base, lo] = [w.strides[d]!, w.winDil[d]!, w.baseDil[d]!, w.padding[d]![0]!];
    decls.push({ k: 'index', name: `p${d}`, value: sub(add(mul(o, stride), mul(wi[d]!, dil)), int(lo)) });
    const p = v(`p${d}`);
    const maxP = (outShape[d]! - 1) * stride + (w.dims[d]! - 1) * dil - lo;
    if (lo > 0) inside.push(ge(p, 0));
    if (base !== 1) inside.push(eq(mod(p, base), 0));
    if (maxP > (shape[d]! - 1) * base) inside.push(lt(div(p, base), shape[d]!));
    idx.push(mul(div(p, base), st[d]!));
  });
  return { decls, inside, index: add(...idx) };
}

/** Trailing dims a window passes straight through (size 1, stride 1, no padding or dilation):
 * how many, and their element count (e.g. the channels of NHWC pooling). */
function passThroughTail(w: WindowAttrs, shape: readonly number[]): { dims: number; size: number } {
  let dims = 0;
  let size = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    const plain = w.dims[d] === 1 && w.strides[d] === 1 && w.baseDil[d] === 1 && w.winDil[d] === 1 && w.padding[d]![0] === 0 && w.padding[d]![1] === 0;
    if (!plain) break;
    dims++;
    size *= shape[d]!;
  }
  return { dims, size };
}

/** reduce_window of one operand in the pooling layout (a contiguous tail of channels the window
 * passes through): the window walks the leading dims and the innermost loop runs along the
 * channels, marked `vector` (a renderer with vectors accumulates whole vectors of channels in
 * registers, in the scalar loop's order and rounding). Padding contributes the init value. */
function poolingWindow(k: KernelBuild, w: WindowAttrs, tail: { dims: number; size: number }): Stmt[] {
  const [x, init, out] = [k.ins[0]!, k.ins[1]!, k.outs[0]!];
  const lead = x.t.shape.length - tail.dims;
  const lw: WindowAttrs = { ...w, dims: w.dims.slice(0, lead), strides: w.strides.slice(0, lead), baseDil: w.baseDil.slice(0, lead), winDil: w.winDil.slice(0, lead), padding: w.padding.slice(0, lead) };
  const leadOut = out.t.shape.slice(0, lead);
  const st = strides(x.t.shape).slice(0, lead);
  const c = v('c');
  const body = k.fop.op.regions[0];
  return nest(leadOut, (oi) => [{
    k: 'loop', var: 'c', from: int(0), to: int(tail.size), parallel: true, vector: true, body: [
      { k: 'local', name: 'acc', elem: x.elem, wide: false, init: k.load(init, int(0)) },
      ...nest(lw.dims, (wi) => {
        const at = windowElement(lw, x.t.shape.slice(0, lead), oi, wi, leadOut, st);
        const step = (value: Val): Stmt[] => applyBody(k, body, [x.elem], ['acc'], [value]);
        const element = step(k.load(x, add(at.index, c)));
        return [...at.decls, ...(at.inside.length ? [{ k: 'if', cond: and(...at.inside), then: element, otherwise: step(k.load(init, int(0))) } satisfies Stmt] : element)];
      }, 'w', false),
      { k: 'store', buf: out, at: add(mul(linear(oi, strides(leadOut)), tail.size), c), value: local('acc') },
    ],
  }]);
}

const reduceWindow: IRLowering = (k) => {
  const n = k.ins.length / 2;
  const w0 = k.attrsOf('stablehlo.reduce_window');
  const tail = passThroughTail(w0, k.ins[0]!.t.shape);
  if (n === 1 && tail.size > 1) return poolingWindow(k, w0, tail);
  const [xs, inits] = [k.ins.slice(0, n), k.ins.slice(n)];
  const x = xs[0]!;
  const w = k.attrsOf('stablehlo.reduce_window');
  const outShape = k.outs[0]!.t.shape;
  const os = strides(outShape);
  const accs = xs.map((_, j) => `acc${j}`);
  return nest(outShape, (oi) => [
    ...xs.map((xj, j): Stmt => ({ k: 'local', name: accs[j]!, elem: xj.elem, wide: false, init: k.load(inits[j]!, int(0)) })),
    ...nest(w.dims, (wi) => {
      // Padding and base-dilation holes contribute the init value, as in the spec's pad-then-reduce.
      const at = windowElement(w, x.t.shape, oi, wi, outShape);
      const vals = xs.map((b, j): Val => (at.inside.length ? { k: 'cond', cond: and(...at.inside), then: k.load(b, at.index), otherwise: k.load(inits[j]!, int(0)) } : k.load(b, at.index)));
      return [...at.decls, ...applyBody(k, k.fop.op.regions[0], xs.map((b) => b.elem), accs, vals)];
    }, 'w', false),
    ...k.outs.map((out, j): Stmt => ({ k: 'store', buf: out, at: linear(oi, os), value: local(accs[j]!) })),
  ]);
};

const selectAndScatter: IRLowering = (k) => {
  const [x, src, init, out] = [k.ins[0]!, k.ins[1]!, k.ins[2]!, k.outs[0]!];
  const w = k.attrsOf('stablehlo.select_and_scatter');
  const [selectBody, scatterBody] = k.fop.op.regions;
  const ss = strides(src.t.shape);
  const fill = flatLoop(out.elements, (i) => [{ k: 'move', buf: out, at: i, src: init, from: int(0) }] as Stmt[]);
  const scatter = nest(src.t.shape, (oi) => {
    const keep = k.local('keep');
    const window = nest(w.dims, (wi) => {
      const at = windowElement(w, x.t.shape, oi, wi, src.t.shape);
      // The select body keeps the current selection when it returns true.
      const choose: Stmt[] = [
        { k: 'index', name: 'cur', value: at.index },
        {
          k: 'if',
          cond: lt(v('sel'), 0),
          then: [{ k: 'setIndex', name: 'sel', value: v('cur') }],
          otherwise: [
            { k: 'region', region: selectBody, owner: k.fop.op, args: [k.load(x, v('sel')), k.load(x, v('cur'))], results: [keep] },
            { k: 'if', cond: { k: 'truth', value: local(keep), negate: true }, then: [{ k: 'setIndex', name: 'sel', value: v('cur') }] },
          ],
        },
      ];
      return [...at.decls, ...guarded(at.inside, choose)];
    }, 'w', false);
    return [
      { k: 'var', name: 'sel', value: int(-1) },
      ...window,
      {
        k: 'if',
        cond: ge(v('sel'), 0),
        then: combineInto(k, scatterBody, out, v('sel'), k.load(src, linear(oi, ss))),
      },
    ];
  }, 'i', false);
  return [...fill, ...scatter];
};

/** Contractions accumulate loaded values in double when the result computes in float (this
 * covers quantized and mixed int/float operands); integer results need all types equal. */
function checkContractionTypes(k: KernelBuild): void {
  const floaty = (e: ElemType): boolean => e.kind === 'float' || e.kind === 'complex' || e.kind === 'quant';
  const [l, r, out] = [k.ins[0]!.elem, k.ins[1]!.elem, k.outs[0]!.elem];
  const ok = floaty(out) ? (floaty(l) || l.kind === 'int') && (floaty(r) || r.kind === 'int') : l.name === out.name && r.name === out.name;
  if (!ok) k.unsupported('mixed element types');
}

function dotKernel(k: KernelBuild, d: DotDims): Stmt[] {
  checkContractionTypes(k);
  const [l, r, out] = [k.ins[0]!, k.ins[1]!, k.outs[0]!];
  const [ls, rs, os] = [strides(l.t.shape), strides(r.t.shape), strides(out.t.shape)];
  const lf = l.t.shape.map((_, i) => i).filter((i) => !d.lb.includes(i) && !d.lc.includes(i));
  const rf = r.t.shape.map((_, i) => i).filter((i) => !d.rb.includes(i) && !d.rc.includes(i));
  const nb = d.lb.length;
  return nest(out.t.shape, (oi) => {
    const lbase = add(...d.lb.map((dim, j) => mul(oi[j]!, ls[dim]!)), ...lf.map((dim, j) => mul(oi[nb + j]!, ls[dim]!)));
    const rbase = add(...d.rb.map((dim, j) => mul(oi[j]!, rs[dim]!)), ...rf.map((dim, j) => mul(oi[nb + lf.length + j]!, rs[dim]!)));
    return [
      { k: 'local', name: 'acc', elem: out.elem, wide: true, init: zero(out.elem) },
      ...nest(d.lc.map((dim) => l.t.shape[dim]!), (ci) => {
        const li = add(lbase, ...d.lc.map((dim, j) => mul(ci[j]!, ls[dim]!)));
        const ri = add(rbase, ...d.rc.map((dim, j) => mul(ci[j]!, rs[dim]!)));
        return [{ k: 'set', name: 'acc', value: k.op('mac', [local('acc'), k.load(l, li), k.load(r, ri)], out.elem) }];
      }, 'c', false),
      { k: 'store', buf: out, at: linear(oi, os), value: local('acc') },
    ];
  });
}

const dotGeneral: IRLowering = (k) => dotKernel(k, k.attrsOf('stablehlo.dot_general'));
const dot: IRLowering = (k) => dotKernel(k, { lb: [], rb: [], lc: [k.ins[0]!.t.shape.length - 1], rc: [0] });

const convolution: IRLowering = (k) => {
  checkContractionTypes(k);
  const [l, r, out] = [k.ins[0]!, k.ins[1]!, k.outs[0]!];
  const c = k.attrsOf('stablehlo.convolution');
  const [ls, ks, os] = [strides(l.t.shape), strides(r.t.shape), strides(out.t.shape)];
  const shape = out.t.shape;
  const cInPerGroup = l.t.shape[c.inFeature]! / c.featureGroups;
  const outPerFeatureGroup = shape[c.outFeature]! / c.featureGroups;
  const outPerBatchGroup = shape[c.outFeature]! / c.batchGroups;
  const kSpatial = c.kSpatial.map((d) => r.t.shape[d]!);
  return nest(shape, (oi) => {
    const [b, f] = [oi[c.outBatch]!, oi[c.outFeature]!];
    const taps = nest(kSpatial, (ki) => {
      const decls: Stmt[] = [];
      const inside: Cond[] = [];
      const lidx: Idx[] = [v('lb')];
      const kidx: Idx[] = [mul(f, ks[c.kOut]!)];
      c.inSpatial.forEach((dimIn, s) => {
        decls.push({ k: 'index', name: `p${s}`, value: sub(add(mul(oi[c.outSpatial[s]!]!, c.strides[s]!), mul(ki[s]!, c.rhsDil[s]!)), int(c.padding[s]![0]!)) });
        const p = v(`p${s}`);
        inside.push(ge(p, 0), eq(mod(p, c.lhsDil[s]!), 0), lt(div(p, c.lhsDil[s]!), l.t.shape[dimIn]!));
        lidx.push(mul(div(p, c.lhsDil[s]!), ls[dimIn]!));
        kidx.push(mul(c.reversal[s] ? sub(int(kSpatial[s]! - 1), ki[s]!) : ki[s]!, ks[c.kSpatial[s]!]!));
      });
      const channels: Stmt[] = [
        { k: 'index', name: 'lo', value: add(...lidx) },
        { k: 'index', name: 'ko', value: add(...kidx) },
        { k: 'loop', var: 'ci', from: int(0), to: int(cInPerGroup), parallel: false, body: [{ k: 'set', name: 'acc', value: k.op('mac', [local('acc'), k.load(l, add(v('lo'), mul(v('ci'), ls[c.inFeature]!))), k.load(r, add(v('ko'), mul(v('ci'), ks[c.kIn]!)))], out.elem) }] },
      ];
      return [...decls, ...guarded(inside, channels)];
    }, 'k', false);
    return [
      { k: 'index', name: 'g', value: div(f, outPerFeatureGroup) },
      { k: 'index', name: 'bg', value: div(f, outPerBatchGroup) },
      { k: 'index', name: 'lb', value: add(mul(add(mul(v('bg'), shape[c.outBatch]!), b), ls[c.inBatch]!), mul(v('g'), cInPerGroup * ls[c.inFeature]!)) },
      { k: 'local', name: 'acc', elem: out.elem, wide: true, init: zero(out.elem) },
      ...taps,
      { k: 'store', buf: out, at: linear(oi, os), value: local('acc') },
    ];
  });
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
  batching: { operandDims: readonly number[]; indicesDims: readonly number[]; indexVectorDim: number; batch: readonly Idx[] },
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
  const offsetOperandDims = [...Array(xr).keys()].filter((d) => !g.collapsedSliceDims.includes(d) && !g.operandBatchingDims.includes(d));
  const [xs, os] = [strides(x.t.shape), strides(out.t.shape)];
  return nest(out.t.shape, (oi) => {
    const batch = batchDims.map((d) => oi[d]!);
    const full: Idx[] = new Array<Idx>(xr).fill(int(0));
    g.startIndexMap.forEach((od, kk) => (full[od] = { k: 'clamp', x: indexVectorAt(ind, batch, g.indexVectorDim, kk), lo: 0, hi: x.t.shape[od]! - sliceSizes[od]! }));
    addBatchAndWindow(full, { operandDims: g.operandBatchingDims, indicesDims: g.startIndicesBatchingDims, indexVectorDim: g.indexVectorDim, batch }, { dims: g.offsetDims, operandDims: offsetOperandDims, index: oi });
    return [{ k: 'move', buf: out, at: linear(oi, os), src: x, from: linear(full, xs) }];
  });
};

/** True when a scatter body just returns its second argument (plain overwrite). */
function isReplaceBody(body: Region | undefined): boolean {
  const block = body?.blocks[0];
  return !!block && block.ops.length === 1 && block.ops[0]!.name === 'stablehlo.return' && block.ops[0]!.operands[0] === block.args[1];
}

const scatter: IRLowering = (k) => {
  if (k.ins.length !== 3) k.unsupported('variadic scatter');
  const [x, ind, upd, out] = [k.ins[0]!, k.ins[1]!, k.ins[2]!, k.outs[0]!];
  const s = k.attrsOf('stablehlo.scatter');
  const body = k.fop.op.regions[0];
  const xr = x.t.shape.length;
  const [os, us] = [strides(out.t.shape), strides(upd.t.shape)];
  const scatterDims = upd.t.shape.map((_, d) => d).filter((d) => !s.updateWindowDims.includes(d));
  const windowOperandDims = [...Array(xr).keys()].filter((d) => !s.insertedWindowDims.includes(d) && !s.inputBatchingDims.includes(d));
  return [
    { k: 'copy', buf: out, src: x },
    ...nest(upd.t.shape, (ui) => {
      const batch = scatterDims.map((d) => ui[d]!);
      const full: Idx[] = new Array<Idx>(xr).fill(int(0));
      s.scatterDimsToOperandDims.forEach((od, kk) => (full[od] = indexVectorAt(ind, batch, s.indexVectorDim, kk)));
      addBatchAndWindow(full, { operandDims: s.inputBatchingDims, indicesDims: s.scatterIndicesBatchingDims, indexVectorDim: s.indexVectorDim, batch }, { dims: s.updateWindowDims, operandDims: windowOperandDims, index: ui });
      const p = full.map((_, d) => v(`p${d}`));
      const dst = linear(p, os);
      const src = linear(ui, us);
      const write: Stmt[] = isReplaceBody(body)
        ? [{ k: 'move', buf: out, at: dst, src: upd, from: src }]
        : combineInto(k, body, out, dst, k.load(upd, src));
      return [...full.map((f, d): Stmt => ({ k: 'index', name: `p${d}`, value: f })), { k: 'if', cond: and(...p.flatMap((pd, d) => [ge(pd, 0), lt(pd, out.t.shape[d]!)])), then: write }];
    }, 'i', false),
  ];
};

/** bitcast_convert: every type is stored as its bit pattern (little-endian), so a bitcast
 * between types of the same total size is a byte copy. */
const bitcastConvert: IRLowering = (k) => {
  if (k.ins[0]!.elem.kind === 'bool' || k.outs[0]!.elem.kind === 'bool') k.unsupported('bitcast of i1');
  return [{ k: 'copy', buf: k.outs[0]!, src: k.ins[0]! }];
};

const reducePrecision: IRLowering = (k) => {
  const a = k.attrsOf('stablehlo.reduce_precision');
  const [x, out] = [k.ins[0]!, k.outs[0]!];
  const arg = (n: number): Val => ({ k: 'index', x: int(n), elem: x.elem });
  return flatLoop(out.elements, (i) => [{ k: 'store', buf: out, at: i, value: k.op('reduce_precision', [k.load(x, i), arg(a.e), arg(a.m)], x.elem, out.elem) }]);
};

/** tensor.extract: one element (at index operands) as a rank-0 tensor. */
const extract: IRLowering = (k) => {
  const [x, out] = [k.ins[0]!, k.outs[0]!];
  const at = linear(k.ins.slice(1).map((b): Idx => ({ k: 'read', buf: b, at: int(0) })), strides(x.t.shape));
  return [{ k: 'move', buf: out, at: int(0), src: x, from: at }];
};

/** dynamic_* ops with a static result type: the shape operand is not read. */
const staticShape = (lower: IRLowering): IRLowering => (k) => [{ k: 'comment', text: 'result shape is static' }, ...lower(k)];

const dynamicBroadcastInDim: IRLowering = (k) => {
  const [x, out] = [k.ins[0]!, k.outs[0]!];
  const dims = k.attrsOf('stablehlo.dynamic_broadcast_in_dim').dims;
  const xs = strides(x.t.shape);
  return nest(out.t.shape, (idx) => [{ k: 'move', buf: out, at: linear(idx, strides(out.t.shape)), src: x, from: add(...dims.map((d, i) => mul(idx[d]!, x.t.shape[i] === 1 ? 0 : xs[i]!))) }]);
};

const getDimensionSize: IRLowering = (k) => {
  const out = k.outs[0]!;
  return [{ k: 'store', buf: out, at: int(0), value: { k: 'index', x: int(k.ins[0]!.t.shape[k.attrsOf('stablehlo.get_dimension_size').dim]!), elem: out.elem } }];
};

/** map: the scalar body applied at every element position. */
const map: IRLowering = (k) => {
  const out = k.outs[0]!;
  return flatLoop(out.elements, (i) => {
    const r = k.local('m');
    return [{ k: 'region', region: k.fop.op.regions[0], owner: k.fop.op, args: k.ins.map((x) => k.load(x, i)), results: [r] }, { k: 'store', buf: out, at: i, value: local(r) }];
  });
};

export const IR_LOWERINGS: Readonly<Partial<Record<OpKind, IRLowering>>> = {
  'stablehlo.compare': mixed('compare'),
  'stablehlo.select': select,
  'stablehlo.clamp': mixed('clamp'),
  'stablehlo.convert': mixed('convert'),
  'stablehlo.reshape': copyAll,
  'stablehlo.optimization_barrier': copyAll,
  'interpreter.probe': copyAll,
  'stablehlo.broadcast_in_dim': gatherFrom(broadcastIndex),
  'stablehlo.transpose': transpose,
  'stablehlo.slice': slice,
  'stablehlo.reverse': reverse,
  'stablehlo.iota': iota,
  'stablehlo.concatenate': concatenate,
  'stablehlo.pad': pad,
  'stablehlo.dynamic_slice': dynamicSlice,
  'stablehlo.dynamic_update_slice': dynamicUpdateSlice,
  'stablehlo.reduce': reduce,
  'stablehlo.reduce_window': reduceWindow,
  'stablehlo.uniform_quantize': perElement('requantize'),
  'stablehlo.uniform_dequantize': perElement('requantize'),
  'stablehlo.select_and_scatter': selectAndScatter,
  'stablehlo.dot_general': dotGeneral,
  'stablehlo.dot': dot,
  'stablehlo.convolution': convolution,
  'stablehlo.gather': gather,
  'stablehlo.scatter': scatter,
  'stablehlo.bitcast_convert': bitcastConvert,
  'stablehlo.reduce_precision': reducePrecision,
  'stablehlo.real': part('real'),
  'stablehlo.imag': part('imag'),
  'stablehlo.complex': perElement('complex'),
  'tensor.extract': extract,
  'stablehlo.dynamic_iota': staticShape(iota),
  'stablehlo.dynamic_broadcast_in_dim': staticShape(dynamicBroadcastInDim),
  'stablehlo.dynamic_reshape': staticShape((k) => [{ k: 'copy', buf: k.outs[0]!, src: k.ins[0]! }]),
  'stablehlo.get_dimension_size': getDimensionSize,
  'stablehlo.map': map,
  ...STATS_LOWERINGS,
  ...SORT_LOWERINGS,
  ...LINALG_LOWERINGS,
};

/** The lowering of op `name`, if it has one (names come from programs: plain strings). */
export function irLoweringOf(name: string): IRLowering | undefined {
  return (IR_LOWERINGS as Readonly<Record<string, IRLowering | undefined>>)[name];
}
