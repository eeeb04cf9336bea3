/**
 * @fileoverview How element types live in generated C: storage type, compute type, and the
 * load/store spellings (f16/bf16 are stored as uint16_t bit patterns and computed in float).
 */
import { error } from '../diag/diagnostics.js';
import type { Loc } from '../diag/source.js';
import { numElements, typeToString, type ElemType, type QuantElem, type TensorType, type Type } from '../ir/types.js';
import { elemBits, getElem, makeTensor, setElemBits, size, type Tensor } from '../ir/tensor.js';

export type ComputeClass = 'float' | 'double' | 'int' | 'bool' | 'complex';

/** An f32 tensor: what the SIMD kernels (GEMM, direct convolution, vector loops) compute on. */
export const isF32 = (t: Type): boolean => t.kind === 'tensor' && t.elem.kind === 'float' && t.elem.name === 'f32';

export interface CElem {
  readonly name: string;
  /** C type of one stored element. */
  readonly storage: string;
  /** C type arithmetic happens in. */
  readonly compute: string;
  readonly cls: ComputeClass;
  readonly bytes: number;
  /** Suffix of the rl_*_T integer helpers (the storage type). */
  readonly intSuffix?: string;
  readonly signed?: boolean;
  /** rl_dtype_t enumerator. */
  readonly rlDtype: string;
  /** Quantized (!quant.uniform, per-tensor): integer storage, float compute via (de)quantization. */
  readonly quant?: boolean;
  /** Complex types: the C type of one part ('float' or 'double'). */
  readonly part?: string;
  /** i2/i4/ui2/ui4: stored one per byte (sign-extended when signed), computed in 8 bits and wrapped. */
  readonly subByte?: number;
  load(expr: string): string;
  store(value: string): string;
}

const ident = (e: string): string => e;

function intElem(bits: number, signed: boolean, name: string): CElem {
  const t = `${signed ? '' : 'u'}int${bits}_t`;
  return {
    name,
    storage: t,
    compute: t,
    cls: 'int',
    bytes: bits / 8,
    intSuffix: t,
    signed,
    rlDtype: `RL_${signed ? 'I' : 'U'}${bits}`,
    load: ident,
    store: (v) => `(${t})(${v})`,
  };
}

function subByteElem(bits: number, signed: boolean, name: string): CElem {
  const base = intElem(8, signed, name);
  const wrap = signed ? `rl_sext${bits}` : `rl_zext${bits}`;
  return { ...base, subByte: bits, rlDtype: signed ? 'RL_I8' : 'RL_U8', store: (v) => `${wrap}((int64_t)(${v}))` };
}

const TABLE: Readonly<Record<string, CElem>> = {
  i2: subByteElem(2, true, 'i2'),
  i4: subByteElem(4, true, 'i4'),
  ui2: subByteElem(2, false, 'ui2'),
  ui4: subByteElem(4, false, 'ui4'),
  f32: {
    name: 'f32',
    storage: 'float',
    compute: 'float',
    cls: 'float',
    bytes: 4,
    rlDtype: 'RL_F32',
    load: ident,
    store: (v) => `(float)(${v})`,
  },
  f64: {
    name: 'f64',
    storage: 'double',
    compute: 'double',
    cls: 'double',
    bytes: 8,
    rlDtype: 'RL_F64',
    load: ident,
    store: (v) => `(double)(${v})`,
  },
  f16: {
    name: 'f16',
    storage: 'uint16_t',
    compute: 'float',
    cls: 'float',
    bytes: 2,
    rlDtype: 'RL_F16',
    load: (e) => `rl_f16_to_f32(${e})`,
    store: (v) => `rl_f32_to_f16((float)(${v}))`,
  },
  bf16: {
    name: 'bf16',
    storage: 'uint16_t',
    compute: 'float',
    cls: 'float',
    bytes: 2,
    rlDtype: 'RL_BF16',
    load: (e) => `rl_bf16_to_f32(${e})`,
    store: (v) => `rl_f32_to_bf16((float)(${v}))`,
  },
  'complex<f32>': {
    name: 'complex<f32>',
    storage: 'rl_c64_t',
    compute: 'rl_c64_t',
    cls: 'complex',
    part: 'float',
    bytes: 8,
    rlDtype: 'RL_C64',
    load: ident,
    store: (v) => `(rl_c64_t)(${v})`,
  },
  'complex<f64>': {
    name: 'complex<f64>',
    storage: 'rl_c128_t',
    compute: 'rl_c128_t',
    cls: 'complex',
    part: 'double',
    bytes: 16,
    rlDtype: 'RL_C128',
    load: ident,
    store: (v) => `(rl_c128_t)(${v})`,
  },
  i1: {
    name: 'i1',
    storage: 'uint8_t',
    compute: 'uint8_t',
    cls: 'bool',
    bytes: 1,
    rlDtype: 'RL_I1',
    load: ident,
    store: (v) => `(uint8_t)((${v}) != 0)`,
  },
  i8: intElem(8, true, 'i8'),
  i16: intElem(16, true, 'i16'),
  i32: intElem(32, true, 'i32'),
  i64: intElem(64, true, 'i64'),
  ui8: intElem(8, false, 'ui8'),
  ui16: intElem(16, false, 'ui16'),
  ui32: intElem(32, false, 'ui32'),
  ui64: intElem(64, false, 'ui64'),
};

/** A per-tensor quantized type: stored as its integer, computed in float (dequantize on load,
 * quantize with round-half-even and clamping on store), as the spec's dequantize-op-quantize. */
function quantElem(q: QuantElem): CElem | undefined {
  const st = TABLE[q.storage.name];
  if (!st || q.axis !== undefined || q.expressed.name !== 'f32' || q.scales.length !== 1) return undefined;
  const scale = `${Math.fround(q.scales[0]!)}f`;
  const zp = q.zeroPoints[0] ?? 0;
  return {
    name: q.name,
    storage: st.storage,
    compute: 'float',
    cls: 'float',
    bytes: st.bytes,
    rlDtype: st.rlDtype,
    quant: true,
    load: (e) => `((float)((float)((int64_t)(${e}) - ${zp}) * ${scale}))`,
    store: (v) =>
      q.storage.bits <= 16
        ? `(${st.storage})rl_quantize_narrow((float)(${v}), ${scale}, ${zp}, ${q.storageMin}, ${q.storageMax})`
        : `(${st.storage})rl_quantize((float)(${v}), ${scale}, ${zp}, ${q.storageMin}LL, ${q.storageMax}LL)`,
  };
}

export function cElemOrUndefined(e: ElemType): CElem | undefined {
  return e.kind === 'quant' ? quantElem(e) : TABLE[e.name];
}

/** The C form of an element type, or E0301 naming what the C backend does not support yet. */
export function cElem(t: TensorType, op: string, loc: Loc): CElem {
  const c = cElemOrUndefined(t.elem);
  if (!c)
    throw error(
      'E0301',
      { op: `${op} on ${typeToString(t)}`, target: 'C backend (element type not supported yet)' },
      loc,
    );
  return c;
}

/** Bits of element i as stored by generated code (sub-byte ints sign-extended to their byte). */
function storageBits(c: CElem, t: Tensor, i: number): bigint {
  if (c.subByte) return BigInt.asUintN(8, getElem(t, i) as bigint);
  return elemBits(t, i);
}

/** Bytes a tensor of `type` takes in generated code's storage layout. */
export function storageBytes(type: TensorType): number {
  return numElements(type.shape) * cElemOrUndefined(type.elem)!.bytes;
}

/** f32 or f64 (or complex of them): types whose storage is a plain typed array of the element. */
function wideFloat(type: TensorType): 'f32' | 'f64' | undefined {
  const e = type.elem.kind === 'complex' ? type.elem.part : type.elem;
  return e.kind === 'float' && (e.name === 'f32' || e.name === 'f64') ? e.name : undefined;
}

/** A tensor in generated code's storage layout: little-endian, `bytes` per element. */
export function toStorageBytes(t: Tensor): Uint8Array {
  const wide = wideFloat(t.type);
  if (wide) {
    // f32/f64 (and their complex): one typed-array conversion, rounding as encodeFloat does.
    const d = t.data as Float64Array;
    const v = wide === 'f32' ? Float32Array.from(d) : d;
    return new Uint8Array(v.buffer.slice(v.byteOffset, v.byteOffset + v.byteLength));
  }
  const ce = cElemOrUndefined(t.type.elem)!;
  const out = new Uint8Array(size(t) * ce.bytes);
  for (let i = 0; i < size(t); i++) {
    let bits = storageBits(ce, t, i);
    for (let b = 0; b < ce.bytes; b++) {
      out[i * ce.bytes + b] = Number(bits & 0xffn);
      bits >>= 8n;
    }
  }
  return out;
}

/** The inverse of toStorageBytes: generated code's output bytes as a tensor of `type`. */
export function fromStorageBytes(bytes: Uint8Array, type: TensorType): Tensor {
  const wide = wideFloat(type);
  if (wide) {
    const n = numElements(type.shape) * (type.elem.kind === 'complex' ? 2 : 1);
    const copy = new Uint8Array(bytes.subarray(0, n * (wide === 'f32' ? 4 : 8)));
    return makeTensor(
      type,
      Float64Array.from(wide === 'f32' ? new Float32Array(copy.buffer) : new Float64Array(copy.buffer)),
    );
  }
  const ce = cElemOrUndefined(type.elem)!;
  const t = makeTensor(type);
  // A boolean byte other than 0 or 1 is a bug of the generated code: kept as it is, so that it
  // compares unequal to true and false alike.
  if (ce.cls === 'bool') {
    (t.data as Uint8Array).set(bytes.subarray(0, size(t)));
    return t;
  }
  for (let i = 0; i < size(t); i++) {
    let bits = 0n;
    for (let b = ce.bytes - 1; b >= 0; b--) bits = (bits << 8n) | BigInt(bytes[i * ce.bytes + b]!);
    setElemBits(t, i, bits);
  }
  return t;
}

/** A C literal of the compute type. */
export function literal(c: CElem, v: number | bigint): string {
  if (c.cls === 'float' || c.cls === 'double') {
    const x = Number(v);
    if (Number.isNaN(x)) return 'NAN';
    if (!Number.isFinite(x)) return x > 0 ? 'INFINITY' : '(-INFINITY)';
    const s =
      x === 0 && Object.is(x, -0)
        ? '-0.0'
        : x
            .toPrecision(17)
            .replace(/(\.\d*?)0+(e|$)/, '$1$2')
            .replace(/\.(e|$)/, '.0$1');
    const text = /[.e]/.test(s) ? s : `${s}.0`;
    return c.cls === 'float' ? `${text}f` : text;
  }
  if (c.cls === 'bool') return v ? '1' : '0';
  const b = BigInt(v);
  if (c.signed && c.bytes === 8 && b === -(1n << 63n)) return 'INT64_MIN';
  const suffix = c.bytes === 8 ? (c.signed ? 'LL' : 'ULL') : c.signed ? '' : 'u';
  return `((${c.storage})${b}${suffix})`;
}

/** Element i of a constant as a C literal of its storage type. */
export function storageLiteral(ce: CElem, value: Tensor, i: number): string {
  if (ce.quant) return `(${ce.storage})${String(getElem(value, i))}`;
  if (ce.cls === 'int') return literal(ce, getElem(value, i) as bigint);
  if (ce.cls === 'bool') return String(getElem(value, i));
  if (ce.storage === 'uint16_t') return `(uint16_t)0x${elemBits(value, i).toString(16)}`;
  return cLiteralBits(ce.storage, elemBits(value, i));
}

/** Exact C literal of a float or double from its bit pattern (hex float, no rounding). */
function cLiteralBits(storage: string, bits: bigint): string {
  const buf = new DataView(new ArrayBuffer(8));
  let v: number;
  if (storage === 'float') {
    buf.setUint32(0, Number(bits));
    v = buf.getFloat32(0);
  } else {
    buf.setBigUint64(0, bits);
    v = buf.getFloat64(0);
  }
  if (Number.isNaN(v)) return 'NAN';
  if (!Number.isFinite(v)) return v > 0 ? 'INFINITY' : '-INFINITY';
  const s = Object.is(v, -0) ? '-0.0' : String(v); // shortest text that reads back exactly
  const lit = /[.e]/.test(s) ? s : `${s}.0`;
  return storage === 'float' ? `${lit}f` : lit;
}
