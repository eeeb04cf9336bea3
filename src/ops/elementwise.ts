/**
 * @fileoverview Elementwise ops: the arithmetic/logical/transcendental families driven by the
 * SCALAR table, plus compare, select, clamp, convert, bitcast_convert, is_finite, real, imag,
 * complex and reduce_precision.
 */
import type { Op } from '../ir/core.js';
import { maxFinite, rounder } from '../ir/float-format.js';
import {
  complexElem,
  sameShape,
  storageElem,
  tensorType,
  typeToString,
  type ElemType,
  type FloatElem,
  type TensorType,
  type Type,
} from '../ir/types.js';
import {
  elemBits,
  elemBitWidth,
  expectTensor,
  getElem,
  makeTensor,
  setElem,
  setElemBits,
  size,
  type Elem,
  type Tensor,
} from '../ir/tensor.js';
import { constraint, defineOp, tensorOperands, type OpDef } from './def.js';
import { SCALAR, type C } from './scalar.js';
import { RuntimeError } from '../diag/diagnostics.js';

export function resultTensorType(op: Op, i = 0): TensorType {
  const t = op.results[i]?.type;
  if (!t || t.kind !== 'tensor') throw new RuntimeError(`result ${i} of ${op.name} must be a tensor`);
  return t;
}

/** Elementwise shape rule: operands share one shape; result has it too. */
export function inferSameShape(resultElem: (ops: TensorType[], op: Op) => ElemType) {
  return (types: readonly Type[], _a: unknown, op: Op): Type[] => {
    const ts = tensorOperands(op, types);
    const first = ts[0]!;
    for (const t of ts)
      if (!sameShape(t.shape, first.shape))
        constraint(op, 'elementwise_c1', `operand shapes differ: ${ts.map(typeToString).join(', ')}`);
    // Quantized operands may carry different scales; anything else shares one element type.
    if (!ts.some((t) => t.elem.kind === 'quant') && ts.some((t) => t.elem.name !== first.elem.name))
      constraint(op, 'elementwise_c2', `operand element types differ: ${ts.map(typeToString).join(', ')}`);
    // Quantized results keep their declared parameters; only the shape is inferred then.
    const declared = op.results[0]?.type;
    const elem = declared?.kind === 'tensor' && declared.elem.kind === 'quant' ? declared.elem : resultElem(ts, op);
    return [tensorType(first.shape, elem)];
  };
}
export const sameElemAsFirst = (ts: TensorType[]): ElemType => ts[0]!.elem;

/** Applies `f` to every element position of same-shaped operands. */
export function mapElements(args: readonly Tensor[], type: TensorType, f: (xs: Elem[]) => Elem): Tensor {
  const out = makeTensor(type);
  const n = size(out);
  const xs = new Array<Elem>(args.length);
  const result = storageElem(type.elem);
  if (result.kind === 'float' && args.every((t) => storageElem(t.type.elem).kind !== 'complex')) {
    // Real operands hold one element per array slot: read and round them without getElem/setElem's
    // per-element dispatch on the element type (the interpreter's hottest loop on big models).
    const data = args.map((t) => t.data as ArrayLike<number | bigint>);
    const od = out.data as Float64Array;
    const round = rounder(result.format);
    for (let i = 0; i < n; i++) {
      for (let k = 0; k < data.length; k++) xs[k] = data[k]![i]!;
      od[i] = round(f(xs) as number);
    }
    return out;
  }
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < args.length; k++) xs[k] = getElem(args[k]!, i);
    setElem(out, i, f(xs));
  }
  return out;
}

/** mapElements for a real unary or binary float function, called with the operands' elements directly. */
function mapFloats(args: readonly Tensor[], type: TensorType, g: (...a: number[]) => number): Tensor {
  const out = makeTensor(type);
  const od = out.data as Float64Array;
  const round = rounder((storageElem(type.elem) as FloatElem).format);
  const [x, y] = args.map((t) => t.data as Float64Array) as [Float64Array, Float64Array | undefined];
  if (y) for (let i = 0; i < od.length; i++) od[i] = round(g(x[i]!, y[i]!));
  else for (let i = 0; i < od.length; i++) od[i] = round(g(x[i]!));
  return out;
}

function scalarOp<const N extends string>(name: N, arity: 1 | 2): OpDef<any, `stablehlo.${N}`> {
  const impl = SCALAR[name]!;
  return defineOp({
    name: `stablehlo.${name}`,
    category: 'elementwise',
    spec: name,
    arity,
    infer: inferSameShape((ts) => (name === 'abs' && ts[0]!.elem.kind === 'complex' ? ts[0]!.elem.part : ts[0]!.elem)),
    evaluate: (args, _a, op) => {
      const ts = args.map((a) => expectTensor(a));
      const rt = resultTensorType(op);
      const e = storageElem(ts[0]!.type.elem);
      let f: (xs: Elem[]) => Elem;
      if (name === 'abs' && e.kind === 'complex') f = (xs) => Math.hypot((xs[0] as C)[0], (xs[0] as C)[1]);
      else if (e.kind === 'float' && impl.float) {
        const g = impl.float;
        if (storageElem(rt.elem).kind === 'float') return [mapFloats(ts, rt, g)];
        f = arity === 1 ? (xs) => g(xs[0] as number) : (xs) => g(xs[0] as number, xs[1] as number);
      } else if (e.kind === 'int' && impl.int) {
        const g = impl.int;
        f = arity === 1 ? (xs) => g(e, xs[0] as bigint) : (xs) => g(e, xs[0] as bigint, xs[1] as bigint);
      } else if (e.kind === 'bool' && impl.bool) {
        const g = impl.bool;
        f = (xs) => g(xs[0] as number, xs[1] as number);
      } else if (e.kind === 'complex' && impl.complex) {
        const g = impl.complex;
        f = (xs) => g(...(xs as C[]));
      } else throw new RuntimeError(`${name} is not defined for element type ${ts[0]!.type.elem.name}`);
      return [mapElements(ts, rt, f)];
    },
  });
}

/** The unary and binary elementwise ops of the SCALAR table (stablehlo.<name>). */
export const UNARY = [
  'negate',
  'abs',
  'sign',
  'not',
  'popcnt',
  'count_leading_zeros',
  'ceil',
  'floor',
  'round_nearest_afz',
  'round_nearest_even',
  'sqrt',
  'rsqrt',
  'cbrt',
  'exponential',
  'exponential_minus_one',
  'log',
  'log_plus_one',
  'logistic',
  'sine',
  'cosine',
  'tan',
  'tanh',
] as const;
export const BINARY = [
  'add',
  'subtract',
  'multiply',
  'divide',
  'remainder',
  'power',
  'maximum',
  'minimum',
  'atan2',
  'and',
  'or',
  'xor',
  'shift_left',
  'shift_right_logical',
  'shift_right_arithmetic',
] as const;

// ---- compare -----------------------------------------------------------------------------------
/** Total order key of a float (spec's TOTALORDER): -NaN < -Inf < ... < -0 < +0 < ... < +Inf < +NaN. */
function totalOrderKey(x: number): number {
  if (Number.isNaN(x)) return Object.is(x, NaN) ? Infinity : Infinity; // JS loses NaN sign; treat as +NaN
  if (x === 0) return Object.is(x, -0) ? -Number.MIN_VALUE / 2 : 0;
  return x;
}
function compareElems(dir: string, ctype: string, a: Elem, b: Elem): boolean {
  if (Array.isArray(a)) {
    const [x, y] = [a as C, b as C];
    const eq = x[0] === y[0] && x[1] === y[1];
    if (dir === 'EQ') return eq;
    if (dir === 'NE') return !eq;
    throw new RuntimeError(`comparison ${dir} is not defined for complex`);
  }
  let x = a as number | bigint;
  let y = b as number | bigint;
  if (typeof x === 'number' && ctype === 'TOTALORDER') {
    if (Number.isNaN(x) && Number.isNaN(y as number)) return dir === 'EQ' || dir === 'LE' || dir === 'GE';
    x = totalOrderKey(x);
    y = totalOrderKey(y as number);
    if (x === Infinity && y === Infinity) return dir === 'EQ' || dir === 'LE' || dir === 'GE';
  }
  switch (dir) {
    case 'EQ':
      return x === y;
    case 'NE':
      return x !== y;
    case 'LT':
      return x < y;
    case 'LE':
      return x <= y;
    case 'GT':
      return x > y;
    case 'GE':
      return x >= y;
  }
  throw new RuntimeError(`unknown comparison direction ${dir}`);
}

const compare = defineOp({
  name: 'stablehlo.compare',
  arity: 2,
  category: 'elementwise',
  spec: 'compare',
  attrs: (r) => ({ direction: r.enumValue('comparison_direction'), type: r.enumValue('compare_type', '') }),
  infer: inferSameShape(() => ({ kind: 'bool', name: 'i1' })),
  evaluate: (args, a, op) => {
    const ts = args.map((x) => expectTensor(x));
    const e = storageElem(ts[0]!.type.elem);
    const ctype = a.type || (e.kind === 'float' ? 'FLOAT' : 'SIGNED');
    // Unsigned compare of signed storage: compare the bit patterns.
    if (e.kind === 'int' && ctype === 'UNSIGNED' && e.signed) {
      const bits = e.bits;
      return [
        mapElements(ts, resultTensorType(op), (xs) =>
          compareElems(a.direction, ctype, BigInt.asUintN(bits, xs[0] as bigint), BigInt.asUintN(bits, xs[1] as bigint))
            ? 1
            : 0,
        ),
      ];
    }
    return [mapElements(ts, resultTensorType(op), (xs) => (compareElems(a.direction, ctype, xs[0]!, xs[1]!) ? 1 : 0))];
  },
});

// ---- select / clamp (scalar operands broadcast) ------------------------------------------------
function broadcastIfScalar(t: Tensor, i: number): Elem {
  return getElem(t, t.type.shape.length === 0 ? 0 : i);
}

const select = defineOp({
  name: 'stablehlo.select',
  arity: 3,
  category: 'elementwise',
  spec: 'select',
  infer: (types, _a, op) => {
    const [pred, onTrue, onFalse] = tensorOperands(op, types);
    if (!pred || !onTrue || !onFalse) return constraint(op, 'select_c1', 'expects 3 operands');
    if (pred.shape.length !== 0 && !sameShape(pred.shape, onTrue.shape))
      constraint(op, 'select_c1', 'pred must be a scalar or have the shape of on_true');
    if (!sameShape(onTrue.shape, onFalse.shape))
      constraint(op, 'select_c2', 'on_true and on_false must have the same shape');
    return [onTrue];
  },
  evaluate: (args, _a, op) => {
    const [p, t, f] = args.map((x) => expectTensor(x)) as [Tensor, Tensor, Tensor];
    const out = makeTensor(resultTensorType(op));
    const n = size(out);
    for (let i = 0; i < n; i++) setElem(out, i, broadcastIfScalar(p, i) ? getElem(t, i) : getElem(f, i));
    return [out];
  },
});

const clamp = defineOp({
  name: 'stablehlo.clamp',
  arity: 3,
  category: 'elementwise',
  spec: 'clamp',
  infer: (types, _a, op) => {
    const [mn, x, mx] = tensorOperands(op, types);
    for (const b of [mn!, mx!])
      if (b.shape.length !== 0 && !sameShape(b.shape, x!.shape))
        constraint(op, 'clamp_c1', 'min/max must be scalars or have the shape of operand');
    for (const b of [mn!, mx!])
      if (x!.elem.kind !== 'quant' && b.elem.name !== x!.elem.name)
        constraint(op, 'clamp_c2', `min/max ${typeToString(b)} must have the operand's element type ${x!.elem.name}`);
    return [x!];
  },
  evaluate: (args, _a, op) => {
    const [mn, x, mx] = args.map((v) => expectTensor(v)) as [Tensor, Tensor, Tensor];
    const e = storageElem(x.type.elem);
    const impl = e.kind === 'float' ? SCALAR['maximum']!.float! : undefined;
    const out = makeTensor(resultTensorType(op));
    const n = size(out);
    for (let i = 0; i < n; i++) {
      const lo = broadcastIfScalar(mn, i);
      const hi = broadcastIfScalar(mx, i);
      const v = getElem(x, i);
      if (impl) setElem(out, i, SCALAR['minimum']!.float!(impl(v as number, lo as number), hi as number));
      else {
        const atLeastLo = v < lo ? lo : v;
        setElem(out, i, atLeastLo > hi ? hi : atLeastLo);
      }
    }
    return [out];
  },
});

// ---- conversions -------------------------------------------------------------------------------
/** Converts one element between element classes (spec `convert`); float→int saturates, NaN→0. */
export function convertElem(v: Elem, from: ElemType, to: ElemType): Elem {
  const f = storageElem(from);
  const t = storageElem(to);
  const re = (x: Elem): number => (Array.isArray(x) ? (x as C)[0] : typeof x === 'bigint' ? Number(x) : (x as number));
  switch (t.kind) {
    case 'complex':
      if (f.kind === 'complex') return v;
      return [f.kind === 'int' ? Number(v as bigint) : (v as number), 0];
    case 'float':
      if (f.kind === 'int') return Number(v as bigint);
      return re(v);
    case 'bool':
      if (f.kind === 'complex') return (v as C)[0] !== 0 ? 1 : 0; // the real part decides, as upstream
      if (f.kind === 'int') return (v as bigint) !== 0n ? 1 : 0;
      return (v as number) !== 0 ? 1 : 0;
    case 'int': {
      if (f.kind === 'int') return v as bigint;
      if (f.kind === 'bool') return BigInt(v as number);
      const x = re(v);
      if (Number.isNaN(x)) return 0n;
      const min = t.signed ? -(2 ** (t.bits - 1)) : 0;
      const max = t.signed ? 2 ** (t.bits - 1) - 1 : 2 ** t.bits - 1;
      if (x <= min) return t.signed ? -(1n << BigInt(t.bits - 1)) : 0n;
      if (x >= max) return t.signed ? (1n << BigInt(t.bits - 1)) - 1n : (1n << BigInt(t.bits)) - 1n;
      return BigInt(Math.trunc(x));
    }
    case 'quant':
      throw new RuntimeError('convert to a quantized type');
  }
}

const convert = defineOp({
  name: 'stablehlo.convert',
  arity: 1,
  category: 'elementwise',
  spec: 'convert',
  infer: (types, _a, op) => {
    const [x] = tensorOperands(op, types);
    const r = op.results[0]?.type;
    if (r?.kind === 'tensor' && !sameShape(r.shape, x!.shape))
      constraint(op, 'convert_c1', 'operand and result must have the same shape');
    return undefined;
  },
  evaluate: (args, _a, op) => {
    const x = expectTensor(args[0]);
    const rt = resultTensorType(op);
    return [mapElements([x], rt, (xs) => convertElem(xs[0]!, x.type.elem, rt.elem))];
  },
});

const bitcastConvert = defineOp({
  name: 'stablehlo.bitcast_convert',
  category: 'elementwise',
  spec: 'bitcast_convert',
  arity: 1,
  // The result's element type is the op's choice; its shape follows from the two widths (C1).
  infer: (types, _a, op) => {
    const x = types[0];
    const r = op.results[0]?.type;
    if (x?.kind !== 'tensor' || r?.kind !== 'tensor') return undefined;
    if ((x.elem.kind === 'complex') !== (r.elem.kind === 'complex'))
      constraint(op, 'bitcast_convert_c2', `complex and non-complex: ${x.elem.name} -> ${r.elem.name}`);
    const wi = elemBitWidth(x.elem);
    const wo = elemBitWidth(r.elem);
    let shape: number[];
    if (wi === wo) shape = [...x.shape];
    else if (wi > wo) {
      if (wi % wo) constraint(op, 'bitcast_convert_c1', `${wi}-bit elements do not split into ${wo}-bit ones`);
      shape = [...x.shape, wi / wo];
    } else {
      const last = x.shape[x.shape.length - 1];
      if (last === undefined || last * wi !== wo)
        constraint(
          op,
          'bitcast_convert_c1',
          `${wo}-bit elements need a last operand dimension of ${wo / wi} ${wi}-bit ones, the operand is ${typeToString(x)}`,
        );
      shape = x.shape.slice(0, -1);
    }
    return [tensorType(shape, r.elem)];
  },
  evaluate: (args, _a, op) => {
    const x = expectTensor(args[0]);
    const rt = resultTensorType(op);
    const out = makeTensor(rt);
    const wi = elemBitWidth(x.type.elem);
    const wo = elemBitWidth(rt.elem);
    const nOut = size(out);
    if (wi === wo) for (let i = 0; i < nOut; i++) setElemBits(out, i, elemBits(x, i));
    else if (wi > wo) {
      // Each input element splits into wi/wo outputs (little-endian order along a new last dim).
      const k = wi / wo;
      const mask = (1n << BigInt(wo)) - 1n;
      for (let i = 0; i < nOut; i++)
        setElemBits(out, i, (elemBits(x, Math.floor(i / k)) >> BigInt((i % k) * wo)) & mask);
    } else {
      const k = wo / wi;
      for (let i = 0; i < nOut; i++) {
        let bits = 0n;
        for (let j = k - 1; j >= 0; j--) bits = (bits << BigInt(wi)) | elemBits(x, i * k + j);
        setElemBits(out, i, bits);
      }
    }
    return [out];
  },
});

const isFinite = defineOp({
  name: 'stablehlo.is_finite',
  arity: 1,
  category: 'elementwise',
  spec: 'is_finite',
  infer: inferSameShape(() => ({ kind: 'bool', name: 'i1' })),
  evaluate: (args, _a, op) => [
    mapElements([expectTensor(args[0])], resultTensorType(op), (xs) => (Number.isFinite(xs[0] as number) ? 1 : 0)),
  ],
});

function partOp<const N extends 'real' | 'imag'>(name: N): OpDef<any, `stablehlo.${N}`> {
  return defineOp({
    name: `stablehlo.${name}`,
    category: 'elementwise',
    spec: name,
    arity: 1,
    infer: (types, _a, op) => {
      const [x] = tensorOperands(op, types);
      const e = storageElem(x!.elem);
      if (e.kind !== 'complex' && e.kind !== 'float')
        constraint(op, `${name}_c2`, `operand must be complex or floating-point, got ${typeToString(x!)}`);
      return [tensorType(x!.shape, e.kind === 'complex' ? e.part : x!.elem)];
    },
    evaluate: (args, _a, op) => {
      const x = expectTensor(args[0]);
      const isComplex = storageElem(x.type.elem).kind === 'complex';
      return [
        mapElements([x], resultTensorType(op), (xs) =>
          isComplex ? (xs[0] as C)[name === 'real' ? 0 : 1] : name === 'real' ? xs[0]! : 0,
        ),
      ];
    },
  });
}

const complexOp = defineOp({
  name: 'stablehlo.complex',
  category: 'elementwise',
  spec: 'complex',
  infer: inferSameShape((ts) => complexElem(ts[0]!.elem as FloatElem)),
  evaluate: (args, _a, op) => [
    mapElements(
      args.map((a) => expectTensor(a)),
      resultTensorType(op),
      (xs) => [xs[0] as number, xs[1] as number],
    ),
  ],
});

/** Rounds to a float format with `e` exponent and `m` mantissa bits (spec reduce_precision). */
export function reducePrecision(x: number, e: number, m: number): number {
  if (!Number.isFinite(x)) return x;
  if (x === 0) return x;
  const bias = 2 ** (e - 1) - 1;
  const fmt = { name: `e${e}m${m}`, bits: 1 + e + m, expBits: e, manBits: m, bias, nan: 'ieee' as const, signed: true };
  // Work in f64: values below the new format's smallest subnormal flush to zero through rounding.
  const minNormalExp = 1 - bias;
  const a = Math.abs(x);
  let ex = Math.floor(Math.log2(a));
  if (2 ** ex > a) ex--;
  else if (2 ** (ex + 1) <= a) ex++;
  if (ex < minNormalExp) ex = minNormalExp;
  const quantum = 2 ** (ex - m);
  const q = a / quantum;
  const fl = Math.floor(q);
  const rem = q - fl;
  const rq = rem > 0.5 || (rem === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  const r = rq * quantum;
  const out = r > maxFinite(fmt) ? Infinity : r;
  return x < 0 ? -out : out;
}

const reducePrecisionOp = defineOp({
  name: 'stablehlo.reduce_precision',
  category: 'elementwise',
  spec: 'reduce_precision',
  attrs: (r) => ({ e: r.int('exponent_bits'), m: r.int('mantissa_bits') }),
  infer: inferSameShape(sameElemAsFirst),
  evaluate: (args, a, op) => [
    mapElements([expectTensor(args[0])], resultTensorType(op), (xs) => reducePrecision(xs[0] as number, a.e, a.m)),
  ],
});

export const ELEMENTWISE = [
  ...UNARY.map((n) => scalarOp(n, 1)),
  ...BINARY.map((n) => scalarOp(n, 2)),
  compare,
  select,
  clamp,
  convert,
  bitcastConvert,
  isFinite,
  partOp('real'),
  partOp('imag'),
  complexOp,
  reducePrecisionOp,
];
