/**
 * @fileoverview Runtime values of the reference interpreter. Storage per element class:
 * floats in a Float64Array holding values already rounded to the element type; complex as
 * interleaved (re, im) in a Float64Array; integers (and quantized storage) as bigint arrays
 * holding canonical (wrapped) values; booleans in a Uint8Array.
 */
import type { DenseElem, DenseLiteral } from './attrs.js';
import { decodeFloat, encodeFloat, roundToFormat } from './float-format.js';
import { numElements, storageElem, typeToString, type ElemType, type IntElem, type TensorType } from './types.js';
import { RuntimeError } from '../diag/diagnostics.js';

export type TensorData = Float64Array | bigint[] | Uint8Array;

export interface Tensor {
  readonly kind: 'tensor';
  readonly type: TensorType;
  readonly data: TensorData;
}
export interface TupleValue {
  readonly kind: 'tuple';
  readonly elems: readonly RtValue[];
}
export interface TokenValue {
  readonly kind: 'token';
}
/** Pointer to a module global (IREE `util.global.address`). */
export interface GlobalRef {
  readonly kind: 'globalRef';
  readonly name: string;
}
/** A value of a manual (shard_map) region on a simulated grid: one tensor per partition. */
export interface ShardedValue {
  readonly kind: 'sharded';
  readonly parts: readonly Tensor[];
}
export type RtValue = Tensor | TupleValue | TokenValue | GlobalRef | ShardedValue;

/** One element: number (float, and bool as 0/1), bigint (int), or [re, im] (complex). */
export type Elem = number | bigint | readonly [number, number];

/** Tuples spread into their leaves, in order: the compiled program's view of a function's results. */
export function flattenTuples(values: readonly RtValue[]): RtValue[] {
  return values.flatMap((v) => (v.kind === 'tuple' ? flattenTuples(v.elems) : [v]));
}

function wrapInt(e: IntElem, v: bigint): bigint {
  return e.signed ? BigInt.asIntN(e.bits, v) : BigInt.asUintN(e.bits, v);
}

function allocData(elem: ElemType, n: number): TensorData {
  const s = storageElem(elem);
  switch (s.kind) {
    case 'float':
      return new Float64Array(n);
    case 'complex':
      return new Float64Array(2 * n);
    case 'bool':
      return new Uint8Array(n);
    case 'int':
      return new Array<bigint>(n).fill(0n);
    case 'quant':
      throw new RuntimeError('nested quantized type');
  }
}

/** The most elements a tensor may have (the verifier refuses larger types, located). */
export const MAX_ELEMENTS = 2 ** 31;

export function makeTensor(type: TensorType, data?: TensorData): Tensor {
  if (type.shape.some((d) => d < 0))
    throw new RuntimeError(
      `dynamic shape ${type.shape.map((d) => (d < 0 ? '?' : d)).join('x')} cannot be executed; refine it to a static shape`,
    );
  if (numElements(type.shape) > MAX_ELEMENTS)
    throw new RuntimeError(`${typeToString(type)} has more elements than the interpreter holds (2^31)`);
  return { kind: 'tensor', type, data: data ?? allocData(type.elem, numElements(type.shape)) };
}

export function size(t: Tensor): number {
  return numElements(t.type.shape);
}

export function getElem(t: Tensor, i: number): Elem {
  const s = storageElem(t.type.elem);
  if (s.kind === 'complex') {
    const d = t.data as Float64Array;
    return [d[2 * i]!, d[2 * i + 1]!];
  }
  return (t.data as ArrayLike<number | bigint>)[i]!;
}

/** The one value every element of `t` has (compared by Object.is), or undefined where they
 * differ or there are none. */
export function uniformElem(t: Tensor): Elem | undefined {
  if (size(t) === 0) return undefined;
  const v = getElem(t, 0);
  for (let i = 1; i < size(t); i++) if (!Object.is(getElem(t, i), v)) return undefined;
  return v;
}

/** A tensor of `type` with every element `v`. */
export function filledTensor(type: TensorType, v: Elem): Tensor {
  const t = makeTensor(type);
  for (let i = 0; i < size(t); i++) setElem(t, i, v);
  return t;
}

/** Stores an element, rounding/wrapping it to the tensor's element type. */
export function setElem(t: Tensor, i: number, v: Elem): void {
  const s = storageElem(t.type.elem);
  switch (s.kind) {
    case 'float':
      (t.data as Float64Array)[i] = roundToFormat(s.format, v as number);
      return;
    case 'complex': {
      const d = t.data as Float64Array;
      const [re, im] = v as [number, number];
      d[2 * i] = roundToFormat(s.part.format, re);
      d[2 * i + 1] = roundToFormat(s.part.format, im);
      return;
    }
    case 'bool':
      (t.data as Uint8Array)[i] = v ? 1 : 0;
      return;
    case 'int':
      (t.data as bigint[])[i] = wrapInt(s, v as bigint);
      return;
    case 'quant':
      return;
  }
}

/** Copies element `si` of `src` to element `di` of `dst` (same element type). */
export function copyElem(dst: Tensor, di: number, src: Tensor, si: number): void {
  if (storageElem(dst.type.elem).kind === 'complex') {
    const d = dst.data as Float64Array;
    const s = src.data as Float64Array;
    d[2 * di] = s[2 * si]!;
    d[2 * di + 1] = s[2 * si + 1]!;
  } else (dst.data as unknown as (number | bigint)[])[di] = (src.data as unknown as (number | bigint)[])[si]!;
}

export function strides(shape: readonly number[]): number[] {
  const st = new Array<number>(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    st[i] = acc;
    acc *= shape[i]!;
  }
  return st;
}

/** Calls fn with every multi-index of `shape` in row-major order (index array is reused). */
export function forEachIndex(shape: readonly number[], fn: (idx: number[], flat: number) => void): void {
  const n = numElements(shape);
  if (n === 0) return;
  const idx = new Array<number>(shape.length).fill(0);
  for (let flat = 0; flat < n; flat++) {
    fn(idx, flat);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) break;
      idx[d] = 0;
    }
  }
}

export function flatIndex(idx: readonly number[], st: readonly number[]): number {
  let f = 0;
  for (let i = 0; i < idx.length; i++) f += idx[i]! * st[i]!;
  return f;
}

/** Bits of element i as an unsigned bigint of the element's storage width. */
export function elemBits(t: Tensor, i: number): bigint {
  const s = storageElem(t.type.elem);
  switch (s.kind) {
    case 'float':
      return BigInt(encodeFloat(s.format, (t.data as Float64Array)[i]!));
    case 'complex': {
      const w = BigInt(s.part.format.bits);
      const d = t.data as Float64Array;
      return BigInt(encodeFloat(s.part.format, d[2 * i]!)) | (BigInt(encodeFloat(s.part.format, d[2 * i + 1]!)) << w);
    }
    case 'bool':
      return BigInt((t.data as Uint8Array)[i]!);
    case 'int':
      return BigInt.asUintN(s.bits, (t.data as bigint[])[i]!);
    case 'quant':
      return 0n;
  }
}

export function elemBitWidth(e: ElemType): number {
  const s = storageElem(e);
  switch (s.kind) {
    case 'float':
      return s.format.bits;
    case 'complex':
      return 2 * s.part.format.bits;
    case 'bool':
      return 1;
    case 'int':
      return s.bits;
    case 'quant':
      return 0;
  }
}

export function setElemBits(t: Tensor, i: number, bits: bigint): void {
  const s = storageElem(t.type.elem);
  switch (s.kind) {
    case 'float':
      (t.data as Float64Array)[i] = decodeFloat(s.format, bits);
      return;
    case 'complex': {
      const w = BigInt(s.part.format.bits);
      const mask = (1n << w) - 1n;
      const d = t.data as Float64Array;
      d[2 * i] = decodeFloat(s.part.format, bits & mask);
      d[2 * i + 1] = decodeFloat(s.part.format, (bits >> w) & mask);
      return;
    }
    case 'bool':
      (t.data as Uint8Array)[i] = bits & 1n ? 1 : 0;
      return;
    case 'int':
      (t.data as bigint[])[i] = wrapInt(s, bits);
      return;
    case 'quant':
      return;
  }
}

function denseElemValue(e: DenseElem, elem: ElemType): Elem {
  const s = storageElem(elem);
  switch (s.kind) {
    case 'float':
      if (e.kind === 'int' && e.hex) return decodeFloat(s.format, e.value);
      if (e.kind === 'int') return Number(e.value);
      if (e.kind === 'float') return e.value;
      if (e.kind === 'bool') return e.value ? 1 : 0;
      throw new RuntimeError('complex literal for a real float type');
    case 'complex': {
      if (e.kind === 'complex') return [denseElemValue(e.re, s.part) as number, denseElemValue(e.im, s.part) as number];
      return [denseElemValue(e, s.part) as number, 0];
    }
    case 'bool':
      if (e.kind === 'bool') return e.value ? 1 : 0;
      if (e.kind === 'int') return e.value !== 0n ? 1 : 0;
      throw new RuntimeError('bad literal for i1');
    case 'int':
      if (e.kind === 'int') return e.value;
      if (e.kind === 'bool') return e.value ? 1n : 0n;
      if (e.kind === 'float' && Number.isInteger(e.value)) return BigInt(e.value);
      throw new RuntimeError(`bad literal for ${s.name}`);
    case 'quant':
      throw new RuntimeError('bad quantized literal');
  }
}

/** Bytes one element of `type` takes in a hex literal. */
function hexWidth(type: TensorType): number {
  const width = storageElem(type.elem).kind === 'bool' ? 8 : elemBitWidth(type.elem);
  return Math.max(1, Math.ceil(width / 8));
}

/** Why a `dense<...>` literal cannot fill `type` (its element count is neither 1, a splat, nor
 * the type's), or undefined when it can. Checked when a module is verified, before any decoding. */
export function literalSizeError(lit: DenseLiteral, type: TensorType): string | undefined {
  if (type.shape.some((d) => d < 0)) return undefined;
  const n = numElements(type.shape);
  const count = lit.hexBytes ? lit.hexBytes.length / hexWidth(type) : (lit.elems ?? []).length;
  if (count === n || count === 1) return undefined;
  return `the literal has ${count} element(s), the type ${typeToString(type)} ${n}`;
}

/** Element decoders of hex literals that typed arrays do at memory speed (model weights are f32
 * hex literals of tens of megabytes: the bit-by-bit path below took seconds for ResNet-50). */
const TYPED_HEX: Readonly<
  Record<
    string,
    {
      readonly BYTES_PER_ELEMENT: number;
      new (b: ArrayBufferLike, offset?: number, length?: number): ArrayLike<number>;
    }
  >
> = {
  f32: Float32Array,
  f64: Float64Array,
};

/** Fills `t` from little-endian `bytes` (one element each) with a typed array where its element
 * type has one here; false where it has not. */
function decodeTypedHex(bytes: Uint8Array, t: Tensor): boolean {
  const s = storageElem(t.type.elem);
  const View = s.kind === 'float' ? TYPED_HEX[s.format.name] : undefined;
  if (!View) return false;
  // A view where the bytes are aligned for it (a large hex literal decodes into a buffer of its
  // own), else a copy: ResNet-50's 100 MB of weights copied took 0.15 s of a 2.4 s compile. The
  // host is little-endian, as x86 and arm64 are (checked once below).
  const width = View.BYTES_PER_ELEMENT;
  const values =
    bytes.byteOffset % width === 0
      ? new View(bytes.buffer, bytes.byteOffset, bytes.length / width)
      : new View(bytes.slice().buffer);
  (t.data as Float64Array).set(values);
  return true;
}
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('xla-aot needs a little-endian host');

/** Materializes a `dense<...>` literal as a tensor of the given type. */
export function tensorFromDense(lit: DenseLiteral, type: TensorType): Tensor {
  const t = makeTensor(type);
  const n = size(t);
  const wrong = literalSizeError(lit, type);
  if (wrong) throw new RuntimeError(wrong);
  if (lit.hexBytes) {
    const bytes = lit.hexBytes;
    const byteWidth = hexWidth(type);
    const count = bytes.length / byteWidth;
    if (count === n && decodeTypedHex(bytes, t)) return t;
    for (let i = 0; i < (count === 1 ? Math.min(n, 1) : n); i++) {
      const off = (count === 1 ? 0 : i) * byteWidth;
      let bits = 0n;
      for (let b = byteWidth - 1; b >= 0; b--) bits = (bits << 8n) | BigInt(bytes[off + b]!);
      setElemBits(t, i, bits);
    }
    if (count === 1) fillWithFirst(t);
    return t;
  }
  const els = lit.elems ?? [];
  const splat = els.length === 1;
  for (let i = 0; i < (splat ? Math.min(n, 1) : n); i++)
    setElem(t, i, denseElemValue(splat ? els[0]! : els[i]!, type.elem));
  if (splat) fillWithFirst(t);
  return t;
}

/** Sets every element of `t` to its first (splat literals: decoded once, then copied; exporters
 * write zero splats of millions of elements). */
function fillWithFirst(t: Tensor): void {
  if (storageElem(t.type.elem).kind !== 'complex') {
    const d = t.data as unknown as { fill(v: unknown): void; [i: number]: unknown };
    d.fill(d[0]);
    return;
  }
  const d = t.data as Float64Array;
  for (let i = 2; i < d.length; i += 2) [d[i], d[i + 1]] = [d[0]!, d[1]!];
}

export function expectTensor(v: RtValue | undefined, what = 'operand'): Tensor {
  if (v?.kind === 'sharded')
    throw new RuntimeError(
      `${what} is a per-partition value of a manual region: only a call, @Sharding or @SPMDShardToFullShape may take it`,
    );
  if (!v || v.kind !== 'tensor') throw new RuntimeError(`${what} must be a tensor`);
  return v;
}

/** Integer value of element i as a JS number (index operands). */
export function intAt(t: Tensor, i: number): number {
  const v = getElem(t, i);
  return typeof v === 'bigint' ? Number(v) : Number(v);
}
