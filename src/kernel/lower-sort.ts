/**
 * @fileoverview Lowerings that order elements: sort (a stable insertion sort of each slice, all
 * operands moved together, the comparator region deciding) and chlo.top_k (the k largest of each
 * last-axis row by selection: NaN largest, ties to the lower index).
 */
import { BOOL, numElements } from '../ir/types.js';
import { strides } from '../ir/tensor.js';
import { add, int, linear, mul, sub, v, type Idx } from '../ir/index-expr.js';
import { eq, loop, lt, nest, type Stmt, type Val } from './ir.js';
import type { IRLowering } from './build.js';

const sort: IRLowering = (k) => {
  const outs = k.outs;
  const shape = k.ins[0]!.t.shape;
  const a = k.attrsOf('stablehlo.sort');
  const dim = a.dim < 0 ? shape.length + a.dim : a.dim;
  const st = strides(shape);
  const len = shape[dim]!;
  // Slices along `dim` are independent; within one, element j sinks left past every larger one:
  // m = j - q walks down from j, and the first ordered pair ends the walk (stable).
  const slices = nest(
    shape.map((d, i) => (i === dim ? 1 : d)),
    (oi) => {
      const base = linear(
        oi.map((x, i) => (i === dim ? int(0) : x)),
        st,
      );
      const m = sub(v('j'), v('q'));
      const less = k.local('less');
      return [
        loop(
          'j',
          len,
          [
            loop('q', v('j'), [
              { k: 'index', name: 'lo', value: add(base, mul(add(m, int(-1)), st[dim]!)) },
              { k: 'index', name: 'hi', value: add(base, mul(m, st[dim]!)) },
              // comparator(lhs0, rhs0, lhs1, rhs1, ...): is the element at hi less than the one at lo?
              {
                k: 'region',
                region: k.fop.op.regions[0],
                owner: k.fop.op,
                args: outs.flatMap((o) => [k.load(o, v('hi')), k.load(o, v('lo'))]),
                results: [less],
              },
              {
                k: 'if',
                cond: { k: 'truth', value: { k: 'local', name: less }, negate: true },
                then: [{ k: 'break' }],
              },
              ...outs.map((o): Stmt => ({ k: 'swap', buf: o, a: v('lo'), b: v('hi') })),
            ]),
          ],
          false,
          1,
        ),
      ];
    },
  );
  return [...outs.map((o, i): Stmt => ({ k: 'copy', buf: o, src: k.ins[i]! })), ...slices];
};

const topK: IRLowering = (k) => {
  const x = k.ins[0]!;
  const [vals, idxs] = [k.outs[0]!, k.outs[1]!];
  const kk = k.attrsOf('chlo.top_k').k;
  const n = x.t.shape[x.t.shape.length - 1]!;
  const rows = numElements(x.t.shape) / Math.max(1, n);
  const [r, j, i] = [v('r'), v('j'), v('i')];
  const element = (at: Idx): Val => k.load(x, add(mul(r, n), at));
  const greater = k.op(
    'total_greater',
    [
      { k: 'local', name: 'candidate' },
      { k: 'local', name: 'current' },
    ],
    x.elem,
    BOOL,
  );
  const pick: Stmt = { k: 'setIndex', name: 'best', value: i };
  // Pass j picks the largest element no earlier pass took (a scan of the indexes written so far).
  const pass = [
    { k: 'var', name: 'best', value: int(-1) },
    loop('i', n, [
      { k: 'var', name: 'taken', value: int(0) },
      loop('q', j, [
        {
          k: 'if',
          cond: eq({ k: 'read', buf: idxs, at: add(mul(r, kk), v('q')) }, i),
          then: [{ k: 'setIndex', name: 'taken', value: int(1) }],
        },
      ]),
      {
        k: 'if',
        cond: eq(v('taken'), 0),
        then: [
          {
            k: 'if',
            cond: lt(v('best'), 0),
            then: [pick],
            otherwise: [
              { k: 'let', name: 'candidate', elem: x.elem, value: element(i) },
              { k: 'let', name: 'current', elem: x.elem, value: element(v('best')) },
              { k: 'if', cond: { k: 'truth', value: greater, negate: false }, then: [pick] },
            ],
          },
        ],
      },
    ]),
    { k: 'move', buf: vals, at: add(mul(r, kk), j), src: x, from: add(mul(r, n), v('best')) },
    { k: 'store', buf: idxs, at: add(mul(r, kk), j), value: { k: 'index', x: v('best'), elem: idxs.elem } },
  ] satisfies Stmt[];
  return [loop('r', rows, [loop('j', kk, pass)], true)];
};

export const SORT_LOWERINGS = {
  'stablehlo.sort': sort,
  'chlo.top_k': topK,
} as const;
