/**
 * @fileoverview MLIR attribute values as parsed (both generic and pretty syntax produce these),
 * and small typed readers the op table uses to turn them into op attributes.
 */
import { error } from '../diag/diagnostics.js';
import type { Loc } from '../diag/source.js';
import type { Sharding } from './sharding.js';
import type { ElemType, TensorType, Type } from './types.js';

/** One element of a `dense<...>` list: ints keep their text so hex float bit patterns survive. */
export type DenseElem =
  | { readonly kind: 'int'; readonly value: bigint; readonly hex: boolean }
  | { readonly kind: 'float'; readonly value: number }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'complex'; readonly re: DenseElem; readonly im: DenseElem };

export interface DenseLiteral {
  /** Raw little-endian bytes from a `"0x..."` string. */
  readonly hexBytes?: Uint8Array;
  /** Row-major flattened elements (one element for a splat). */
  readonly elems?: readonly DenseElem[];
  /** Shape of the nested list as written (to check against the type). */
  readonly listShape?: readonly number[];
}

export type Attr =
  | { readonly kind: 'int'; readonly value: bigint; readonly type?: ElemType }
  | { readonly kind: 'float'; readonly value: number; readonly type?: ElemType }
  | { readonly kind: 'bool'; readonly value: boolean }
  | { readonly kind: 'string'; readonly value: string }
  | { readonly kind: 'symbol'; readonly name: string }
  | { readonly kind: 'array'; readonly elems: readonly Attr[] }
  | { readonly kind: 'denseArray'; readonly elemType: string; readonly values: readonly number[] }
  | { readonly kind: 'dense'; readonly literal: DenseLiteral; readonly type?: TensorType }
  /** `positive`: an elided weight whose stand-in values must be positive (import/elided.ts). */
  | { readonly kind: 'denseResource'; readonly name: string; readonly type?: TensorType; readonly positive?: boolean }
  | { readonly kind: 'enum'; readonly value: string }
  | { readonly kind: 'struct'; readonly name: string; readonly fields: Readonly<Record<string, Attr>> }
  | {
      readonly kind: 'convDims';
      readonly lhs: readonly string[];
      readonly rhs: readonly string[];
      readonly out: readonly string[];
    }
  | { readonly kind: 'dict'; readonly fields: Readonly<Record<string, Attr>> }
  | { readonly kind: 'type'; readonly type: Type | ElemType }
  | { readonly kind: 'fnType'; readonly inputs: readonly Type[]; readonly outputs: readonly Type[] }
  | { readonly kind: 'pair'; readonly first: Attr; readonly second: Attr }
  /** `#sdy.sharding<...>` or an `mhlo.sharding = "{...}"` string, read (import/sharding.ts). */
  | { readonly kind: 'sharding'; readonly sharding: Sharding }
  /** A dialect attribute nothing here interprets (`#ttcore.foo<...>`), kept as written. */
  | { readonly kind: 'opaque'; readonly text: string }
  | { readonly kind: 'unit' };

export type Attrs = Readonly<Record<string, Attr>>;

/** Typed access to an op's attributes, reporting missing/ill-typed ones at the op's location. */
export class AttrReader {
  constructor(
    readonly op: string,
    readonly attrs: Attrs,
    readonly loc: Loc,
  ) {}

  has(name: string): boolean {
    return name in this.attrs;
  }

  private need(name: string): Attr {
    const a = this.attrs[name];
    if (!a) throw error('E0206', { op: this.op, name }, this.loc);
    return a;
  }

  private bad(name: string, expected: string): never {
    throw error('E0204', { op: this.op, detail: `attribute ${name} must be ${expected}` }, this.loc);
  }

  /** An integer list from `array<i64: ...>`, `dense<[...]>`, `[1, 2]` or a single int. */
  ints(name: string, fallback?: readonly number[]): number[] {
    const a = this.attrs[name];
    if (!a) {
      if (fallback) return [...fallback];
      return this.need(name) as never;
    }
    const r = attrToInts(a);
    return r ?? this.bad(name, 'a list of integers');
  }

  int(name: string, fallback?: number): number {
    const a = this.attrs[name];
    if (!a && fallback !== undefined) return fallback;
    const r = attrToInts(a ?? this.need(name));
    if (!r || r.length !== 1) return this.bad(name, 'an integer');
    return r[0]!;
  }

  float(name: string, fallback?: number): number {
    const a = this.attrs[name];
    if (!a && fallback !== undefined) return fallback;
    const v = a ?? this.need(name);
    if (v.kind === 'float') return v.value;
    if (v.kind === 'int') return Number(v.value);
    return this.bad(name, 'a number');
  }

  bool(name: string, fallback?: boolean): boolean {
    const a = this.attrs[name];
    if (!a && fallback !== undefined) return fallback;
    const v = a ?? this.need(name);
    if (v.kind === 'bool') return v.value;
    if (v.kind === 'unit') return true;
    const ints = attrToInts(v);
    if (ints && ints.length === 1) return ints[0] !== 0;
    return this.bad(name, 'a boolean');
  }

  bools(name: string, fallback?: readonly boolean[]): boolean[] {
    const a = this.attrs[name];
    if (!a && fallback) return [...fallback];
    const v = a ?? this.need(name);
    if (v.kind === 'array')
      return v.elems.map((e) =>
        e.kind === 'bool' ? e.value : e.kind === 'int' ? e.value !== 0n : this.bad(name, 'a list of booleans'),
      );
    if (v.kind === 'denseArray') return v.values.map((x) => x !== 0);
    if (v.kind === 'dense' && v.literal.elems)
      return v.literal.elems.map((e) => (e.kind === 'bool' ? e.value : e.kind === 'int' ? e.value !== 0n : false));
    return this.bad(name, 'a list of booleans');
  }

  /** An enum keyword: bare `EQ`, `#stablehlo<comparison_direction EQ>`, or a string. */
  enumValue(name: string, fallback?: string): string {
    const a = this.attrs[name];
    if (!a && fallback !== undefined) return fallback;
    const v = a ?? this.need(name);
    if (v.kind === 'enum') return v.value;
    if (v.kind === 'string') return v.value;
    if (v.kind === 'int') return String(v.value);
    return this.bad(name, 'an enum keyword');
  }

  string(name: string, fallback?: string): string {
    const a = this.attrs[name];
    if (!a && fallback !== undefined) return fallback;
    const v = a ?? this.need(name);
    if (v.kind === 'string') return v.value;
    if (v.kind === 'symbol') return v.name;
    return this.bad(name, 'a string');
  }

  struct(name: string): AttrReader {
    const v = this.need(name);
    if (v.kind !== 'struct' && v.kind !== 'dict') return this.bad(name, 'a structured attribute');
    return new AttrReader(this.op, v.fields, this.loc);
  }

  /** A 2-D integer list (`dense<[[0, 1]]> : tensor<1x2xi64>` or `[[0, 1]]`). */
  intMatrix(name: string, fallback?: number[][]): number[][] {
    const a = this.attrs[name];
    if (!a && fallback) return fallback;
    const v = a ?? this.need(name);
    if (v.kind === 'array') return v.elems.map((e) => attrToInts(e) ?? this.bad(name, 'a 2-D list of integers'));
    if (v.kind === 'dense') {
      const flat = attrToInts(v) ?? this.bad(name, 'a 2-D list of integers');
      const shape = v.type?.shape ?? v.literal.listShape ?? [flat.length];
      if (shape.length === 1) return flat.map((x) => [x]);
      const rows = shape[0]!;
      const cols = shape[1]!;
      const out: number[][] = [];
      for (let r = 0; r < rows; r++) out.push(flat.slice(r * cols, (r + 1) * cols));
      return out;
    }
    return this.bad(name, 'a 2-D list of integers');
  }

  raw(name: string): Attr | undefined {
    return this.attrs[name];
  }
}

/** Flattens an integer-valued attribute into numbers, or undefined when it is not one. */
function attrToInts(a: Attr): number[] | undefined {
  switch (a.kind) {
    case 'int':
      return [Number(a.value)];
    case 'bool':
      return [a.value ? 1 : 0];
    case 'denseArray':
      return [...a.values];
    case 'array': {
      const out: number[] = [];
      for (const e of a.elems) {
        const r = attrToInts(e);
        if (!r) return undefined;
        out.push(...r);
      }
      return out;
    }
    case 'dense': {
      const els = a.literal.elems;
      if (!els) return undefined;
      const n = a.type ? a.type.shape.reduce((x, y) => x * y, 1) : els.length;
      const vals = els.map((e) =>
        e.kind === 'int' ? Number(e.value) : e.kind === 'bool' ? (e.value ? 1 : 0) : e.kind === 'float' ? e.value : NaN,
      );
      if (vals.length === 1 && n !== 1) return new Array<number>(n).fill(vals[0]!);
      return vals;
    }
    default:
      return undefined;
  }
}
