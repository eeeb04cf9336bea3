/**
 * @fileoverview Integer index expressions (int64): the addressing language of fusion's index maps
 * and of the kernel IR. A small AST, built through helpers that fold constants, so maps compare
 * structurally (idxEqual) and renderers print them; never strings.
 */

/** What an index may read from: a kernel buffer (kernel/ir.ts Buf) by name. */
export interface BufRef {
  readonly name: string;
}

export type Idx =
  | { readonly k: 'int'; readonly value: number }
  | { readonly k: 'var'; readonly name: string }
  | { readonly k: 'sum'; readonly terms: readonly Idx[] }
  | { readonly k: 'mul'; readonly x: Idx; readonly by: number }
  | { readonly k: 'sub'; readonly a: Idx; readonly b: Idx }
  | { readonly k: 'div' | 'mod'; readonly x: Idx; readonly by: number }
  /** x clamped to [lo, hi] (dynamic_slice starts, gather indices). */
  | { readonly k: 'clamp'; readonly x: Idx; readonly lo: number; readonly hi: number }
  /** An integer element of a buffer, as an index (dynamic starts, gather/scatter indices). */
  | { readonly k: 'read'; readonly buf: BufRef; readonly at: Idx };

export const int = (value: number): Idx => ({ k: 'int', value });
export const v = (name: string): Idx => ({ k: 'var', name });

/** a + b + ..., with constants folded and zeros dropped. */
export function add(...xs: readonly Idx[]): Idx {
  const terms: Idx[] = [];
  let c = 0;
  for (const x of xs.flatMap((t) => (t.k === 'sum' ? t.terms : [t]))) {
    if (x.k === 'int') c += x.value;
    else terms.push(x);
  }
  if (c !== 0) terms.push(int(c));
  return terms.length === 0 ? int(0) : terms.length === 1 ? terms[0]! : { k: 'sum', terms };
}

/** x * by, folded (by 0: 0, by 1: x). */
export function mul(x: Idx, by: number): Idx {
  if (by === 0) return int(0);
  if (by === 1) return x;
  if (x.k === 'int') return int(x.value * by);
  return { k: 'mul', x, by };
}

export const sub = (a: Idx, b: Idx): Idx =>
  b.k === 'int' && b.value === 0 ? a : a.k === 'int' && b.k === 'int' ? int(a.value - b.value) : { k: 'sub', a, b };
export const div = (x: Idx, by: number): Idx => (by === 1 ? x : { k: 'div', x, by });
export const mod = (x: Idx, by: number): Idx => ({ k: 'mod', x, by });

/** Row-major offset: sum of index_d * stride_d (+ base). */
export function linear(index: readonly Idx[], strides: readonly number[], base = 0): Idx {
  return add(...index.map((x, d) => mul(x, strides[d]!)), int(base));
}

/** Structural equality. */
export function idxEqual(a: Idx, b: Idx): boolean {
  if (a.k !== b.k) return false;
  switch (a.k) {
    case 'int':
      return a.value === (b as typeof a).value;
    case 'var':
      return a.name === (b as typeof a).name;
    case 'sum': {
      const t = (b as typeof a).terms;
      return t.length === a.terms.length && a.terms.every((x, i) => idxEqual(x, t[i]!));
    }
    case 'mul':
    case 'div':
    case 'mod': {
      const o = b as typeof a;
      return a.by === o.by && idxEqual(a.x, o.x);
    }
    case 'sub': {
      const o = b as typeof a;
      return idxEqual(a.a, o.a) && idxEqual(a.b, o.b);
    }
    case 'clamp': {
      const o = b as typeof a;
      return a.lo === o.lo && a.hi === o.hi && idxEqual(a.x, o.x);
    }
    case 'read': {
      const o = b as typeof a;
      return a.buf.name === o.buf.name && idxEqual(a.at, o.at);
    }
  }
}

/** The index expressions directly inside `x`. */
export function subIndexes(x: Idx): readonly Idx[] {
  switch (x.k) {
    case 'sum':
      return x.terms;
    case 'mul':
    case 'div':
    case 'mod':
    case 'clamp':
      return [x.x];
    case 'sub':
      return [x.a, x.b];
    case 'read':
      return [x.at];
    default:
      return [];
  }
}

/** Whether variable `name` occurs in `x`. */
export function mentions(x: Idx, name: string): boolean {
  return x.k === 'var' ? x.name === name : subIndexes(x).some((y) => mentions(y, name));
}

/** How a language spells the two index forms that are not plain arithmetic. */
export interface IndexSpelling {
  readonly clamp: (x: string, lo: number, hi: number) => string;
  readonly read: (buf: string, at: string) => string;
}

/** `x` in infix syntax (C's precedence: sums inside products get parentheses). */
export function indexText(x: Idx, spell: IndexSpelling): string {
  const text = (y: Idx): string => indexText(y, spell);
  const factor = (y: Idx): string => (y.k === 'sum' || y.k === 'sub' ? `(${text(y)})` : text(y));
  switch (x.k) {
    case 'int':
      return String(x.value);
    case 'var':
      return x.name;
    case 'sum':
      return x.terms.map(text).join(' + ');
    case 'mul':
      return `${factor(x.x)} * ${x.by}`;
    case 'sub':
      return `${text(x.a)} - ${factor(x.b)}`;
    case 'div':
      return `${factor(x.x)} / ${x.by}`;
    case 'mod':
      return `${factor(x.x)} % ${x.by}`;
    case 'clamp':
      return spell.clamp(text(x.x), x.lo, x.hi);
    case 'read':
      return spell.read(x.buf.name, text(x.at));
  }
}
