/**
 * @fileoverview Lowerings of reductions and windows: reduce, reduce_window (with the pooling
 * layout's vector loop over channels) and select_and_scatter. Accumulators start from the init
 * operand; each step applies the op's body as the spec's pad-then-reduce does.
 */
import { forEachIndex, strides } from '../ir/tensor.js';
import { simpleCombiner, type WindowAttrs } from '../ops/reduction.js';
import type { Region } from '../ir/core.js';
import { and, eq, flatLoop, ge, lt, nest, type Cond, type Stmt, type Val } from './ir.js';
import { add, div, int, linear, mod, mul, sub, v, type Idx } from '../ir/index-expr.js';
import { applyBody, combineInto, guarded, local, type IRLowering, type KernelBuild, type TensorBuf } from './build.js';

// ---- reductions and windows ------------------------------------------------------------------------

/** One accumulator per operand, `accs[j]` of operand j's type, starting at init value j. */
function startAccumulators(
  k: KernelBuild,
  xs: readonly TensorBuf[],
  inits: readonly TensorBuf[],
  accs: readonly string[],
): Stmt[] {
  return xs.map((x, j) => ({ k: 'local', name: accs[j]!, elem: x.elem, wide: false, init: k.load(inits[j]!, int(0)) }));
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
  return nest(
    keep.map((d) => x.t.shape[d]!),
    (oi) => [
      ...startAccumulators(k, xs, inits, accs),
      ...nest(
        dims.map((d) => x.t.shape[d]!),
        (ri) => {
          const at = add(...keep.map((d, j) => mul(oi[j]!, st[d]!)), ...dims.map((d, j) => mul(ri[j]!, st[d]!)));
          return applyBody(
            k,
            k.fop.op.regions[0],
            xs.map((b) => b.elem),
            accs,
            xs.map((b) => k.load(b, at)),
          );
        },
        'r',
        false,
      ),
      ...k.outs.map((out, j): Stmt => ({ k: 'store', buf: out, at: linear(oi, os), value: local(accs[j]!) })),
    ],
  );
};

/** Declares p<d><tag> (window element `wi` of output position `oi` in padded, dilated
 * coordinates); returns the conditions for a real operand element and its flat index (`st`: the
 * operand's strides in those dims). Bounds and dilation tests that the static shapes prove always
 * true are left out. */
function windowElement(
  w: WindowAttrs,
  shape: readonly number[],
  oi: readonly Idx[],
  wi: readonly Idx[],
  outShape: readonly number[],
  st: readonly number[] = strides(shape),
  tag = '',
): { decls: Stmt[]; inside: Cond[]; index: Idx } {
  const decls: Stmt[] = [];
  const inside: Cond[] = [];
  const idx: Idx[] = [];
  oi.forEach((o, d) => {
    const [stride, dil, base, lo] = [w.strides[d]!, w.winDil[d]!, w.baseDil[d]!, w.padding[d]![0]!];
    decls.push({ k: 'index', name: `p${d}${tag}`, value: sub(add(mul(o, stride), mul(wi[d]!, dil)), int(lo)) });
    const p = v(`p${d}${tag}`);
    const maxP = (outShape[d]! - 1) * stride + (w.dims[d]! - 1) * dil - lo;
    if (lo > 0) inside.push(ge(p, 0));
    if (base !== 1) inside.push(eq(mod(p, base), 0));
    if (maxP > (shape[d]! - 1) * base) inside.push(lt(div(p, base), shape[d]!));
    idx.push(mul(div(p, base), st[d]!));
  });
  return { decls, inside, index: add(...idx) };
}

/** Windows of at most this many elements are unrolled in pooling kernels (a 2x2 or 3x3 pool):
 * no loop control around a handful of loads and maxima. */
const UNROLLED_WINDOW = 9;

/** `element(wi, tag)` for every window position, as loops (prefix `w`) or, for a small window
 * whose body is one binary op (inlined without declarations of its own), unrolled with constant
 * positions (tag `_<n>` naming each position's declarations apart). */
function eachWindowElement(
  dims: readonly number[],
  body: Region | undefined,
  element: (wi: Idx[], tag: string) => Stmt[],
): Stmt[] {
  const count = dims.reduce((n, d) => n * d, 1);
  if (count > UNROLLED_WINDOW || !simpleCombiner(body)) return nest(dims, (wi) => element(wi, ''), 'w', false);
  const unrolled: Stmt[] = [];
  forEachIndex(dims, (wi, n) =>
    unrolled.push(
      ...element(
        wi.map((x) => int(x)),
        `_${n}`,
      ),
    ),
  );
  return unrolled;
}

/** Trailing dims a window passes straight through (size 1, stride 1, no padding or dilation):
 * how many, and their element count (e.g. the channels of NHWC pooling). */
function passThroughTail(w: WindowAttrs, shape: readonly number[]): { dims: number; size: number } {
  let dims = 0;
  let size = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    const plain =
      w.dims[d] === 1 &&
      w.strides[d] === 1 &&
      w.baseDil[d] === 1 &&
      w.winDil[d] === 1 &&
      w.padding[d]![0] === 0 &&
      w.padding[d]![1] === 0;
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
  const lw: WindowAttrs = {
    ...w,
    dims: w.dims.slice(0, lead),
    strides: w.strides.slice(0, lead),
    baseDil: w.baseDil.slice(0, lead),
    winDil: w.winDil.slice(0, lead),
    padding: w.padding.slice(0, lead),
  };
  const leadOut = out.t.shape.slice(0, lead);
  const st = strides(x.t.shape).slice(0, lead);
  const c = v('c');
  const body = k.fop.op.regions[0];
  return nest(leadOut, (oi) => [
    {
      k: 'loop',
      var: 'c',
      from: int(0),
      to: int(tail.size),
      parallel: true,
      vector: true,
      body: [
        { k: 'local', name: 'acc', elem: x.elem, wide: false, init: k.load(init, int(0)) },
        ...eachWindowElement(lw.dims, body, (wi, tag) => {
          const at = windowElement(lw, x.t.shape.slice(0, lead), oi, wi, leadOut, st, tag);
          const step = (value: Val): Stmt[] => applyBody(k, body, [x.elem], ['acc'], [value]);
          const element = step(k.load(x, add(at.index, c)));
          return [
            ...at.decls,
            ...(at.inside.length
              ? [
                  {
                    k: 'if',
                    cond: and(...at.inside),
                    then: element,
                    otherwise: step(k.load(init, int(0))),
                  } satisfies Stmt,
                ]
              : element),
          ];
        }),
        { k: 'store', buf: out, at: add(mul(linear(oi, strides(leadOut)), tail.size), c), value: local('acc') },
      ],
    },
  ]);
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
    ...startAccumulators(k, xs, inits, accs),
    ...nest(
      w.dims,
      (wi) => {
        // Padding and base-dilation holes contribute the init value, as in the spec's pad-then-reduce.
        const at = windowElement(w, x.t.shape, oi, wi, outShape);
        const vals = xs.map((b, j): Val =>
          at.inside.length
            ? { k: 'cond', cond: and(...at.inside), then: k.load(b, at.index), otherwise: k.load(inits[j]!, int(0)) }
            : k.load(b, at.index),
        );
        return [
          ...at.decls,
          ...applyBody(
            k,
            k.fop.op.regions[0],
            xs.map((b) => b.elem),
            accs,
            vals,
          ),
        ];
      },
      'w',
      false,
    ),
    ...k.outs.map((out, j): Stmt => ({ k: 'store', buf: out, at: linear(oi, os), value: local(accs[j]!) })),
  ]);
};

const selectAndScatter: IRLowering = (k) => {
  const [x, src, init, out] = [k.ins[0]!, k.ins[1]!, k.ins[2]!, k.outs[0]!];
  const w = k.attrsOf('stablehlo.select_and_scatter');
  const [selectBody, scatterBody] = k.fop.op.regions;
  const ss = strides(src.t.shape);
  const fill = flatLoop(out.elements, (i) => [{ k: 'move', buf: out, at: i, src: init, from: int(0) }] as Stmt[]);
  const scatter = nest(
    src.t.shape,
    (oi) => {
      const keep = k.local('keep');
      const window = nest(
        w.dims,
        (wi) => {
          const at = windowElement(w, x.t.shape, oi, wi, src.t.shape);
          // The select body keeps the current selection when it returns true.
          const choose: Stmt[] = [
            { k: 'index', name: 'cur', value: at.index },
            {
              k: 'if',
              cond: lt(v('sel'), 0),
              then: [{ k: 'setIndex', name: 'sel', value: v('cur') }],
              otherwise: [
                {
                  k: 'region',
                  region: selectBody,
                  owner: k.fop.op,
                  args: [k.load(x, v('sel')), k.load(x, v('cur'))],
                  results: [keep],
                },
                {
                  k: 'if',
                  cond: { k: 'truth', value: local(keep), negate: true },
                  then: [{ k: 'setIndex', name: 'sel', value: v('cur') }],
                },
              ],
            },
          ];
          return [...at.decls, ...guarded(at.inside, choose)];
        },
        'w',
        false,
      );
      return [
        { k: 'var', name: 'sel', value: int(-1) },
        ...window,
        {
          k: 'if',
          cond: ge(v('sel'), 0),
          then: combineInto(k, scatterBody, out, v('sel'), k.load(src, linear(oi, ss))),
        },
      ];
    },
    'i',
    false,
  );
  return [...fill, ...scatter];
};

export const REDUCE_LOWERINGS = {
  'stablehlo.reduce': reduce,
  'stablehlo.reduce_window': reduceWindow,
  'stablehlo.select_and_scatter': selectAndScatter,
} as const;
