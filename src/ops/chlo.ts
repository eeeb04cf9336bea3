/**
 * @fileoverview CHLO ops evaluated directly (the oracle needs no CHLO->StableHLO decomposition):
 * special functions, inverse trig/hyperbolic (real and complex), next_after, top_k, mulhi, scan.
 */
import { decodeFloat, encodeFloat } from '../ir/float-format.js';
import { intElem, storageElem, tensorType, type TensorType, type Type } from '../ir/types.js';
import {
  copyElem,
  expectTensor,
  forEachIndex,
  getElem,
  makeTensor,
  setElem,
  size,
  strides,
  type Elem,
  type RtValue,
  type Tensor,
} from '../ir/tensor.js';
import { constraint, defineOp, type OpDef } from './def.js';
import { inferSameShape, mapElements, resultTensorType, sameElemAsFirst } from './elementwise.js';
import type { Op } from '../ir/core.js';
import { SCALAR, type C } from './scalar.js';
import {
  besselI1e,
  cacosh,
  casin,
  casinh,
  catan,
  catanh,
  ccosh,
  csinh,
  digamma,
  erf,
  erfc,
  erfInv,
  lgamma,
} from './special.js';
import { RuntimeError } from '../diag/diagnostics.js';

/** Shape rule of the elementwise CHLO ops: elementwise_c1/c2 (one shape, one element type), and
 * the element kinds the op is defined on. */
function inferChlo(kinds: readonly ('int' | 'float' | 'complex')[]) {
  const same = inferSameShape(sameElemAsFirst);
  return (types: readonly Type[], a: unknown, op: Op): Type[] => {
    const result = same(types, a, op);
    const elem = storageElem((result[0] as TensorType).elem);
    if (!(kinds as readonly string[]).includes(elem.kind))
      constraint(op, 'operand_type', `${op.name} is defined on ${kinds.join(' and ')} elements, got ${elem.name}`);
    return result;
  };
}

function unary<const N extends string>(
  name: N,
  real: (x: number) => number,
  complex?: (z: C) => C,
): OpDef<any, `chlo.${N}`> {
  return defineOp({
    name: `chlo.${name}`,
    category: 'elementwise',
    arity: 1,
    infer: inferChlo(complex ? ['float', 'complex'] : ['float']),
    evaluate: (args, _a, op) => {
      const x = expectTensor(args[0]);
      const isComplex = storageElem(x.type.elem).kind === 'complex';
      if (isComplex && !complex) throw new RuntimeError(`chlo.${name} on complex is not supported`);
      return [
        mapElements([x], resultTensorType(op), (xs) => (isComplex ? complex!(xs[0] as C) : real(xs[0] as number))),
      ];
    },
  });
}

function nextAfter(fmtElem: ReturnType<typeof storageElem>, x: number, y: number): number {
  if (fmtElem.kind !== 'float') throw new RuntimeError('next_after needs a float type');
  const f = fmtElem.format;
  if (Number.isNaN(x) || Number.isNaN(y)) return NaN;
  if (x === y) return y;
  if (x === 0) {
    const tiny = decodeFloat(f, 1);
    return y > 0 ? tiny : -tiny;
  }
  const bits = BigInt(encodeFloat(f, x));
  const away = y > x === x > 0;
  return decodeFloat(f, away ? bits + 1n : bits - 1n);
}

const nextAfterOp = defineOp({
  name: 'chlo.next_after',
  category: 'elementwise',
  arity: 2,
  infer: inferChlo(['float']),
  evaluate: (args, _a, op) => {
    const ts = args.map((a) => expectTensor(a));
    const e = storageElem(ts[0]!.type.elem);
    return [mapElements(ts, resultTensorType(op), (xs) => nextAfter(e, xs[0] as number, xs[1] as number))];
  },
});

/** Descending order with NaN above +inf, ties by lower index (XLA TopK). */
function greater(a: Elem, b: Elem): boolean {
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isNaN(a)) return !Number.isNaN(b);
    if (Number.isNaN(b)) return false;
    if (a === 0 && b === 0) return Object.is(b, -0) && !Object.is(a, -0);
  }
  return (a as number) > (b as number);
}

const topK = defineOp({
  name: 'chlo.top_k',
  category: 'reduction',
  arity: 1,
  attrs: (r) => ({ k: r.int('k') }),
  // Values and their indices along the last dimension, k of them (CHLO's top_k).
  infer: (types, a, op) => {
    const x = types[0];
    if (x?.kind !== 'tensor') return undefined;
    const last = x.shape[x.shape.length - 1];
    if (last === undefined) return constraint(op, 'top_k', 'the operand must have rank 1 or more');
    if (a.k < 0 || (last >= 0 && a.k > last)) constraint(op, 'top_k', `k = ${a.k} outside [0, ${last}]`);
    const shape = [...x.shape.slice(0, -1), a.k];
    return [tensorType(shape, x.elem), tensorType(shape, intElem(32, true))];
  },
  evaluate: (args, a, op) => {
    const x = expectTensor(args[0]);
    const shape = x.type.shape;
    const last = shape[shape.length - 1]!;
    const vals = makeTensor(resultTensorType(op, 0));
    const idxs = makeTensor(resultTensorType(op, 1));
    const rows = size(x) / last;
    for (let r = 0; r < rows; r++) {
      const order = [...Array(last).keys()];
      order.sort((p, q) =>
        greater(getElem(x, r * last + p), getElem(x, r * last + q))
          ? -1
          : greater(getElem(x, r * last + q), getElem(x, r * last + p))
            ? 1
            : p - q,
      );
      for (let j = 0; j < a.k; j++) {
        copyElem(vals, r * a.k + j, x, r * last + order[j]!);
        setElem(idxs, r * a.k + j, BigInt(order[j]!));
      }
    }
    return [vals, idxs];
  },
});

const mulhi = defineOp({
  name: 'chlo.mulhi',
  category: 'elementwise',
  arity: 2,
  infer: inferChlo(['int']),
  evaluate: (args, _a, op) => {
    const ts = args.map((v) => expectTensor(v));
    const e = storageElem(ts[0]!.type.elem);
    if (e.kind !== 'int') throw new RuntimeError('mulhi needs an integer type');
    return [mapElements(ts, resultTensorType(op), (xs) => ((xs[0] as bigint) * (xs[1] as bigint)) >> BigInt(e.bits))];
  },
});

/** chlo.scan: carries thread through slices of the inputs along `dimension`; body returns (outputs..., carries...). */
const scan = defineOp({
  name: 'chlo.scan',
  category: 'control',
  attrs: (r) => ({ dim: r.int('dimension'), reverse: r.bool('is_reverse', false), nInputs: r.int('num_inputs') }),
  evaluate: (args, a, op, ctx) => {
    const inputs = args.slice(0, a.nInputs).map((v) => expectTensor(v));
    let carries: RtValue[] = args.slice(a.nInputs);
    const nOut = op.results.length - carries.length;
    const outs = Array.from({ length: nOut }, (_, i) => makeTensor(resultTensorType(op, i)));
    const len = inputs[0]!.type.shape[a.dim]!;
    const take = (t: Tensor, k: number): Tensor => {
      const shape = t.type.shape.filter((_, d) => d !== a.dim);
      const out = makeTensor(tensorType(shape, t.type.elem));
      const st = strides(t.type.shape);
      forEachIndex(shape, (idx, flat) => {
        const full = [...idx.slice(0, a.dim), k, ...idx.slice(a.dim)];
        copyElem(
          out,
          flat,
          t,
          full.reduce((s, v, d) => s + v * st[d]!, 0),
        );
      });
      return out;
    };
    for (let step = 0; step < len; step++) {
      const k = a.reverse ? len - 1 - step : step;
      const res = ctx.runRegion(op.regions[0]!, [...inputs.map((t) => take(t, k)), ...carries]);
      res.slice(0, nOut).forEach((v, i) => {
        const part = expectTensor(v);
        const o = outs[i]!;
        const st = strides(o.type.shape);
        forEachIndex(part.type.shape, (idx, flat) => {
          const full = [...idx.slice(0, a.dim), k, ...idx.slice(a.dim)];
          copyElem(
            o,
            full.reduce((s, v2, d) => s + v2 * st[d]!, 0),
            part,
            flat,
          );
        });
      });
      carries = res.slice(nOut);
    }
    return [...outs, ...carries];
  },
});

/**
 * chlo.ragged_dot with the ragged dimension among the lhs non-contracting dims: consecutive lhs
 * rows (along that dim) form groups of `group_sizes`; rows of group g contract with rhs[g].
 * Rows past the sum of the group sizes give zeros.
 */
const raggedDot = defineOp({
  name: 'chlo.ragged_dot',
  category: 'contraction',
  attrs: (r) => {
    const d = r.struct('ragged_dot_dimension_numbers');
    return {
      lb: d.ints('lhs_batching_dimensions', []),
      rb: d.ints('rhs_batching_dimensions', []),
      lc: d.ints('lhs_contracting_dimensions', []),
      rc: d.ints('rhs_contracting_dimensions', []),
      ragged: d.ints('lhs_ragged_dimensions', []),
      group: d.ints('rhs_group_dimensions', []),
    };
  },
  evaluate: (args, a, op) => {
    const [lhs, rhs, sizes] = args.map((v) => expectTensor(v)) as [Tensor, Tensor, Tensor];
    const ragged = a.ragged[0]!;
    const groupDim = a.group[0];
    if (groupDim === undefined || a.lc.includes(ragged) || a.lb.includes(ragged) || sizes.type.shape.length !== 1)
      throw new RuntimeError(
        'ragged_dot: only a ragged lhs non-contracting dimension with 1-D group_sizes is supported',
      );
    const ls = lhs.type.shape;
    const rs = rhs.type.shape;
    const lst = strides(ls);
    const rst = strides(rs);
    const lf = [...ls.keys()].filter((i) => !a.lb.includes(i) && !a.lc.includes(i));
    const rf = [...rs.keys()].filter((i) => !a.rb.includes(i) && !a.rc.includes(i) && i !== groupDim);
    const bounds: number[] = [];
    let acc = 0;
    for (let g = 0; g < size(sizes); g++) bounds.push((acc += Number(getElem(sizes, g))));
    const out = makeTensor(resultTensorType(op));
    const nb = a.lb.length;
    const raggedPos = nb + lf.indexOf(ragged);
    forEachIndex(out.type.shape, (idx, flat) => {
      const g = bounds.findIndex((b) => idx[raggedPos]! < b);
      if (g < 0) return;
      let lbase = 0;
      let rbase = g * rst[groupDim]!;
      a.lb.forEach((d, k) => (lbase += idx[k]! * lst[d]!));
      a.rb.forEach((d, k) => (rbase += idx[k]! * rst[d]!));
      lf.forEach((d, k) => (lbase += idx[nb + k]! * lst[d]!));
      rf.forEach((d, k) => (rbase += idx[nb + lf.length + k]! * rst[d]!));
      let sum = 0;
      forEachIndex(
        a.lc.map((d) => ls[d]!),
        (c) => {
          let lo = lbase;
          let ro = rbase;
          c.forEach((v, k) => {
            lo += v * lst[a.lc[k]!]!;
            ro += v * rst[a.rc[k]!]!;
          });
          sum += Number(getElem(lhs, lo)) * Number(getElem(rhs, ro));
        },
      );
      setElem(out, flat, storageElem(out.type.elem).kind === 'int' ? BigInt(sum) : sum);
    });
    return [out];
  },
});

export const CHLO = [
  raggedDot,
  unary('erf', erf),
  unary('erfc', erfc),
  unary('erf_inv', erfInv),
  unary('lgamma', lgamma),
  unary('digamma', digamma),
  unary('bessel_i1e', besselI1e),
  unary('acosh', Math.acosh, cacosh),
  unary('acos', Math.acos),
  unary('asin', Math.asin, casin),
  unary('asinh', Math.asinh, casinh),
  unary('atan', Math.atan, catan),
  unary('atanh', Math.atanh, catanh),
  unary('cosh', Math.cosh, ccosh),
  unary('sinh', Math.sinh, csinh),
  unary('tan', Math.tan, SCALAR['tan']!.complex as (z: C) => C),
  nextAfterOp,
  topK,
  mulhi,
  scan,
];
