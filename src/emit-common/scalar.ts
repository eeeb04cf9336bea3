/**
 * @fileoverview C spellings of scalar ops (the `codeForOp` of the C renderer), per compute class.
 * Arguments are already-loaded compute-type expressions; semantics match the interpreter's
 * SCALAR table (wrap-around ints via rl_* helpers, NaN-propagating max/min, XLA's x/0 = -1).
 */
import { error } from '../diag/diagnostics.js';
import type { Op } from '../ir/core.js';
import type { CElem } from './ctypes.js';

type Spell = (a: readonly string[], c: CElem) => string;

const f =
  (fn: string): Spell =>
  (a, c) =>
    `${fn}${c.cls === 'float' ? 'f' : ''}(${a.join(', ')})`;
const infix =
  (o: string): Spell =>
  (a) =>
    `(${a[0]} ${o} ${a[1]})`;
const helper =
  (fn: string): Spell =>
  (a, c) =>
    `rl_${fn}_${c.intSuffix}(${a.join(', ')})`;

/** clamp(lo, x, hi) = minimum(maximum(x, lo), hi) in the element class's own max/min (NaN-propagating for floats). */
const clamp: Spell = (a, c) => {
  const t = tableFor(c);
  return t.minimum!([t.maximum!([a[1]!, a[0]!], c), a[2]!], c);
};

const FLOAT: Readonly<Record<string, Spell>> = {
  add: infix('+'),
  subtract: infix('-'),
  multiply: infix('*'),
  divide: infix('/'),
  remainder: f('fmod'),
  power: (a, c) => (c.cls === 'float' ? `(float)rl_pow(${a[0]}, ${a[1]})` : `rl_pow(${a[0]}, ${a[1]})`),
  maximum: (a, c) => (c.cls === 'float' ? `rl_maxf(${a[0]}, ${a[1]})` : `rl_max(${a[0]}, ${a[1]})`),
  minimum: (a, c) => (c.cls === 'float' ? `rl_minf(${a[0]}, ${a[1]})` : `rl_min(${a[0]}, ${a[1]})`),
  clamp,
  atan2: f('atan2'),
  negate: (a) => `(-${a[0]})`,
  abs: f('fabs'),
  sign: (a, c) => `(${c.compute})rl_sign(${a[0]})`,
  ceil: f('ceil'),
  floor: f('floor'),
  round_nearest_afz: f('round'),
  round_nearest_even: f('nearbyint'),
  sqrt: f('sqrt'),
  rsqrt: (a, c) => (c.cls === 'float' ? `(1.0f / sqrtf(${a[0]}))` : `(1.0 / sqrt(${a[0]}))`),
  cbrt: f('cbrt'),
  exponential: f('exp'),
  exponential_minus_one: f('expm1'),
  log: f('log'),
  log_plus_one: f('log1p'),
  logistic: (a, c) => (c.cls === 'float' ? `rl_logisticf(${a[0]})` : `rl_logistic(${a[0]})`),
  sine: f('sin'),
  cosine: f('cos'),
  tan: f('tan'),
  tanh: f('tanh'),
  // CHLO special functions available in C99 libm.
  erf: f('erf'),
  erfc: f('erfc'),
  lgamma: f('lgamma'),
  acosh: f('acosh'),
  acos: f('acos'),
  asin: f('asin'),
  asinh: f('asinh'),
  atan: f('atan'),
  atanh: f('atanh'),
  cosh: f('cosh'),
  sinh: f('sinh'),
  is_finite: (a) => `(uint8_t)(isfinite(${a[0]}) != 0)`,
  erf_inv: (a, c) => `(${c.compute})rl_erfinv(${a[0]})`,
  digamma: (a, c) => `(${c.compute})rl_digamma(${a[0]})`,
  bessel_i1e: (a, c) => `(${c.compute})rl_bessel_i1e(${a[0]})`,
  // The C lowering uses this only where storage is the compute type (the next f16 is not the next float).
  next_after: f('nextafter'),
};

const INT: Readonly<Record<string, Spell>> = {
  add: helper('add'),
  subtract: helper('sub'),
  multiply: helper('mul'),
  divide: helper('div'),
  remainder: helper('rem'),
  power: helper('pow'),
  maximum: helper('imax'),
  minimum: helper('imin'),
  clamp,
  and: (a, c) => `(${c.storage})(${a[0]} & ${a[1]})`,
  or: (a, c) => `(${c.storage})(${a[0]} | ${a[1]})`,
  xor: (a, c) => `(${c.storage})(${a[0]} ^ ${a[1]})`,
  not: (a, c) => `(${c.storage})(~${a[0]})`,
  negate: helper('neg'),
  abs: helper('abs'),
  sign: (a, c) => `(${c.storage})((${a[0]} > 0) - (${a[0]} < 0))`,
  popcnt: helper('popcnt'),
  count_leading_zeros: helper('clz'),
  shift_left: helper('shl'),
  shift_right_logical: helper('shrl'),
  shift_right_arithmetic: helper('shra'),
  mulhi: helper('mulhi'),
};

/** Complex: C99 <complex.h> (cexpf, ...): `f` suffix for complex<f32>. */
const cf =
  (fn: string): Spell =>
  (a, c) =>
    `${fn}${c.part === 'float' ? 'f' : ''}(${a.join(', ')})`;
const asPart = (e: string, c: CElem): string => `(${c.compute})(${e})`;
const COMPLEX: Readonly<Record<string, Spell>> = {
  add: infix('+'),
  subtract: infix('-'),
  multiply: infix('*'),
  divide: infix('/'),
  negate: (a) => `(-${a[0]})`,
  abs: cf('cabs'),
  exponential: cf('cexp'),
  exponential_minus_one: (a, c) => `(${cf('cexp')(a, c)} - 1)`,
  log: cf('clog'),
  log_plus_one: (a, c) => cf('clog')([`(1 + ${a[0]})`], c),
  sqrt: cf('csqrt'),
  rsqrt: (a, c) => `(1 / ${cf('csqrt')(a, c)})`,
  power: cf('cpow'),
  sine: cf('csin'),
  cosine: cf('ccos'),
  tan: cf('ctan'),
  tanh: cf('ctanh'),
  logistic: (a, c) => `(1 / (1 + ${cf('cexp')([`(-${a[0]})`], c)}))`,
  sign: (a, c) => asPart(`rl_csign(${a[0]})`, c),
  maximum: (a, c) => asPart(`rl_cmax(${a[0]}, ${a[1]})`, c),
  minimum: (a, c) => asPart(`rl_cmin(${a[0]}, ${a[1]})`, c),
  acosh: cf('cacosh'),
  asin: cf('casin'),
  asinh: cf('casinh'),
  atan: cf('catan'),
  atanh: cf('catanh'),
  cosh: cf('ccosh'),
  sinh: cf('csinh'),
};

const BOOL: Readonly<Record<string, Spell>> = {
  and: (a) => `(uint8_t)(${a[0]} & ${a[1]})`,
  or: (a) => `(uint8_t)(${a[0]} | ${a[1]})`,
  xor: (a) => `(uint8_t)(${a[0]} ^ ${a[1]})`,
  not: (a) => `(uint8_t)(!${a[0]})`,
  add: (a) => `(uint8_t)(${a[0]} | ${a[1]})`,
  multiply: (a) => `(uint8_t)(${a[0]} & ${a[1]})`,
  maximum: (a) => `(uint8_t)(${a[0]} | ${a[1]})`,
  minimum: (a) => `(uint8_t)(${a[0]} & ${a[1]})`,
};

/** Spells `name(args)` (name without dialect) for element class `c`; E0301 when not available. */
function tableFor(c: CElem): Readonly<Record<string, Spell>> {
  return c.cls === 'int' ? INT : c.cls === 'bool' ? BOOL : c.cls === 'complex' ? COMPLEX : FLOAT;
}

export function scalarCode(name: string, args: readonly string[], c: CElem, op: Op): string {
  const table = tableFor(c);
  const spell = table[name];
  if (!spell) throw error('E0301', { op: `${op.name} on ${c.name}`, target: 'C backend' }, op.loc);
  return spell(args, c);
}

export function hasScalarCode(name: string, c: CElem): boolean {
  return name in tableFor(c);
}
