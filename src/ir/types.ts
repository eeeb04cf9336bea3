/**
 * @fileoverview Element types (every type of the conformance data: bool, sub-byte and wide
 * ints, IEEE and f8/f6/f4 floats, complex, !quant.uniform) and value types (tensor, tuple,
 * token, opaque pointer types of foreign dialects).
 */
import { FLOAT_FORMATS, type FloatFormat } from './float-format.js';

export interface BoolElem {
  readonly kind: 'bool';
  readonly name: 'i1';
}
export interface IntElem {
  readonly kind: 'int';
  readonly name: string;
  readonly bits: number;
  readonly signed: boolean;
}
export interface FloatElem {
  readonly kind: 'float';
  readonly name: string;
  readonly format: FloatFormat;
}
export interface ComplexElem {
  readonly kind: 'complex';
  readonly name: string;
  readonly part: FloatElem;
}
export interface QuantElem {
  readonly kind: 'quant';
  readonly name: string;
  readonly storage: IntElem;
  readonly expressed: FloatElem;
  readonly scales: readonly number[];
  readonly zeroPoints: readonly number[];
  /** Quantization dimension for per-axis types. */
  readonly axis?: number;
  readonly storageMin: bigint;
  readonly storageMax: bigint;
}
export type ElemType = BoolElem | IntElem | FloatElem | ComplexElem | QuantElem;

export interface TensorType {
  readonly kind: 'tensor';
  readonly shape: readonly number[];
  readonly elem: ElemType;
}
export interface TupleType {
  readonly kind: 'tuple';
  readonly elems: readonly Type[];
}
export interface TokenType {
  readonly kind: 'token';
}
/** A type of another dialect we only carry around (e.g. `!util.ptr<tensor<4xf32>>`). */
export interface OpaqueType {
  readonly kind: 'opaque';
  readonly text: string;
  readonly pointee?: Type;
}
export type Type = TensorType | TupleType | TokenType | OpaqueType;

export const BOOL: BoolElem = { kind: 'bool', name: 'i1' };

const intCache = new Map<string, IntElem>();
export function intElem(bits: number, signed: boolean): IntElem {
  const name = `${signed ? 'i' : 'ui'}${bits}`;
  let t = intCache.get(name);
  if (!t) intCache.set(name, (t = { kind: 'int', name, bits, signed }));
  return t;
}

const floatCache = new Map<string, FloatElem>();
export function floatElem(name: string): FloatElem | undefined {
  let t = floatCache.get(name);
  const format = FLOAT_FORMATS[name];
  if (!t && format) floatCache.set(name, (t = { kind: 'float', name, format }));
  return t;
}

export function complexElem(part: FloatElem): ComplexElem {
  return { kind: 'complex', name: `complex<${part.name}>`, part };
}

/** Parses a builtin scalar element type name (`f32`, `ui4`, `si8`, `i1`, ...). */
export function elemFromName(name: string): ElemType | undefined {
  if (name === 'i1') return BOOL;
  const m = /^(i|si|ui)(\d+)$/.exec(name);
  if (m) {
    const bits = Number(m[2]);
    if ([2, 4, 8, 16, 32, 64].includes(bits)) return intElem(bits, m[1] !== 'ui');
    return undefined;
  }
  if (name === 'index') return intElem(64, true);
  return floatElem(name);
}

export function tensorType(shape: readonly number[], elem: ElemType): TensorType {
  return { kind: 'tensor', shape, elem };
}

export function numElements(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function elemToString(e: ElemType): string {
  if (e.kind !== 'quant') return e.name;
  return e.name;
}

export function typeToString(t: Type): string {
  switch (t.kind) {
    case 'tensor': {
      const dims = t.shape.map((d) => (d < 0 ? '?' : String(d)));
      return `tensor<${[...dims, elemToString(t.elem)].join('x')}>`;
    }
    case 'tuple':
      return `tuple<${t.elems.map(typeToString).join(', ')}>`;
    case 'token':
      return '!stablehlo.token';
    case 'opaque':
      return t.text;
  }
}

/** Shapes that can describe the same tensor: equal ranks, each dim equal or dynamic (-1) in either. */
export function compatibleShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i] || d < 0 || b[i]! < 0);
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function sameElem(a: ElemType, b: ElemType): boolean {
  return a.name === b.name;
}

/** Storage element of a quantized type, or the type itself. */
export function storageElem(e: ElemType): ElemType {
  return e.kind === 'quant' ? e.storage : e;
}

export function isFloatLike(e: ElemType): boolean {
  return e.kind === 'float' || e.kind === 'complex';
}
