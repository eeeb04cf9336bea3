/**
 * @fileoverview Contractions: dot_general (and the deprecated dot) and convolution (fft and
 * triangular_solve are linalg.ts's). Floats accumulate in f64 and round once to the result type; integers
 * accumulate exactly and wrap once; complex accumulates (re, im) pairs.
 */
import type { Attr } from '../ir/attrs.js';
import type { Op } from '../ir/core.js';
import { rounder } from '../ir/float-format.js';
import { storageElem, tensorType, typeToString, type FloatElem, type TensorType, type Type } from '../ir/types.js';
import {
  expectTensor,
  flatIndex,
  forEachIndex,
  getElem,
  makeTensor,
  setElem,
  strides,
  type Elem,
  type Tensor,
} from '../ir/tensor.js';
import { constraint, defineOp } from './def.js';
import { convertElem, resultTensorType } from './elementwise.js';

export interface DotDims {
  lb: number[];
  rb: number[];
  lc: number[];
  rc: number[];
}

/** Element accessor converting to the result's element class (mixed-type dots). */
function reader(t: Tensor, rt: TensorType): (i: number) => Elem {
  if (t.type.elem.name === rt.elem.name) return (i) => getElem(t, i);
  return (i) => convertElem(getElem(t, i), t.type.elem, rt.elem);
}

/** Sum-of-products accumulator for the result's element class. */
function accumulator(rt: TensorType): { zero: () => Elem; fma: (acc: Elem, a: Elem, b: Elem) => Elem } {
  const e = storageElem(rt.elem);
  if (e.kind === 'complex')
    return {
      zero: () => [0, 0],
      fma: (acc, a, b) => {
        const [x, y] = a as [number, number];
        const [u, v] = b as [number, number];
        const [p, q] = acc as [number, number];
        return [p + x * u - y * v, q + x * v + y * u];
      },
    };
  if (e.kind === 'int') return { zero: () => 0n, fma: (acc, a, b) => (acc as bigint) + (a as bigint) * (b as bigint) };
  if (e.kind === 'bool')
    return { zero: () => 0, fma: (acc, a, b) => (acc as number) | ((a as number) & (b as number)) };
  return { zero: () => 0, fma: (acc, a, b) => (acc as number) + (a as number) * (b as number) };
}

/** acc[c] += a * x[base + c] for c < n (a small monomorphic function: the JIT's hot loop). */
function axpy(acc: Float64Array, a: number, x: Float64Array, base: number, n: number): void {
  for (let c = 0; c < n; c++) acc[c] = acc[c]! + a * x[base + c]!;
}

/**
 * Four rows' accumulators each take four terms per column: acc_r[c] += a[r][0] * x[b0 + c], then
 * a[r][1] * x[b1 + c], ... JavaScript adds left to right, so each accumulator sees its terms one at
 * a time in the order of k, exactly as axpy applied four times would; only the memory traffic
 * shrinks (x read once for four rows, each accumulator loaded once for four terms).
 */
function axpy4x4(acc: Float64Array[], a: Float64Array, x: Float64Array, base: readonly number[], n: number): void {
  const [acc0, acc1, acc2, acc3] = acc as [Float64Array, Float64Array, Float64Array, Float64Array];
  const [b0, b1, b2, b3] = base as [number, number, number, number];
  const [a00, a01, a02, a03, a10, a11, a12, a13] = [a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!];
  const [a20, a21, a22, a23, a30, a31, a32, a33] = [a[8]!, a[9]!, a[10]!, a[11]!, a[12]!, a[13]!, a[14]!, a[15]!];
  for (let c = 0; c < n; c++) {
    const x0 = x[b0 + c]!;
    const x1 = x[b1 + c]!;
    const x2 = x[b2 + c]!;
    const x3 = x[b3 + c]!;
    acc0[c] = acc0[c]! + a00 * x0 + a01 * x1 + a02 * x2 + a03 * x3;
    acc1[c] = acc1[c]! + a10 * x0 + a11 * x1 + a12 * x2 + a13 * x3;
    acc2[c] = acc2[c]! + a20 * x0 + a21 * x1 + a22 * x2 + a23 * x3;
    acc3[c] = acc3[c]! + a30 * x0 + a31 * x1 + a32 * x2 + a33 * x3;
  }
}

/** Both operands and the result of one float type: the contractions' fast paths (no conversion). */
function floatsOfResultType(lhs: Tensor, rhs: Tensor, rt: TensorType): boolean {
  return (
    storageElem(rt.elem).kind === 'float' && lhs.type.elem.name === rt.elem.name && rhs.type.elem.name === rt.elem.name
  );
}

export function dotGeneral(lhs: Tensor, rhs: Tensor, d: DotDims, rt: TensorType): Tensor {
  const ls = lhs.type.shape;
  const rs = rhs.type.shape;
  const lst = strides(ls);
  const rst = strides(rs);
  const lf = [...ls.keys()].filter((i) => !d.lb.includes(i) && !d.lc.includes(i));
  const rf = [...rs.keys()].filter((i) => !d.rb.includes(i) && !d.rc.includes(i));
  const out = makeTensor(rt);
  const cShape = d.lc.map((i) => ls[i]!);
  // Offsets of every contraction index in lhs and rhs.
  const lOff: number[] = [];
  const rOff: number[] = [];
  forEachIndex(cShape, (idx) => {
    lOff.push(idx.reduce((s, v, k) => s + v * lst[d.lc[k]!]!, 0));
    rOff.push(idx.reduce((s, v, k) => s + v * rst[d.rc[k]!]!, 0));
  });
  const nb = d.lb.length;
  const nlf = lf.length;
  /** Offsets in lhs and rhs of a result index's batch and lhs-free parts. */
  const rowBase = (idx: readonly number[]): [number, number] => {
    let lb = 0;
    let rb = 0;
    for (let k = 0; k < nb; k++) {
      lb += idx[k]! * lst[d.lb[k]!]!;
      rb += idx[k]! * rst[d.rb[k]!]!;
    }
    for (let k = 0; k < nlf; k++) lb += idx[nb + k]! * lst[lf[k]!]!;
    return [lb, rb];
  };
  const fast = floatsOfResultType(lhs, rhs, rt);
  const K = lOff.length;
  if (fast) {
    // Row by row (batch and lhs-free index), k outer and rhs-free index inner, so the right operand
    // is read along its rows. Each result still sums its K products in increasing k, in f64, and
    // is rounded once: the same numbers as the element-by-element loop below.
    const L = lhs.data as Float64Array;
    const R = rhs.data as Float64Array;
    const rfShape = rf.map((i) => rs[i]!);
    const colOff: number[] = [];
    forEachIndex(rfShape, (idx) => colOff.push(idx.reduce((s, v, k) => s + v * rst[rf[k]!]!, 0)));
    const cols = colOff.length;
    const dense = colOff.every((o, c) => o === c); // rhs-free indexes are R's last, contiguous dims
    const rowShape = rt.shape.slice(0, nb + nlf);
    const lbs: number[] = [];
    const rbs: number[] = [];
    forEachIndex(rowShape, (idx) => {
      const [lb, rb] = rowBase(idx);
      lbs.push(lb);
      rbs.push(rb);
    });
    const acc = [0, 1, 2, 3].map(() => new Float64Array(cols));
    const a16 = new Float64Array(16);
    const kBase = [0, 0, 0, 0];
    // Where the rhs-free elements are not contiguous (attention's k^T), each batch's K x cols panel
    // of R is first copied densely, so the same kernels run on it.
    const panel = dense ? R : new Float64Array(K * cols);
    let packedFor = -1;
    const od = out.data as Float64Array;
    const round = rounder((storageElem(rt.elem) as FloatElem).format);
    for (let row = 0; row < lbs.length;) {
      const rb = rbs[row]!;
      if (!dense && packedFor !== rb) {
        for (let k = 0; k < K; k++) for (let c = 0; c < cols; c++) panel[k * cols + c] = R[rb + rOff[k]! + colOff[c]!]!;
        packedFor = rb;
      }
      const base = (k: number): number => (dense ? rb + rOff[k]! : k * cols);
      // Four rows of one batch together, then the batch's last rows one by one.
      const rows = row + 4 <= lbs.length && [1, 2, 3].every((r) => rbs[row + r] === rb) ? 4 : 1;
      for (let r = 0; r < rows; r++) acc[r]!.fill(0);
      let k = 0;
      if (rows === 4)
        for (; k + 4 <= K; k += 4) {
          for (let r = 0; r < 4; r++) for (let j = 0; j < 4; j++) a16[4 * r + j] = L[lbs[row + r]! + lOff[k + j]!]!;
          for (let j = 0; j < 4; j++) kBase[j] = base(k + j);
          axpy4x4(acc, a16, panel, kBase, cols);
        }
      for (; k < K; k++)
        for (let r = 0; r < rows; r++) axpy(acc[r]!, L[lbs[row + r]! + lOff[k]!]!, panel, base(k), cols);
      for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) od[(row + r) * cols + c] = round(acc[r]![c]!);
      row += rows;
    }
    return out;
  }
  const la = reader(lhs, rt);
  const ra = reader(rhs, rt);
  const acc = accumulator(rt);
  forEachIndex(rt.shape, (idx, flat) => {
    const [lb, rowRb] = rowBase(idx);
    let rb = rowRb;
    for (let k = 0; k < rf.length; k++) rb += idx[nb + nlf + k]! * rst[rf[k]!]!;
    let s = acc.zero();
    for (let k = 0; k < K; k++) s = acc.fma(s, la(lb + lOff[k]!), ra(rb + rOff[k]!));
    setElem(out, flat, s);
  });
  return out;
}

function inferDot(types: readonly Type[], d: DotDims, op: Op): Type[] | undefined {
  const [l, r] = types;
  if (l?.kind !== 'tensor' || r?.kind !== 'tensor') return constraint(op, 'dot_general_c1', 'operands must be tensors');
  if (d.lb.length !== d.rb.length)
    constraint(op, 'dot_general_c1', 'lhs and rhs batching dimensions must have the same size');
  if (d.lc.length !== d.rc.length)
    constraint(op, 'dot_general_c2', 'lhs and rhs contracting dimensions must have the same size');
  d.lb.forEach((x, i) => {
    if (l.shape[x] !== r.shape[d.rb[i]!])
      constraint(
        op,
        'dot_general_c11',
        `batch dims differ: lhs dim ${x} (${l.shape[x]}) vs rhs dim ${d.rb[i]} (${r.shape[d.rb[i]!]})`,
      );
  });
  d.lc.forEach((x, i) => {
    if (x < 0 || x >= l.shape.length) constraint(op, 'dot_general_c5', `lhs contracting dimension ${x} out of range`);
    const rc = d.rc[i]!;
    if (rc < 0 || rc >= r.shape.length)
      constraint(op, 'dot_general_c6', `rhs contracting dimension ${rc} out of range`);
    if (l.shape[x] !== r.shape[rc])
      constraint(
        op,
        'dot_general_c12',
        `contracting dims differ: lhs dim ${x} (${l.shape[x]}) vs rhs dim ${rc} (${r.shape[rc]})`,
      );
  });
  const res = op.results[0]?.type;
  const lf = [...l.shape.keys()].filter((i) => !d.lb.includes(i) && !d.lc.includes(i));
  const rf = [...r.shape.keys()].filter((i) => !d.rb.includes(i) && !d.rc.includes(i));
  const shape = [...d.lb.map((i) => l.shape[i]!), ...lf.map((i) => l.shape[i]!), ...rf.map((i) => r.shape[i]!)];
  return [tensorType(shape, res?.kind === 'tensor' ? res.elem : l.elem)];
}

const dotGeneralOp = defineOp({
  name: 'stablehlo.dot_general',
  category: 'contraction',
  spec: 'dot_general',
  attrs: (r): DotDims => {
    const d = r.has('dot_dimension_numbers') ? r.struct('dot_dimension_numbers') : r;
    return {
      lb: d.ints('lhs_batching_dimensions', []),
      rb: d.ints('rhs_batching_dimensions', []),
      lc: d.ints('lhs_contracting_dimensions', []),
      rc: d.ints('rhs_contracting_dimensions', []),
    };
  },
  infer: inferDot,
  evaluate: (args, d, op) => [dotGeneral(expectTensor(args[0]), expectTensor(args[1]), d, resultTensorType(op))],
});

/** The deprecated dot's dimension numbers: its lhs's last dim contracted with its rhs's first. */
export function dotDims(l: TensorType): DotDims {
  return { lb: [], rb: [], lc: [l.shape.length - 1], rc: [0] };
}

const dot = defineOp({
  name: 'stablehlo.dot',
  category: 'contraction',
  spec: 'dot',
  infer: (types, _a, op) => {
    const l = types[0];
    if (l?.kind !== 'tensor') return constraint(op, 'dot_c1', 'operands must be tensors');
    return inferDot(types, dotDims(l), op);
  },
  evaluate: (args, _a, op) => {
    const l = expectTensor(args[0]);
    return [dotGeneral(l, expectTensor(args[1]), dotDims(l.type), resultTensorType(op))];
  },
});

// ---- convolution -------------------------------------------------------------------------------
export interface ConvAttrs {
  inBatch: number;
  inFeature: number;
  inSpatial: number[];
  kIn: number;
  kOut: number;
  kSpatial: number[];
  outBatch: number;
  outFeature: number;
  outSpatial: number[];
  strides: number[];
  padding: number[][];
  lhsDil: number[];
  rhsDil: number[];
  reversal: boolean[];
  featureGroups: number;
  batchGroups: number;
}

function convDimsFromLayout(
  a: Extract<Attr, { kind: 'convDims' }>,
): Pick<
  ConvAttrs,
  'inBatch' | 'inFeature' | 'inSpatial' | 'kIn' | 'kOut' | 'kSpatial' | 'outBatch' | 'outFeature' | 'outSpatial'
> {
  const spatial = (xs: readonly string[]): number[] => {
    const out: number[] = [];
    xs.forEach((c, i) => {
      if (/^\d+$/.test(c)) out[Number(c)] = i;
    });
    return out;
  };
  return {
    inBatch: a.lhs.indexOf('b'),
    inFeature: a.lhs.indexOf('f'),
    inSpatial: spatial(a.lhs),
    kIn: a.rhs.indexOf('i'),
    kOut: a.rhs.indexOf('o'),
    kSpatial: spatial(a.rhs),
    outBatch: a.out.indexOf('b'),
    outFeature: a.out.indexOf('f'),
    outSpatial: spatial(a.out),
  };
}

function readConvAttrs(r: import('../ir/attrs.js').AttrReader): ConvAttrs {
  const dn = r.raw('dimension_numbers');
  let dims: ReturnType<typeof convDimsFromLayout>;
  if (dn?.kind === 'convDims') dims = convDimsFromLayout(dn);
  else {
    const s = r.struct('dimension_numbers');
    dims = {
      inBatch: s.int('input_batch_dimension'),
      inFeature: s.int('input_feature_dimension'),
      inSpatial: s.ints('input_spatial_dimensions', []),
      kIn: s.int('kernel_input_feature_dimension'),
      kOut: s.int('kernel_output_feature_dimension'),
      kSpatial: s.ints('kernel_spatial_dimensions', []),
      outBatch: s.int('output_batch_dimension'),
      outFeature: s.int('output_feature_dimension'),
      outSpatial: s.ints('output_spatial_dimensions', []),
    };
  }
  const n = dims.inSpatial.length;
  const ones = new Array<number>(n).fill(1);
  return {
    ...dims,
    strides: r.ints('window_strides', ones),
    padding: r.intMatrix(
      'padding',
      ones.map(() => [0, 0]),
    ),
    lhsDil: r.ints('lhs_dilation', ones),
    rhsDil: r.ints('rhs_dilation', ones),
    reversal: r.bools(
      'window_reversal',
      ones.map(() => false),
    ),
    featureGroups: r.int('feature_group_count', 1),
    batchGroups: r.int('batch_group_count', 1),
  };
}

const convolution = defineOp({
  name: 'stablehlo.convolution',
  category: 'contraction',
  spec: 'convolution',
  attrs: readConvAttrs,
  infer: inferConvolution,
  evaluate: (args, c, op) => [convolve(expectTensor(args[0]), expectTensor(args[1]), c, resultTensorType(op))],
});

/**
 * convolution's result shape (spec: the batch divided by batch_group_count, the kernel's output
 * features, each spatial dim (dilated, padded input - dilated window) / stride + 1), with the
 * dimension-number and group constraints it needs to be computable. Element types: both floats,
 * both integers or quantized (the result's own stays as declared).
 */
function inferConvolution(types: readonly Type[], c: ConvAttrs, op: Op): Type[] | undefined {
  const [lhs, rhs] = types;
  const declared = op.results[0]?.type;
  if (lhs?.kind !== 'tensor' || rhs?.kind !== 'tensor' || declared?.kind !== 'tensor') return undefined;
  const rank = lhs.shape.length;
  const n = c.inSpatial.length;
  const dimsOk = (ds: readonly number[], r: number): boolean =>
    ds.every((d) => d >= 0 && d < r) && new Set(ds).size === ds.length;
  if (rhs.shape.length !== rank || declared.shape.length !== rank || n !== rank - 2)
    constraint(op, 'convolution_c1', `operands and result must have rank ${n + 2}`);
  // Every spatial index 0..n-1 named once in each layout (a missing one leaves a hole).
  const complete = (ds: readonly number[]): boolean =>
    ds.length === n && [...ds.keys()].every((i) => ds[i] !== undefined);
  if (
    !dimsOk([c.inBatch, c.inFeature, ...c.inSpatial], rank) ||
    !dimsOk([c.kIn, c.kOut, ...c.kSpatial], rank) ||
    !dimsOk([c.outBatch, c.outFeature, ...c.outSpatial], rank) ||
    !complete(c.inSpatial) ||
    !complete(c.kSpatial) ||
    !complete(c.outSpatial)
  )
    constraint(op, 'convolution_c13', 'dimension numbers must be distinct and within the rank');
  for (const [name, xs] of [
    ['window_strides', c.strides],
    ['lhs_dilation', c.lhsDil],
    ['rhs_dilation', c.rhsDil],
  ] as const)
    if (xs.length !== n || xs.some((x) => x < 1))
      constraint(op, 'convolution_c4', `${name} needs ${n} positive entries`);
  if (c.padding.length !== n) constraint(op, 'convolution_c5', `padding needs ${n} [low, high] pairs`);
  const kind = (t: TensorType): string =>
    t.elem.kind === 'quant'
      ? 'quant'
      : storageElem(t.elem).kind === 'int' || storageElem(t.elem).kind === 'bool'
        ? 'int'
        : storageElem(t.elem).kind;
  if (kind(lhs) !== 'quant' && kind(rhs) !== 'quant' && kind(lhs) !== kind(rhs))
    constraint(op, 'convolution_c27', `lhs ${typeToString(lhs)} and rhs ${typeToString(rhs)} mix integers and floats`);
  const [g, bg] = [c.featureGroups, c.batchGroups];
  if (g < 1 || bg < 1 || (g > 1 && bg > 1))
    constraint(
      op,
      'convolution_c10',
      'feature_group_count and batch_group_count must be positive and not both above 1',
    );
  if (lhs.shape[c.inFeature]! % g !== 0 || lhs.shape[c.inFeature]! / g !== rhs.shape[c.kIn])
    constraint(
      op,
      'convolution_c11',
      `input features ${lhs.shape[c.inFeature]} are not ${g} group(s) of the kernel's ${rhs.shape[c.kIn]}`,
    );
  if (lhs.shape[c.inBatch]! % bg !== 0 || rhs.shape[c.kOut]! % bg !== 0 || rhs.shape[c.kOut]! % g !== 0)
    constraint(op, 'convolution_c12', 'batch or output features do not divide by the group counts');
  const shape = new Array<number>(rank);
  shape[c.outBatch] = lhs.shape[c.inBatch]! / bg;
  shape[c.outFeature] = rhs.shape[c.kOut]!;
  for (let i = 0; i < n; i++) {
    const input = (lhs.shape[c.inSpatial[i]!]! - 1) * c.lhsDil[i]! + 1 + c.padding[i]![0]! + c.padding[i]![1]!;
    const window = (rhs.shape[c.kSpatial[i]!]! - 1) * c.rhsDil[i]! + 1;
    shape[c.outSpatial[i]!] = input < window ? 0 : Math.floor((input - window) / c.strides[i]!) + 1;
  }
  return [tensorType(shape, declared.elem)];
}

/** dynamic_conv: convolution whose padding comes from a tensor<Nx2> operand. */
const dynamicConv = defineOp({
  name: 'stablehlo.dynamic_conv',
  category: 'contraction',
  spec: 'dynamic_conv',
  arity: 3,
  attrs: readConvAttrs,
  // The padding operand's shape; convolution's other constraints are not applied: upstream's own
  // dynamic_conv tests give more window strides than spatial dimensions, and StableHLO accepts them.
  infer: (types, c, op) => {
    const p = types[2];
    const n = c.inSpatial.length;
    const bad =
      p?.kind !== 'tensor' ||
      p.elem.kind !== 'int' ||
      p.shape.length !== 2 ||
      (p.shape[0]! >= 0 && p.shape[0] !== n) ||
      (p.shape[1]! >= 0 && p.shape[1] !== 2);
    if (bad)
      constraint(
        op,
        'dynamic_conv_c4',
        `padding must be a ${n}x2 integer tensor${p ? `, got ${typeToString(p)}` : ''}`,
      );
    return undefined;
  },
  evaluate: (args, c, op) => {
    const p = expectTensor(args[2]);
    const padding = c.inSpatial.map((_, d) => [Number(getElem(p, 2 * d)), Number(getElem(p, 2 * d + 1))]);
    return [convolve(expectTensor(args[0]), expectTensor(args[1]), { ...c, padding }, resultTensorType(op))];
  },
});

/**
 * Where kernel tap `k` of output position `o` reads, along the spatial dims: writes the input's and
 * the kernel's offsets into `at` and returns true, or returns false where the tap falls in the
 * padding or between lhs-dilated inputs. Window strides, rhs dilation and reversal as the spec's
 * convolution defines them.
 */
function spatialTaps(
  c: ConvAttrs,
  inShape: readonly number[],
  inStrides: readonly number[],
  kernelStrides: readonly number[],
  kernelSpatial: readonly number[],
): (o: readonly number[], k: readonly number[], at: number[]) => boolean {
  const dilatedIn = c.inSpatial.map((d, i) => (inShape[d]! - 1) * c.lhsDil[i]! + 1);
  return (o, k, at) => {
    let [lo, ko] = [0, 0];
    for (let d = 0; d < c.inSpatial.length; d++) {
      const kk = c.reversal[d] ? kernelSpatial[d]! - 1 - k[d]! : k[d]!;
      const p = o[c.outSpatial[d]!]! * c.strides[d]! + k[d]! * c.rhsDil[d]! - c.padding[d]![0]!;
      if (p < 0 || p >= dilatedIn[d]! || p % c.lhsDil[d]! !== 0) return false;
      lo += (p / c.lhsDil[d]!) * inStrides[c.inSpatial[d]!]!;
      ko += kk * kernelStrides[c.kSpatial[d]!]!;
    }
    [at[0], at[1]] = [lo, ko];
    return true;
  };
}

/**
 * The float convolution without batch groups, for speed: per output position and feature group, the
 * group's output features accumulate together, a multiple of one kernel row per input feature
 * (contiguous: the kernel is copied in HWIO order first). Each output still sums its products in
 * the order convolve's loop does (kernel positions, then input features), in f64, rounded once:
 * the same numbers.
 */
function convolveFloat(lhs: Tensor, rhs: Tensor, c: ConvAttrs, rt: TensorType): Tensor {
  const out = makeTensor(rt);
  const L = lhs.data as Float64Array;
  const ls = lhs.type.shape;
  const ks = rhs.type.shape;
  const [lst, ost] = [strides(ls), strides(rt.shape)];
  // The kernel copied so that output features are innermost (OIHW, say, read along O is strided).
  const kst = new Array<number>(ks.length);
  let stride = 1;
  for (const d of [c.kOut, c.kIn, ...[...c.kSpatial].reverse()]) [kst[d], stride] = [stride, stride * ks[d]!];
  const K = new Float64Array(rhs.data.length);
  forEachIndex(ks, (idx, flat) => (K[flatIndex(idx, kst)] = (rhs.data as Float64Array)[flat]!));
  const cInPerGroup = ls[c.inFeature]! / c.featureGroups;
  const perGroup = rt.shape[c.outFeature]! / c.featureGroups;
  const kernelSpatial = c.kSpatial.map((d) => ks[d]!);
  const tap = spatialTaps(c, ls, lst, kst, kernelSpatial);
  const at = [0, 0];
  const [lf, kf, of] = [lst[c.inFeature]!, kst[c.kIn]!, ost[c.outFeature]!];
  const positions = rt.shape.map((d, i) => (i === c.outFeature ? 1 : d));
  const acc = new Float64Array(perGroup);
  forEachIndex(positions, (o) => {
    const o0 = flatIndex(o, ost);
    const lb = o[c.outBatch]! * lst[c.inBatch]!;
    for (let g = 0; g < c.featureGroups; g++) {
      acc.fill(0);
      forEachIndex(kernelSpatial, (k) => {
        if (!tap(o, k, at)) return;
        const lbase = lb + g * cInPerGroup * lf + at[0]!;
        const kbase = g * perGroup + at[1]!;
        for (let i = 0; i < cInPerGroup; i++) axpy(acc, L[lbase + i * lf]!, K, kbase + i * kf, perGroup);
      });
      for (let j = 0; j < perGroup; j++) setElem(out, o0 + (g * perGroup + j) * of, acc[j]!);
    }
  });
  return out;
}

function convolve(lhs: Tensor, rhs: Tensor, c: ConvAttrs, rt: TensorType): Tensor {
  const fast = floatsOfResultType(lhs, rhs, rt);
  if (fast && c.batchGroups === 1) return convolveFloat(lhs, rhs, c, rt);
  const out = makeTensor(rt);
  const ls = lhs.type.shape;
  const ks = rhs.type.shape;
  const lst = strides(ls);
  const kst = strides(ks);
  const cIn = ls[c.inFeature]!;
  const cInPerGroup = cIn / c.featureGroups;
  const cOut = rt.shape[c.outFeature]!;
  const outPerFeatureGroup = cOut / c.featureGroups;
  const outPerBatchGroup = cOut / c.batchGroups;
  const outBatchSize = rt.shape[c.outBatch]!;
  const kernelSpatial = c.kSpatial.map((d) => ks[d]!);
  const L = lhs.data as Float64Array;
  const K = rhs.data as Float64Array;
  const la = reader(lhs, rt);
  const ka = reader(rhs, rt);
  const acc = accumulator(rt);
  const tap = spatialTaps(c, ls, lst, kst, kernelSpatial);
  const at = [0, 0];
  forEachIndex(rt.shape, (o, flat) => {
    const b = o[c.outBatch]!;
    const f = o[c.outFeature]!;
    const g = Math.floor(f / outPerFeatureGroup);
    const bg = Math.floor(f / outPerBatchGroup);
    const lb = (bg * outBatchSize + b) * lst[c.inBatch]!;
    let sF = 0;
    let s = acc.zero();
    forEachIndex(kernelSpatial, (k) => {
      if (!tap(o, k, at)) return;
      const lbase = lb + at[0]!;
      const kbase = f * kst[c.kOut]! + at[1]!;
      const lf = lst[c.inFeature]!;
      const kf = kst[c.kIn]!;
      const l0 = lbase + g * cInPerGroup * lf;
      if (fast) for (let i = 0; i < cInPerGroup; i++) sF += L[l0 + i * lf]! * K[kbase + i * kf]!;
      else for (let i = 0; i < cInPerGroup; i++) s = acc.fma(s, la(l0 + i * lf), ka(kbase + i * kf));
    });
    setElem(out, flat, fast ? sF : s);
  });
  return out;
}

export const CONTRACTION = [dotGeneralOp, dot, convolution, dynamicConv];
