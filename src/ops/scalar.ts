/**
 * @fileoverview Scalar semantics of the elementwise ops, per element class: floats computed in
 * f64 (the caller rounds to the result type), integers as wrapped bigints, booleans as 0/1,
 * complex as [re, im] pairs. Shared by the interpreter and (later) constant folding.
 */
import type { IntElem } from '../ir/types.js';

export type C = readonly [number, number];

export interface ScalarImpl {
  readonly float?: (...a: number[]) => number;
  readonly int?: (t: IntElem, ...a: bigint[]) => bigint;
  readonly bool?: (...a: number[]) => number;
  readonly complex?: (...a: C[]) => C;
}

// ---- complex helpers ---------------------------------------------------------------------------
export const cadd = (a: C, b: C): C => [a[0] + b[0], a[1] + b[1]];
export const csub = (a: C, b: C): C => [a[0] - b[0], a[1] - b[1]];
export const cmul = (a: C, b: C): C => [a[0] * b[0] - a[1] * b[1], a[0] * b[1] + a[1] * b[0]];
export function cdiv(a: C, b: C): C {
  // Smith's algorithm: avoids overflow in c*c + d*d.
  const [x, y] = a;
  const [c, d] = b;
  if (Math.abs(c) >= Math.abs(d)) {
    if (c === 0 && d === 0) return [x / 0, y / 0];
    const r = d / c;
    const den = c + d * r;
    return [(x + y * r) / den, (y - x * r) / den];
  }
  const r = c / d;
  const den = c * r + d;
  return [(x * r + y) / den, (y * r - x) / den];
}
export const cexp = (a: C): C => {
  if (a[1] === 0) return [Math.exp(a[0]), a[1]];
  const e = Math.exp(a[0]);
  return [e * Math.cos(a[1]), e * Math.sin(a[1])];
};
export const clog = (a: C): C => [Math.log(Math.hypot(a[0], a[1])), Math.atan2(a[1], a[0])];
export function csqrt(a: C): C {
  const [x, y] = a;
  if (x === 0 && y === 0) return [0, y];
  if (!Number.isFinite(y) && !Number.isNaN(y)) return [Infinity, y];
  const r = Math.hypot(x, y);
  if (x >= 0) {
    const t = Math.sqrt((r + x) / 2);
    return [t, y / (2 * t)];
  }
  const t = Math.sqrt((r - x) / 2);
  return [Math.abs(y) / (2 * t), Math.sign(y) * t || (Object.is(y, -0) ? -t : t)];
}
const csin = (a: C): C => [Math.sin(a[0]) * Math.cosh(a[1]), Math.cos(a[0]) * Math.sinh(a[1])];
const ccos = (a: C): C => [Math.cos(a[0]) * Math.cosh(a[1]), -Math.sin(a[0]) * Math.sinh(a[1])];
function ctanh(a: C): C {
  const [x, y] = a;
  if (Math.abs(x) > 20) return [Math.sign(x), 0 * Math.sin(2 * y)];
  const den = Math.cosh(2 * x) + Math.cos(2 * y);
  return [Math.sinh(2 * x) / den, Math.sin(2 * y) / den];
}
function ctan(a: C): C {
  // tan(z) = -i tanh(iz)
  const t = ctanh([-a[1], a[0]]);
  return [t[1], -t[0]];
}
function cexpm1(a: C): C {
  const [x, y] = a;
  const s = Math.sin(y / 2);
  return [Math.expm1(x) * Math.cos(y) - 2 * s * s, Math.exp(x) * Math.sin(y)];
}
function clog1p(a: C): C {
  const [x, y] = a;
  const re =
    Math.abs(x) < 0.5 && Math.abs(y) < 0.5 ? 0.5 * Math.log1p(x * (2 + x) + y * y) : Math.log(Math.hypot(1 + x, y));
  return [re, Math.atan2(y, 1 + x)];
}
function cpow(a: C, b: C): C {
  if (a[0] === 0 && a[1] === 0) {
    if (b[0] === 0 && b[1] === 0) return [1, 0];
    if (b[1] === 0 && b[0] > 0) return [0, 0];
  }
  return cexp(cmul(b, clog(a)));
}

// ---- float helpers -----------------------------------------------------------------------------
function powf(a: number, b: number): number {
  if (a === 1 || b === 0) return 1; // C pow semantics (JS gives NaN for 1**NaN)
  if (a === -1 && !Number.isFinite(b) && !Number.isNaN(b)) return 1;
  return Math.pow(a, b);
}
function roundAfz(x: number): number {
  if (!Number.isFinite(x)) return x;
  const r = Math.round(Math.abs(x));
  return x < 0 || Object.is(x, -0) ? -r : r;
}
function roundEven(x: number): number {
  if (!Number.isFinite(x)) return x;
  const f = Math.floor(x);
  const d = x - f;
  const r = d > 0.5 ? f + 1 : d < 0.5 ? f : f % 2 === 0 ? f : f + 1;
  return r === 0 && (x < 0 || Object.is(x, -0)) ? -0 : r;
}
function maxf(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return NaN;
  if (a === 0 && b === 0) return Object.is(a, -0) ? b : a;
  return a > b ? a : b;
}
function minf(a: number, b: number): number {
  if (Number.isNaN(a) || Number.isNaN(b)) return NaN;
  if (a === 0 && b === 0) return Object.is(a, -0) ? a : b;
  return a < b ? a : b;
}
const signf = (x: number): number => (Number.isNaN(x) ? NaN : x === 0 ? x : x > 0 ? 1 : -1);

// ---- integer helpers ---------------------------------------------------------------------------
function minOf(t: IntElem): bigint {
  return t.signed ? -(1n << BigInt(t.bits - 1)) : 0n;
}
function idiv(t: IntElem, a: bigint, b: bigint): bigint {
  if (b === 0n) return -1n; // XLA: x / 0 = -1 (all ones)
  if (t.signed && a === minOf(t) && b === -1n) return a;
  return a / b; // bigint division truncates toward zero, as the spec requires
}
function irem(t: IntElem, a: bigint, b: bigint): bigint {
  if (b === 0n) return a;
  if (t.signed && a === minOf(t) && b === -1n) return 0n;
  return a % b;
}
function ipow(t: IntElem, a: bigint, b: bigint): bigint {
  if (b < 0n) {
    if (a === 1n) return 1n;
    if (t.signed && a === -1n) return b % 2n === 0n ? 1n : -1n;
    return 0n;
  }
  let result = 1n;
  let base = a;
  let e = b;
  while (e > 0n) {
    if (e & 1n) result = BigInt.asUintN(64, result * base);
    base = BigInt.asUintN(64, base * base);
    e >>= 1n;
  }
  return result;
}
function ushift(t: IntElem, b: bigint): bigint | undefined {
  const n = BigInt.asUintN(t.bits, b);
  return n >= BigInt(t.bits) ? undefined : n;
}
function popcount(t: IntElem, a: bigint): bigint {
  let v = BigInt.asUintN(t.bits, a);
  let c = 0n;
  while (v) {
    c += v & 1n;
    v >>= 1n;
  }
  return c;
}
function clz(t: IntElem, a: bigint): bigint {
  const v = BigInt.asUintN(t.bits, a);
  if (v === 0n) return BigInt(t.bits);
  return BigInt(t.bits - v.toString(2).length);
}
const cmpBig = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);
const lexMax = (a: C, b: C): C => (a[0] > b[0] || (a[0] === b[0] && a[1] >= b[1]) ? a : b);
const lexMin = (a: C, b: C): C => (a[0] < b[0] || (a[0] === b[0] && a[1] <= b[1]) ? a : b);

/** Scalar semantics keyed by op name (without dialect prefix). */
export const SCALAR: Readonly<Record<string, ScalarImpl>> = {
  add: { float: (a, b) => a + b!, int: (_t, a, b) => a + b!, bool: (a, b) => a | b!, complex: cadd },
  subtract: { float: (a, b) => a - b!, int: (_t, a, b) => a - b!, complex: csub },
  multiply: { float: (a, b) => a * b!, int: (_t, a, b) => a * b!, bool: (a, b) => a & b!, complex: cmul },
  divide: { float: (a, b) => a / b!, int: (t, a, b) => idiv(t, a, b!), complex: cdiv },
  remainder: { float: (a, b) => a % b!, int: (t, a, b) => irem(t, a, b!) },
  power: { float: (a, b) => powf(a, b!), int: (t, a, b) => ipow(t, a, b!), complex: cpow },
  maximum: {
    float: (a, b) => maxf(a, b!),
    int: (_t, a, b) => (cmpBig(a, b!) >= 0 ? a : b!),
    bool: (a, b) => a | b!,
    complex: lexMax,
  },
  minimum: {
    float: (a, b) => minf(a, b!),
    int: (_t, a, b) => (cmpBig(a, b!) <= 0 ? a : b!),
    bool: (a, b) => a & b!,
    complex: lexMin,
  },
  atan2: {
    float: (a, b) => Math.atan2(a, b!),
    complex: (a, b) => {
      const q = clog(cdiv(cadd(b, cmul([0, 1], a)), csqrt(cadd(cmul(a, a), cmul(b, b)))));
      return [q[1], -q[0]];
    },
  },
  and: { int: (_t, a, b) => a & b!, bool: (a, b) => a & b! },
  or: { int: (_t, a, b) => a | b!, bool: (a, b) => a | b! },
  xor: { int: (_t, a, b) => a ^ b!, bool: (a, b) => a ^ b! },
  shift_left: { int: (t, a, b) => (ushift(t, b!) === undefined ? 0n : a << ushift(t, b!)!) },
  shift_right_logical: {
    int: (t, a, b) => (ushift(t, b!) === undefined ? 0n : BigInt.asUintN(t.bits, a) >> ushift(t, b!)!),
  },
  shift_right_arithmetic: {
    int: (t, a, b) => {
      const s = ushift(t, b!);
      const signed = BigInt.asIntN(t.bits, a);
      return s === undefined ? (signed < 0n ? -1n : 0n) : signed >> s;
    },
  },
  negate: { float: (a) => -a, int: (_t, a) => -a, complex: (a) => [-a[0], -a[1]] },
  abs: { float: Math.abs, int: (_t, a) => (a < 0n ? -a : a) },
  sign: {
    float: signf,
    int: (_t, a) => (a > 0n ? 1n : a < 0n ? -1n : 0n),
    complex: (a) => {
      const r = Math.hypot(a[0], a[1]);
      return r === 0 || Number.isNaN(r) ? (Number.isNaN(r) ? [NaN, NaN] : [0, 0]) : [a[0] / r, a[1] / r];
    },
  },
  not: { int: (_t, a) => ~a, bool: (a) => (a ? 0 : 1) },
  popcnt: { int: (t, a) => popcount(t, a) },
  count_leading_zeros: { int: (t, a) => clz(t, a) },
  ceil: { float: Math.ceil },
  floor: { float: Math.floor },
  round_nearest_afz: { float: roundAfz },
  round_nearest_even: { float: roundEven },
  sqrt: { float: Math.sqrt, complex: csqrt },
  rsqrt: { float: (a) => 1 / Math.sqrt(a), complex: (a) => cdiv([1, 0], csqrt(a)) },
  cbrt: { float: Math.cbrt, complex: (a) => (a[0] === 0 && a[1] === 0 ? [0, 0] : cexp(cmul([1 / 3, 0], clog(a)))) },
  exponential: { float: Math.exp, complex: cexp },
  exponential_minus_one: { float: Math.expm1, complex: cexpm1 },
  log: { float: Math.log, complex: clog },
  log_plus_one: { float: Math.log1p, complex: clog1p },
  logistic: { float: (a) => 1 / (1 + Math.exp(-a)), complex: (a) => cdiv([1, 0], cadd([1, 0], cexp([-a[0], -a[1]]))) },
  sine: { float: Math.sin, complex: csin },
  cosine: { float: Math.cos, complex: ccos },
  tan: { float: Math.tan, complex: ctan },
  tanh: { float: Math.tanh, complex: ctanh },
};
