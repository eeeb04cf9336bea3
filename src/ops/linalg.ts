/**
 * @fileoverview Transforms and solvers, each written from the spec: fft (FFT, IFFT, RFFT, IRFFT by
 * a direct DFT in f64 along each transformed axis) and triangular_solve (substitution in f64, or
 * complex<f64>, on a copy of B).
 */
import { complexElem, storageElem, tensorType, typeToString } from '../ir/types.js';
import { expectTensor, forEachIndex, getElem, makeTensor, setElem, size, strides, type Tensor } from '../ir/tensor.js';
import { constraint, defineOp } from './def.js';
import { resultTensorType } from './elementwise.js';
import { RuntimeError } from '../diag/diagnostics.js';

// ---- fft ---------------------------------------------------------------------------------------
function dft(re: number[], im: number[], inverse: boolean): [number[], number[]] {
  const n = re.length;
  const outRe = new Array<number>(n).fill(0);
  const outIm = new Array<number>(n).fill(0);
  const sign = inverse ? 1 : -1;
  for (let k = 0; k < n; k++) {
    let sr = 0;
    let si = 0;
    for (let t = 0; t < n; t++) {
      const ang = (sign * 2 * Math.PI * ((k * t) % n)) / n;
      const c = Math.cos(ang);
      const s = Math.sin(ang);
      sr += re[t]! * c - im[t]! * s;
      si += re[t]! * s + im[t]! * c;
    }
    outRe[k] = inverse ? sr / n : sr;
    outIm[k] = inverse ? si / n : si;
  }
  return [outRe, outIm];
}

/** Applies a 1-D transform along `axis` of a complex array (interleaved) with the given shape. */
function alongAxis(data: Float64Array, shape: number[], axis: number, inverse: boolean): void {
  const st = strides(shape);
  const outer = shape.map((d, i) => (i === axis ? 1 : d));
  forEachIndex(outer, (idx) => {
    const base = idx.reduce((s, v, i) => s + v * st[i]!, 0);
    const n = shape[axis]!;
    const re: number[] = [];
    const im: number[] = [];
    for (let t = 0; t < n; t++) {
      re.push(data[2 * (base + t * st[axis]!)]!);
      im.push(data[2 * (base + t * st[axis]!) + 1]!);
    }
    const [r, i] = dft(re, im, inverse);
    for (let t = 0; t < n; t++) {
      data[2 * (base + t * st[axis]!)] = r[t]!;
      data[2 * (base + t * st[axis]!) + 1] = i[t]!;
    }
  });
}

const fft = defineOp({
  name: 'stablehlo.fft',
  category: 'contraction',
  spec: 'fft',
  arity: 1,
  attrs: (r) => ({ type: r.enumValue('fft_type'), length: r.ints('fft_length') }),
  infer: (types, a, op) => {
    const x = types[0];
    if (x?.kind !== 'tensor') return undefined;
    const rank = x.shape.length;
    const k = a.length.length;
    if (k < 1 || k > 3) constraint(op, 'fft_c3', `fft_length has ${k} entries: 1 to 3 expected`);
    if (k > rank) constraint(op, 'fft_c1', `fft_length has ${k} entries for a rank-${rank} operand`);
    const real = a.type === 'RFFT';
    const fromComplex = a.type !== 'RFFT';
    if (fromComplex !== (x.elem.kind === 'complex') || (real && x.elem.kind !== 'float'))
      constraint(op, 'fft_c2', `${a.type} of ${x.elem.name}`);
    const tail = (shape: readonly number[]): number[] => shape.slice(rank - k);
    if (!['FFT', 'IFFT', 'RFFT', 'IRFFT'].includes(a.type)) constraint(op, 'fft_i2', `unknown fft_type ${a.type}`);
    if (a.type === 'FFT' || a.type === 'IFFT') return [x];
    if (real) {
      if (x.elem.kind !== 'float') return undefined;
      if (tail(x.shape).some((n, i) => n >= 0 && n !== a.length[i]))
        constraint(
          op,
          'fft_c4',
          `the last dimensions of ${typeToString(x)} must be fft_length [${a.length.join(', ')}]`,
        );
      const last = x.shape[rank - 1]!;
      return [tensorType([...x.shape.slice(0, -1), last === 0 ? 0 : Math.floor(last / 2) + 1], complexElem(x.elem))];
    }
    if (x.elem.kind !== 'complex') return undefined;
    const n = a.length[k - 1]!;
    const want = n === 0 ? 0 : Math.floor(n / 2) + 1;
    if (x.shape[rank - 1]! >= 0 && x.shape[rank - 1] !== want)
      constraint(
        op,
        'fft_c5',
        `IRFFT of length ${n} needs a last operand dimension of ${want}, got ${x.shape[rank - 1]}`,
      );
    const shape = [...x.shape.slice(0, rank - k), ...a.length];
    if (x.shape.slice(rank - k, -1).some((d, i) => d >= 0 && d !== a.length[i]))
      constraint(op, 'fft_c4', `the last dimensions of the result must be fft_length [${a.length.join(', ')}]`);
    return [tensorType(shape, x.elem.part)];
  },
  evaluate: (args, a, op) => {
    const x = expectTensor(args[0]);
    const rt = resultTensorType(op);
    const rank = rt.shape.length;
    const axes = a.length.map((_, i) => rank - a.length.length + i);
    // Work on a complex buffer shaped like the complex side of the transform.
    const cshape = a.type === 'RFFT' ? [...rt.shape] : a.type === 'IRFFT' ? [...rt.shape] : [...x.type.shape];
    if (a.type === 'RFFT' || a.type === 'IRFFT') a.length.forEach((l, i) => (cshape[axes[i]!] = l));
    const n = cshape.reduce((p, q) => p * q, 1);
    const buf = new Float64Array(2 * n);
    const cst = strides(cshape);
    forEachIndex(cshape, (idx, flat) => {
      if (a.type === 'IRFFT') {
        // Rebuild the full Hermitian spectrum from the first n/2+1 entries of the last axis.
        const last = axes[axes.length - 1]!;
        const half = x.type.shape[last]!;
        const j = [...idx];
        let conj = false;
        if (j[last]! >= half) {
          j[last] = cshape[last]! - j[last]!;
          for (const ax of axes.slice(0, -1)) j[ax] = (cshape[ax]! - j[ax]!) % cshape[ax]!;
          conj = true;
        }
        const xs = strides(x.type.shape);
        const v = getElem(
          x,
          j.reduce((s, v2, i) => s + v2 * xs[i]!, 0),
        ) as [number, number];
        buf[2 * flat] = v[0];
        buf[2 * flat + 1] = conj ? -v[1] : v[1];
        return;
      }
      const xs = strides(x.type.shape);
      if (idx.some((v, i) => v >= x.type.shape[i]!)) return;
      const v = getElem(
        x,
        idx.reduce((s, v2, i) => s + v2 * xs[i]!, 0),
      );
      buf[2 * flat] = Array.isArray(v) ? (v as number[])[0]! : (v as number);
      buf[2 * flat + 1] = Array.isArray(v) ? (v as number[])[1]! : 0;
    });
    void cst;
    const inverse = a.type === 'IFFT' || a.type === 'IRFFT';
    for (const ax of inverse ? [...axes].reverse() : axes) alongAxis(buf, cshape, ax, inverse);
    const out = makeTensor(rt);
    const ost = strides(cshape);
    forEachIndex(rt.shape, (idx, flat) => {
      const f = idx.reduce((s, v, i) => s + v * ost[i]!, 0);
      if (storageElem(rt.elem).kind === 'complex') setElem(out, flat, [buf[2 * f]!, buf[2 * f + 1]!]);
      else setElem(out, flat, buf[2 * f]!);
    });
    return [out];
  },
});

// ---- triangular_solve --------------------------------------------------------------------------
type Cx = readonly [number, number];
const cx = {
  sub: (a: Cx, b: Cx): Cx => [a[0] - b[0], a[1] - b[1]],
  mul: (a: Cx, b: Cx): Cx => [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]],
  div: (a: Cx, b: Cx): Cx => {
    const d = b[0] * b[0] + b[1] * b[1];
    return [(a[0] * b[0] + a[1] * b[1]) / d, (a[1] * b[0] - a[0] * b[1]) / d];
  },
};

const triangularSolve = defineOp({
  name: 'stablehlo.triangular_solve',
  category: 'contraction',
  spec: 'triangular_solve',
  attrs: (r) => ({
    left: r.bool('left_side'),
    lower: r.bool('lower'),
    unit: r.bool('unit_diagonal'),
    transpose: r.enumValue('transpose_a', 'NO_TRANSPOSE'),
  }),
  infer: (types, a, op) => {
    const [A, B] = types;
    if (A?.kind !== 'tensor' || B?.kind !== 'tensor') return undefined;
    const r = A.shape.length;
    if (r < 2 || B.shape.length !== r || A.shape[r - 1] !== A.shape[r - 2])
      constraint(op, 'triangular_solve_c1', `a must be square matrices of b's rank, got ${typeToString(A)}`);
    if (A.shape.slice(0, -2).join('x') !== B.shape.slice(0, -2).join('x'))
      constraint(op, 'triangular_solve_c2', 'a and b must have the same batch dimensions');
    if (A.shape[r - 1] !== B.shape[a.left ? r - 2 : r - 1])
      constraint(
        op,
        'triangular_solve_c3',
        `a's size ${A.shape[r - 1]} does not match b's ${a.left ? 'rows' : 'columns'}`,
      );
    return [B];
  },
  evaluate: (args, a, op) => {
    const A = expectTensor(args[0]);
    const B = expectTensor(args[1]);
    const rt = resultTensorType(op);
    const kind = storageElem(rt.elem).kind;
    if (kind !== 'float' && kind !== 'complex')
      throw new RuntimeError(`triangular_solve on ${typeToString(rt)} is not supported`);
    // Work in complex arithmetic throughout; real types have zero imaginary parts.
    const at = (t: Tensor, i: number): Cx => {
      const v = getElem(t, i);
      return Array.isArray(v) ? (v as Cx) : [v as number, 0];
    };
    const out = makeTensor(rt);
    const n = A.type.shape[A.type.shape.length - 1]!;
    const bs = B.type.shape;
    const [m, k] = [bs[bs.length - 2]!, bs[bs.length - 1]!];
    const batch = size(B) / (m * k);
    for (let bi = 0; bi < batch; bi++) {
      const aoff = bi * n * n;
      // Element (i, j) of op(A), reading only A's chosen triangle.
      const opA = (i: number, j: number): Cx => {
        const [r, c] = a.transpose === 'NO_TRANSPOSE' ? [i, j] : [j, i];
        if (r === c && a.unit) return [1, 0];
        if (r !== c && (a.lower ? r < c : r > c)) return [0, 0];
        const v = at(A, aoff + r * n + c);
        return a.transpose === 'ADJOINT' ? [v[0], -v[1]] : v;
      };
      const effLower = a.transpose === 'NO_TRANSPOSE' ? a.lower : !a.lower;
      const X: Cx[] = Array.from({ length: m * k }, (_, i) => at(B, bi * m * k + i));
      if (a.left) {
        // op(A) X = B with op(A) m x m: forward/back substitution per column.
        const order = effLower ? [...Array(m).keys()] : [...Array(m).keys()].reverse();
        for (let col = 0; col < k; col++)
          for (const [pos, i] of order.entries()) {
            let s = X[i * k + col]!;
            for (const j of order.slice(0, pos)) s = cx.sub(s, cx.mul(opA(i, j), X[j * k + col]!));
            X[i * k + col] = cx.div(s, opA(i, i));
          }
      } else {
        // X op(A) = B with op(A) k x k.
        const order = effLower ? [...Array(k).keys()].reverse() : [...Array(k).keys()];
        for (let row = 0; row < m; row++)
          for (const [pos, j] of order.entries()) {
            let s = X[row * k + j]!;
            for (const i of order.slice(0, pos)) s = cx.sub(s, cx.mul(X[row * k + i]!, opA(i, j)));
            X[row * k + j] = cx.div(s, opA(j, j));
          }
      }
      X.forEach((v, i) => setElem(out, bi * m * k + i, kind === 'complex' ? v : v[0]));
    }
    return [out];
  },
});

export const LINALG = [fft, triangularSolve];
