/**
 * @fileoverview Lowerings over f64 work arrays, as the interpreter computes them: triangular_solve
 * (substitution on a copy of B, rounded once at the end) and fft (a direct DFT along each
 * transformed axis, with IRFFT's Hermitian completion).
 */
import { complexElem, numElements, type ElemType } from '../ir/types.js';
import { strides } from '../ir/tensor.js';
import { add, int, linear, mod, mul, sub, v, type Idx } from '../ir/index-expr.js';
import { and, ge, loop, lt, nest, type Buf, type Stmt, type Val } from './ir.js';
import { F64, local, num, type IRLowering, type KernelBuild } from './build.js';

const C128 = complexElem(F64 as Extract<ElemType, { kind: 'float' }>);
const scratch = (name: string, elem: ElemType, elements: number): Buf => ({ name, elem, elements, output: true });

const triangularSolve: IRLowering = (k) => {
  const [A, B] = [k.ins[0]!, k.ins[1]!];
  const out = k.outs[0]!;
  const a = k.attrsOf('stablehlo.triangular_solve');
  const n = A.t.shape[A.t.shape.length - 1]!;
  const bs = B.t.shape;
  const [m, kk] = [bs[bs.length - 2]!, bs[bs.length - 1]!];
  const size = m * kk;
  const batch = numElements(bs) / Math.max(1, size);
  const complex = out.elem.kind === 'complex';
  if (!complex && out.elem.kind !== 'float') k.unsupported(`on ${out.elem.name}`);
  const acc = complex ? C128 : F64;
  const X = scratch('X', acc, size);
  const effLower = a.transpose === 'NO_TRANSPOSE' ? a.lower : !a.lower;
  // Element (i, j) of op(A) in the work precision.
  const opA = (i: Idx, j: Idx): Val => {
    const [r, c] = a.transpose === 'NO_TRANSPOSE' ? [i, j] : [j, i];
    const e = k.loadAs(A, add(v('ao'), mul(r, n), c), acc);
    return a.transpose === 'ADJOINT' && complex ? k.op('conj', [e], acc) : e;
  };
  const diag = (i: Idx): Val => (a.unit ? num(acc, 1) : opA(i, i));
  const sub_ = (x: Val, y: Val): Val => k.bin('subtract', x, y, acc);
  const times = (x: Val, y: Val): Val => k.bin('multiply', x, y, acc);
  // Solving op(A) X = B (left) walks rows of X; X op(A) = B (right) walks its columns. `p` counts
  // solved unknowns; `flip` turns it into a row/column index for the triangle's direction.
  const flip = (x: Idx, len: number, forward: boolean): Idx => (forward ? x : sub(int(len - 1), x));
  const [i, j, p, q] = [v('i'), v('j'), v('p'), v('q')];
  const s = local('s');
  const solved = (name: string, len: number, forward: boolean, body: Stmt[]): Stmt => ({
    k: 'loop',
    var: 'q',
    from: int(0),
    to: p,
    parallel: false,
    body: [{ k: 'index', name, value: flip(q, len, forward) }, ...body],
  });
  // op(A) X = B (left) solves column `col` of X top-down or bottom-up: X(i, col) = (B(i, col) -
  // sum over solved j of op(A)(i, j) X(j, col)) / op(A)(i, i). X op(A) = B (right) solves row `row`
  // likewise along its columns.
  const solve = a.left
    ? loop('col', kk, [
        loop('p', m, [
          { k: 'index', name: 'i', value: flip(p, m, effLower) },
          { k: 'local', name: 's', elem: acc, wide: false, init: k.load(X, add(mul(i, kk), v('col'))) },
          solved('j', m, effLower, [
            { k: 'set', name: 's', value: sub_(s, times(opA(i, j), k.load(X, add(mul(j, kk), v('col'))))) },
          ]),
          { k: 'store', buf: X, at: add(mul(i, kk), v('col')), value: k.bin('divide', s, diag(i), acc) },
        ]),
      ])
    : loop('row', m, [
        loop('p', kk, [
          { k: 'index', name: 'j', value: flip(p, kk, !effLower) },
          { k: 'local', name: 's', elem: acc, wide: false, init: k.load(X, add(mul(v('row'), kk), j)) },
          solved('i', kk, !effLower, [
            { k: 'set', name: 's', value: sub_(s, times(k.load(X, add(mul(v('row'), kk), i)), opA(i, j))) },
          ]),
          { k: 'store', buf: X, at: add(mul(v('row'), kk), j), value: k.bin('divide', s, diag(j), acc) },
        ]),
      ]);
  return [
    loop(
      'bi',
      batch,
      [
        { k: 'index', name: 'ao', value: mul(v('bi'), n * n) },
        { k: 'index', name: 'bo', value: mul(v('bi'), size) },
        { k: 'array', buf: X },
        loop('e', size, [{ k: 'store', buf: X, at: v('e'), value: k.loadAs(B, add(v('bo'), v('e')), acc) }]),
        solve,
        loop('e', size, [{ k: 'store', buf: out, at: add(v('bo'), v('e')), value: k.load(X, v('e')) }]),
      ],
      true,
    ),
  ];
};

const fft: IRLowering = (k) => {
  const x = k.ins[0]!;
  const out = k.outs[0]!;
  const a = k.attrsOf('stablehlo.fft');
  const rank = out.t.shape.length;
  const axes = a.length.map((_, i) => rank - a.length.length + i);
  // The complex work array has the transform's full shape (RFFT's input, IRFFT's output).
  const cshape = a.type === 'FFT' || a.type === 'IFFT' ? [...x.t.shape] : [...out.t.shape];
  if (a.type === 'RFFT' || a.type === 'IRFFT') a.length.forEach((l, i) => (cshape[axes[i]!] = l));
  const n = numElements(cshape);
  const [cst, xst, ost] = [strides(cshape), strides(x.t.shape), strides(out.t.shape)];
  const last = axes[axes.length - 1]!;
  const inverse = a.type === 'IFFT' || a.type === 'IRFFT';
  const buf = scratch('buf', C128, n);
  const tmp = scratch('tmp', C128, Math.max(...cshape, 1));
  const fill = nest(
    cshape,
    (idx) => {
      const f = linear(idx, cst);
      const input = (at: readonly Idx[]): Val => k.loadAs(x, linear(at, xst), C128);
      if (a.type !== 'IRFFT') {
        // Positions past the input (RFFT/FFT lengths over the operand) are zero.
        const inside = cshape.flatMap((c, d) => (c > x.t.shape[d]! ? [lt(idx[d]!, x.t.shape[d]!)] : []));
        const value = inside.length
          ? ({ k: 'cond', cond: and(...inside), then: input(idx), otherwise: num(C128, 0) } satisfies Val)
          : input(idx);
        return [{ k: 'store', buf, at: f, value }];
      }
      // IRFFT: the last axis holds only the first half; the rest is the conjugate of the mirror.
      const mirror = idx.map((id, d) =>
        d === last ? sub(int(cshape[d]!), id) : axes.includes(d) ? mod(sub(int(cshape[d]!), id), cshape[d]!) : id,
      );
      return [
        {
          k: 'if',
          cond: ge(idx[last]!, x.t.shape[last]!),
          then: [{ k: 'store', buf, at: f, value: k.op('conj', [input(mirror)], C128) }],
          otherwise: [{ k: 'store', buf, at: f, value: input(idx) }],
        },
      ];
    },
    'f',
    true,
  );
  const passes = (inverse ? [...axes].reverse() : axes).map((ax): Stmt =>
    dftAlong(k, buf, tmp, n, cshape[ax]!, cst[ax]!, inverse, ax),
  );
  const result = nest(out.t.shape, (idx) => {
    const at = k.load(buf, linear(idx, cst));
    return [
      {
        k: 'store',
        buf: out,
        at: linear(idx, ost),
        value: out.elem.kind === 'complex' ? at : k.op('real', [at], C128, F64),
      },
    ];
  });
  return [{ k: 'array', buf }, { k: 'array', buf: tmp }, ...fill, ...passes, ...result];
};

/** One DFT pass along an axis of length `len` and stride `stride` of the work array: every line
 * (n / len of them) transformed through `tmp`. */
function dftAlong(
  k: KernelBuild,
  buf: Buf,
  tmp: Buf,
  n: number,
  len: number,
  stride: number,
  inverse: boolean,
  axis: number,
): Stmt {
  const f64 = (name: string, a: Val, b: Val): Val => k.bin(name, a, b, F64);
  // Line l starts at the element whose index along the axis is 0: base = (l / stride) * stride * len + l % stride.
  const base = add(mul({ k: 'div', x: v('l'), by: stride }, stride * len), mod(v('l'), stride));
  // angle 2 pi (kk t mod len) / len (negated forward), with kk t mod len kept as a running
  // index `e` (kk t itself is not an affine index).
  const angle = f64(
    'divide',
    f64('multiply', f64('multiply', num(F64, inverse ? 2 : -2), num(F64, Math.PI)), {
      k: 'index',
      x: v('e'),
      elem: F64,
    }),
    num(F64, len),
  );
  return {
    k: 'loop',
    var: 'l',
    from: int(0),
    to: int(n / len),
    parallel: true,
    body: [
      { k: 'comment', text: `DFT along axis ${axis} (length ${len})` },
      { k: 'index', name: 'base', value: base },
      loop('kk', len, [
        { k: 'local', name: 's', elem: C128, wide: false, init: num(C128, 0) },
        { k: 'var', name: 'e', value: int(0) },
        loop('t', len, [
          { k: 'let', name: 'ang', elem: F64, value: angle },
          {
            k: 'set',
            name: 's',
            value: k.bin(
              'add',
              local('s'),
              k.bin(
                'multiply',
                k.load(buf, add(v('base'), mul(v('t'), stride))),
                k.op('complex', [k.op('cosine', [local('ang')], F64), k.op('sine', [local('ang')], F64)], F64, C128),
                C128,
              ),
              C128,
            ),
          },
          { k: 'setIndex', name: 'e', value: mod(add(v('e'), v('kk')), len) },
        ]),
        {
          k: 'store',
          buf: tmp,
          at: v('kk'),
          value: inverse ? k.bin('divide', local('s'), num(C128, len), C128) : local('s'),
        },
      ]),
      loop('kk', len, [{ k: 'move', buf, at: add(v('base'), mul(v('kk'), stride)), src: tmp, from: v('kk') }]),
    ],
  };
}

export const LINALG_LOWERINGS = {
  'stablehlo.triangular_solve': triangularSolve,
  'stablehlo.fft': fft,
} as const;
