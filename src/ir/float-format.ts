/**
 * @fileoverview Bit-exact encode/decode of small float formats (f16, bf16, the f8/f6/f4 family)
 * with round-to-nearest-even. f32 uses Math.fround and f64 is native; everything else goes
 * through one generic minifloat description.
 */

/** How a format spells NaN: IEEE (max exponent, non-zero mantissa), all ones (the FN types),
 * negative zero's bit pattern (the FNUZ types), or not at all. */
export type NanMode = 'ieee' | 'allOnes' | 'negZero' | 'none';

export interface FloatFormat {
  readonly name: string;
  readonly bits: number;
  readonly expBits: number;
  readonly manBits: number;
  readonly bias: number;
  readonly nan: NanMode;
  /** f8E8M0FNU has no sign bit. */
  readonly signed: boolean;
}

function fmt(name: string, expBits: number, manBits: number, bias: number, nan: NanMode, signed = true): FloatFormat {
  return { name, bits: expBits + manBits + (signed ? 1 : 0), expBits, manBits, bias, nan, signed };
}

export const FLOAT_FORMATS: Readonly<Record<string, FloatFormat>> = {
  f64: fmt('f64', 11, 52, 1023, 'ieee'),
  f32: fmt('f32', 8, 23, 127, 'ieee'),
  f16: fmt('f16', 5, 10, 15, 'ieee'),
  bf16: fmt('bf16', 8, 7, 127, 'ieee'),
  f8E5M2: fmt('f8E5M2', 5, 2, 15, 'ieee'),
  f8E4M3: fmt('f8E4M3', 4, 3, 7, 'ieee'),
  f8E3M4: fmt('f8E3M4', 3, 4, 3, 'ieee'),
  f8E4M3FN: fmt('f8E4M3FN', 4, 3, 7, 'allOnes'),
  f8E4M3FNUZ: fmt('f8E4M3FNUZ', 4, 3, 8, 'negZero'),
  f8E5M2FNUZ: fmt('f8E5M2FNUZ', 5, 2, 16, 'negZero'),
  f8E4M3B11FNUZ: fmt('f8E4M3B11FNUZ', 4, 3, 11, 'negZero'),
  f8E8M0FNU: fmt('f8E8M0FNU', 8, 0, 127, 'allOnes', false),
  f6E2M3FN: fmt('f6E2M3FN', 2, 3, 1, 'none'),
  f6E3M2FN: fmt('f6E3M2FN', 3, 2, 3, 'none'),
  f4E2M1FN: fmt('f4E2M1FN', 2, 1, 1, 'none'),
};

const f32buf = new Float32Array(1);
const u32buf = new Uint32Array(f32buf.buffer);
const f64buf = new Float64Array(1);
const u64buf = new BigUint64Array(f64buf.buffer);

function maxExponentField(f: FloatFormat): number {
  return (1 << f.expBits) - 1;
}

const maxFiniteOf = new Map<FloatFormat, number>();

/** Largest finite value of the format (memoized: every encode of a small format asks, once per
 * element of the interpreter's f16/bf16 results). */
export function maxFinite(f: FloatFormat): number {
  let max = maxFiniteOf.get(f);
  if (max === undefined) maxFiniteOf.set(f, (max = computeMaxFinite(f)));
  return max;
}

function computeMaxFinite(f: FloatFormat): number {
  if (f.name === 'f64') return Number.MAX_VALUE;
  const top = maxExponentField(f);
  const manAll = (1 << f.manBits) - 1;
  const [e, m] = f.nan === 'ieee' ? [top - 1, manAll] : f.nan === 'allOnes' ? [top, manAll - 1] : [top, manAll];
  if (f.manBits === 0) return 2 ** (e - f.bias);
  return (1 + m / 2 ** f.manBits) * 2 ** (e - f.bias);
}

/** Decodes a bit pattern (as a number, or bigint for f64) to its value. */
export function decodeFloat(f: FloatFormat, bits: number | bigint): number {
  if (f.name === 'f64') {
    u64buf[0] = BigInt.asUintN(64, BigInt(bits));
    return f64buf[0]!;
  }
  const b = Number(bits);
  if (f.name === 'f32') {
    u32buf[0] = b >>> 0;
    return f32buf[0]!;
  }
  const signBit = f.signed ? (b >>> (f.bits - 1)) & 1 : 0;
  const e = (b >>> f.manBits) & maxExponentField(f);
  const m = b & ((1 << f.manBits) - 1);
  if (f.nan === 'negZero' && b === 1 << (f.bits - 1)) return NaN;
  if (f.nan === 'allOnes' && e === maxExponentField(f) && m === (1 << f.manBits) - 1) return NaN;
  if (f.nan === 'ieee' && e === maxExponentField(f)) return m === 0 ? (signBit ? -Infinity : Infinity) : NaN;
  let v: number;
  if (f.manBits === 0) v = 2 ** (e - f.bias);
  else if (e === 0) v = (m / 2 ** f.manBits) * 2 ** (1 - f.bias);
  else v = (1 + m / 2 ** f.manBits) * 2 ** (e - f.bias);
  return signBit ? -v : v;
}

function nanBits(f: FloatFormat): number {
  switch (f.nan) {
    case 'ieee':
      return (maxExponentField(f) << f.manBits) | (1 << (f.manBits - 1));
    case 'allOnes':
      return (1 << (f.bits - (f.signed ? 1 : 0))) - 1;
    case 'negZero':
      return 1 << (f.bits - 1);
    case 'none':
      return 0;
  }
}

/** Encodes a value to the format's bit pattern with round-to-nearest-even. */
export function encodeFloat(f: FloatFormat, x: number): number | bigint {
  if (f.name === 'f64') {
    f64buf[0] = x;
    return u64buf[0]!;
  }
  if (f.name === 'f32') {
    f32buf[0] = x;
    return u32buf[0]!;
  }
  const signMask = f.signed ? 1 << (f.bits - 1) : 0;
  if (Number.isNaN(x)) return nanBits(f);
  const neg = x < 0 || Object.is(x, -0);
  const sign = neg && f.signed ? signMask : 0;
  if (neg && !f.signed) return nanBits(f);
  let a = Math.abs(x);
  const max = maxFinite(f);
  const overflow = (): number => {
    if (f.nan === 'ieee') return sign | (maxExponentField(f) << f.manBits);
    if (f.nan === 'none') return sign | (encodeFloat(f, max) as number);
    return nanBits(f);
  };
  if (a === Infinity) return overflow();
  if (f.manBits === 0) {
    // Exponent-only format (f8E8M0FNU): round to nearest power of two in log space is not what
    // hardware does; round the mantissa of a to 0 bits (ties to even exponent).
    if (a === 0) return nanBits(f);
    let e = Math.floor(Math.log2(a));
    if (2 ** e > a) e--;
    const q = a / 2 ** e; // in [1, 2)
    if (q > 1.5 || (q === 1.5 && ((e + f.bias) & 1) === 1)) e++;
    const field = e + f.bias;
    if (field < 0) return 0;
    if (field >= maxExponentField(f)) return nanBits(f);
    return field;
  }
  if (a === 0) return f.nan === 'negZero' ? 0 : sign;
  const minExp = 1 - f.bias;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  if (e < minExp) e = minExp;
  const quantum = 2 ** (e - f.manBits);
  let q = a / quantum;
  const fl = Math.floor(q);
  const rem = q - fl;
  q = rem > 0.5 || (rem === 0.5 && fl % 2 === 1) ? fl + 1 : fl;
  a = q * quantum;
  if (a > max) return overflow();
  if (q === 0) return f.nan === 'negZero' ? 0 : sign;
  const implicit = 2 ** f.manBits;
  if (q >= 2 * implicit) {
    q /= 2;
    e++;
  }
  if (q < implicit) return sign | q; // subnormal
  return sign | ((e + f.bias) << f.manBits) | (q - implicit);
}

const f64words = new Uint32Array(f64buf.buffer);
const TWO_52 = 2 ** 52;

/**
 * Round to nearest even in double arithmetic, for the IEEE-style formats (f16, bf16): the value
 * over its quantum (a power of two: exact) is rounded to an integer by adding and subtracting 2^52
 * (round-half-even in double, exact below 2^52), and scaled back. The same results as
 * decodeFloat(encodeFloat(x)) (checked over sweeps in float-format.test), without the bit packing
 * that made f16 models' interpretation slow.
 */
function ieeeRounder(f: FloatFormat): (x: number) => number {
  const max = maxFinite(f);
  const minExp = 1 - f.bias;
  const maxExp = f.bias; // the exponent of max (IEEE style: the all-ones field is inf/NaN)
  const quanta = Array.from({ length: maxExp - minExp + 1 }, (_, i) => 2 ** (minExp + i - f.manBits));
  return (x) => {
    const a = Math.abs(x);
    if (a === 0 || a !== a) return x;
    f64buf[0] = a;
    // Above max (inf included) the top quantum rounds to max or past it (then inf).
    const e = Math.min(maxExp, Math.max(minExp, ((f64words[1]! >>> 20) & 0x7ff) - 1023));
    const quantum = quanta[e - minExp]!;
    const r = (a / quantum + TWO_52 - TWO_52) * quantum;
    const rounded = r > max ? Infinity : r;
    return x < 0 ? -rounded : rounded;
  };
}

/** roundToFormat for one format, chosen once (identity for f64, Math.fround for f32). */
export function rounder(f: FloatFormat): (x: number) => number {
  if (f.name === 'f64') return (x) => x;
  if (f.name === 'f32') return Math.fround;
  if (f.nan === 'ieee' && f.signed && f.manBits > 0) return ieeeRounder(f);
  return (x) => decodeFloat(f, encodeFloat(f, x));
}

const rounders = new Map<FloatFormat, (x: number) => number>();

/** Rounds a double to the nearest value representable in the format. */
export function roundToFormat(f: FloatFormat, x: number): number {
  if (f.name === 'f64') return x;
  if (f.name === 'f32') return Math.fround(x);
  let round = rounders.get(f);
  if (!round) rounders.set(f, (round = rounder(f)));
  return round(x);
}
