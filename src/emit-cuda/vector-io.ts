/**
 * @fileoverview 128-bit loads and stores for elementwise grid loops: when every store of a grid
 * nest's body writes the element at the nest's flat index (the body is elementwise over a
 * row-major result), a thread can take four consecutive elements at once: one aligned load of
 * four elements from each buffer read at that same index (rl_cuda.h's rl_vec4, 16 bytes for
 * 4-byte types: LDG.128), the body once per lane, one store of the four results. Reads at other
 * indexes (a bias broadcast along a dimension, a gather) stay scalar. The renderer runs this path
 * when every such pointer is aligned (checked at run time: a caller's buffers need not be), the
 * element-at-a-time loop otherwise.
 */
import { int, type Idx } from '../ir/index-expr.js';
import { strides } from '../ir/tensor.js';
import type { Buf, Stmt, Val } from '../kernel/ir.js';

type Loop = Extract<Stmt, { k: 'loop' }>;

export interface VectorIo {
  /** Buffers read at the flat index: loaded four elements at a time. */
  readonly loads: readonly Buf[];
  /** Buffers written (always at the flat index). */
  readonly stores: readonly Buf[];
  /** Groups of four elements. */
  readonly groups: number;
  /** Whether an index is the flat index (a read there is a lane of the buffer's vector). */
  readonly atFlat: (x: Idx) => boolean;
}

/** `x` as coefficients of its variables plus a constant, when it is affine in them. */
function affine(x: Idx): { coef: Map<string, number>; constant: number } | undefined {
  switch (x.k) {
    case 'int':
      return { coef: new Map(), constant: x.value };
    case 'var':
      return { coef: new Map([[x.name, 1]]), constant: 0 };
    case 'mul': {
      const a = affine(x.x);
      return a && { coef: new Map([...a.coef].map(([n, c]) => [n, c * x.by])), constant: a.constant * x.by };
    }
    case 'sum': {
      const coef = new Map<string, number>();
      let constant = 0;
      for (const t of x.terms) {
        const a = affine(t);
        if (!a) return undefined;
        a.coef.forEach((c, n) => coef.set(n, (coef.get(n) ?? 0) + c));
        constant += a.constant;
      }
      return { coef, constant };
    }
    case 'sub': {
      const [a, b] = [affine(x.a), affine(x.b)];
      if (!a || !b) return undefined;
      const coef = new Map(a.coef);
      b.coef.forEach((c, n) => coef.set(n, (coef.get(n) ?? 0) - c));
      return { coef, constant: a.constant - b.constant };
    }
    default:
      return undefined;
  }
}

/** Storage types a lane of rl_vec4 may hold (no packed sub-byte or complex elements). */
const PLAIN = new Set([
  'float',
  'double',
  'int8_t',
  'uint8_t',
  'int16_t',
  'uint16_t',
  'int32_t',
  'uint32_t',
  'int64_t',
  'uint64_t',
]);

/**
 * The vector accesses of grid nest `loops` (each from 0 to its extent, innermost last) over
 * `body`, if it takes them: a body of locals, index declarations and stores only, every store at
 * the flat index, an element count that is a multiple of four; `storage(b)`: b's C storage type.
 */
export function vectorIo(
  loops: readonly Loop[],
  body: readonly Stmt[],
  storage: (b: Buf) => string,
): VectorIo | undefined {
  const extents = loops.map((l) => (l.to.k === 'int' ? l.to.value : 0));
  const total = extents.reduce((n, e) => n * e, 1);
  if (total < 4 || total % 4 !== 0) return undefined;
  const stride = strides(extents);
  const atFlat = (x: Idx): boolean => {
    const a = affine(x);
    if (!a || a.constant !== 0) return false;
    const vars = new Set(loops.map((l) => l.var));
    if ([...a.coef].some(([n, c]) => c !== 0 && !vars.has(n))) return false;
    return loops.every((l, d) => extents[d] === 1 || (a.coef.get(l.var) ?? 0) === stride[d]);
  };
  const loads = new Map<string, Buf>();
  const visit = (x: Val): void => {
    if (x.k === 'load' && atFlat(x.at)) loads.set(x.buf.name, x.buf);
    if (x.k === 'cond') [x.then, x.otherwise].forEach(visit);
    if (x.k === 'op') x.args.forEach(visit);
  };
  const stores = new Map<string, Buf>();
  for (const s of body) {
    if (s.k === 'comment' || s.k === 'index') continue;
    if (s.k === 'let') visit(s.value);
    else if (s.k === 'store' && atFlat(s.at)) {
      visit(s.value);
      stores.set(s.buf.name, s.buf);
    } else return undefined;
  }
  const all = [...loads.values(), ...stores.values()];
  if (!stores.size || all.some((b) => !PLAIN.has(storage(b)))) return undefined;
  return { loads: [...loads.values()], stores: [...stores.values()], groups: total / 4, atFlat };
}

/** `body` with the accesses rendered as vector lanes (buffers `lanes.names` at the flat index)
 * addressed at 0: what the lane loop's body reads of the loop variables (an unread one must not
 * be declared: -Werror). */
export function laneFree(
  body: readonly Stmt[],
  lanes: { readonly names: ReadonlySet<string>; readonly atFlat: (x: Idx) => boolean },
): Stmt[] {
  const lane = (buf: Buf, at: Idx): boolean => lanes.names.has(buf.name) && lanes.atFlat(at);
  const val = (x: Val): Val => {
    if (x.k === 'load') return lane(x.buf, x.at) ? { ...x, at: int(0) } : x;
    if (x.k === 'cond') return { ...x, then: val(x.then), otherwise: val(x.otherwise) };
    if (x.k === 'op') return { ...x, args: x.args.map(val) };
    return x;
  };
  return body.map((s): Stmt => {
    if (s.k === 'let') return { ...s, value: val(s.value) };
    if (s.k === 'store') return { ...s, at: lane(s.buf, s.at) ? int(0) : s.at, value: val(s.value) };
    return s;
  });
}
