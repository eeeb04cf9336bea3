/**
 * @fileoverview Vectorization of the kernel IR. A loop marked `vector` whose body the target can
 * run in vectors becomes a loop of vector steps over the whole vectors, then the scalar loop over
 * the remainder. In a vector body every value is a vector along the loop variable: reads along it
 * are `vload`s, reads invariant along it `broadcast`s, scalar ops `vop`s, lets and locals
 * vectors, stores `vstore`s. Loops, conditions and index declarations inside (a pooling window)
 * must not depend on the loop variable; they stay scalar around the vector values. Lanes compute
 * exactly what the scalar loop computes, in the same order, so results do not change.
 */
import { sameElem, type ElemType } from '../ir/types.js';
import { int, mentions, type Idx } from '../ir/index-expr.js';
import type { Cond, Stmt, Val, VecType } from './ir.js';

/** What a target's vectors hold and which scalar ops it spells on them. */
export interface VectorUnit {
  readonly elem: ElemType;
  readonly lanes: number;
  /** Op-table names of the scalar ops the target has lane-wise. */
  readonly ops: ReadonlySet<string>;
  /** An integer unit's lanes also hold narrower integer types, each value exactly (sign- or
   * zero-extended: loads widen, stores keep the low bits); on them only `ops` run, which are exact
   * on extended values (order ops; converts, which wrap to the result type). */
  readonly narrow?: { readonly holds: (e: ElemType) => boolean; readonly ops: ReadonlySet<string> };
  /** Whether the unit runs op `x` on the operands it has (default: any it holds). */
  readonly takes?: (x: Extract<Val, { k: 'op' }>) => boolean;
}

/** Whether `u`'s lanes hold values of `e`: its own type, or a narrower one it holds. */
const holds = (u: VectorUnit, e: ElemType): boolean => sameElem(e, u.elem) || !!u.narrow?.holds(e);

type Loop = Extract<Stmt, { k: 'loop' }>;

/** How a vector of consecutive `v` reads through index `x`: the same consecutive elements
 * (`along`: v is a term of its own, stride 1), one element for all (`invariant`), or neither. */
function vectorRead(x: Idx, v: string): 'along' | 'invariant' | undefined {
  if (!mentions(x, v)) return 'invariant';
  const terms = x.k === 'sum' ? x.terms : [x];
  const at = terms.filter((t) => mentions(t, v));
  return at.length === 1 && at[0]!.k === 'var' ? 'along' : undefined;
}

/** A rounding to the vector element type itself (a fused member stored as its type, a reduction
 * step rounded to its type) is no operation on vectors of that type; nor is one of an integer to
 * its own type on the narrower types a unit holds. */
function unrounded(x: Val, u: VectorUnit): Val {
  if (x.k !== 'op' || (x.name !== 'as_stored' && x.name !== 'round')) return x;
  const own = sameElem(x.elem, u.elem) || (x.elem.kind === 'int' && !!u.narrow?.holds(x.elem));
  return own ? x.args[0]! : x;
}

/** Whether `u` runs op `name` from `elem` to `result` lane-wise. */
function laneOp(u: VectorUnit, name: string, elem: ElemType, result: ElemType): boolean {
  if (sameElem(elem, u.elem) && sameElem(result, u.elem)) return u.ops.has(name);
  return !!u.narrow && holds(u, elem) && holds(u, result) && u.narrow.ops.has(name);
}

/** Whether `body` can run as vectors of consecutive `v` on unit `u`. */
export function canVectorize(body: readonly Stmt[], v: string, u: VectorUnit): boolean {
  const ofUnit = (e: ElemType): boolean => holds(u, e);
  const value = (x: Val): boolean => {
    const y = unrounded(x, u);
    if (y.k === 'local') return true;
    if (y.k === 'splat' || y.k === 'const') return ofUnit(y.elem);
    if (y.k === 'index') return ofUnit(y.elem) && !mentions(y.x, v);
    if (y.k === 'load') return !y.raw && ofUnit(y.buf.elem) && vectorRead(y.at, v) !== undefined;
    return y.k === 'op' && laneOp(u, y.name, y.elem, y.result) && (u.takes?.(y) ?? true) && y.args.every(value);
  };
  const cond = (c: Cond): boolean =>
    c.k === 'and' ? c.all.every(cond) : c.k === 'cmp' && !mentions(c.a, v) && !mentions(c.b, v);
  const stmt = (s: Stmt): boolean => {
    switch (s.k) {
      case 'let':
        return ofUnit(s.elem) && value(s.value);
      case 'local':
        return ofUnit(s.elem) && !s.wide && value(s.init);
      case 'set':
        return value(s.value);
      case 'store':
        return !s.raw && ofUnit(s.buf.elem) && vectorRead(s.at, v) === 'along' && value(s.value);
      case 'index':
        return !mentions(s.value, v);
      case 'loop':
        return !mentions(s.from, v) && !mentions(s.to, v) && s.body.every(stmt);
      case 'if':
        return cond(s.cond) && s.then.every(stmt) && (s.otherwise ?? []).every(stmt);
      case 'comment':
        return true;
      default:
        return false;
    }
  };
  return body.every(stmt);
}

/** Value `x` of a vector body along `v` as a vector (canVectorize holds). Locals are the vector
 * body's own, or vectors the enclosing code binds (a GEMM epilogue's `head`). */
export function vectorizeVal(x: Val, v: string, u: VectorUnit): Val {
  // A vector's type names what its lanes hold (the unit's type, or a narrower one it holds).
  const type = (elem: ElemType): VecType => ({ elem, lanes: u.lanes });
  const y = unrounded(x, u);
  switch (y.k) {
    case 'local':
      return y;
    case 'splat':
    case 'const':
    case 'index': // invariant along v (canVectorize)
      return { k: 'broadcast', value: y, type: type(y.elem) };
    case 'load':
      return vectorRead(y.at, v) === 'along'
        ? { k: 'vload', buf: y.buf, at: y.at, type: type(y.buf.elem) }
        : { k: 'broadcast', value: y, type: type(y.buf.elem) };
    case 'op':
      return {
        k: 'vop',
        name: y.name,
        args: y.args.map((a) => vectorizeVal(a, v, u)),
        type: type(y.result),
        owner: y.owner,
      };
    default:
      throw new Error(`no vector form of a ${y.k} value`);
  }
}

/** Statements of a vector body along `v` (canVectorize holds). */
export function vectorizeStmts(body: readonly Stmt[], v: string, u: VectorUnit): Stmt[] {
  const val = (x: Val): Val => vectorizeVal(x, v, u);
  return body.map((s): Stmt => {
    switch (s.k) {
      case 'let':
        return { ...s, value: val(s.value), lanes: u.lanes };
      case 'local':
        return { ...s, init: val(s.init), lanes: u.lanes };
      case 'set':
        return { ...s, value: val(s.value) };
      case 'store':
        return { k: 'vstore', buf: s.buf, at: s.at, value: val(s.value), type: { elem: s.buf.elem, lanes: u.lanes } };
      case 'loop':
        return { ...s, body: vectorizeStmts(s.body, v, u) };
      case 'if':
        return {
          ...s,
          then: vectorizeStmts(s.then, v, u),
          ...(s.otherwise ? { otherwise: vectorizeStmts(s.otherwise, v, u) } : {}),
        };
      default:
        return s;
    }
  });
}

/** The pass: every loop marked `vector` from 0 to a static extent of at least one vector whose
 * body one of `units` can run (the first that can) becomes whole vector steps plus the scalar
 * remainder. Without units (a target without vectors) the body is unchanged. */
export function vectorize(body: readonly Stmt[], units: readonly VectorUnit[]): Stmt[] {
  if (!units.length) return [...body];
  return body.flatMap((s): Stmt[] => {
    if (s.k === 'if')
      return [
        { ...s, then: vectorize(s.then, units), ...(s.otherwise ? { otherwise: vectorize(s.otherwise, units) } : {}) },
      ];
    if (s.k !== 'loop') return [s];
    const u = units.find((x) => vectorizable(s, x));
    if (!u) return [{ ...s, body: vectorize(s.body, units) }];
    const n = (s.to as Extract<Idx, { k: 'int' }>).value;
    const whole = n - (n % u.lanes);
    const vectors: Loop = {
      k: 'loop',
      var: s.var,
      from: int(0),
      to: int(whole),
      parallel: s.parallel,
      step: u.lanes,
      body: vectorizeStmts(s.body, s.var, u),
    };
    const rest: Loop = { k: 'loop', var: s.var, from: int(whole), to: s.to, parallel: s.parallel, body: s.body };
    return whole < n ? [vectors, rest] : [vectors];
  });
}

/** Whether `body` computes a value of `u`'s own type: an integer unit's lanes are wider than
 * the narrow values they hold, so a loop of narrow values only (a pooling of int8) runs fewer
 * lanes per vector than the C compiler's own vectorization of it at its width. */
function computesOwn(body: readonly Stmt[], u: VectorUnit): boolean {
  const own = (x: Val): boolean => x.k === 'op' && (sameElem(x.result, u.elem) || x.args.some(own));
  return body.some((s) => {
    switch (s.k) {
      case 'let':
      case 'store':
      case 'set':
        return own(s.value);
      case 'local':
        return own(s.init);
      case 'loop':
        return computesOwn(s.body, u);
      case 'if':
        return computesOwn(s.then, u) || computesOwn(s.otherwise ?? [], u);
      default:
        return false;
    }
  });
}

const vectorizable = (s: Loop, u: VectorUnit): boolean =>
  (!u.narrow || computesOwn(s.body, u)) &&
  !!s.vector &&
  s.from.k === 'int' &&
  s.from.value === 0 &&
  s.to.k === 'int' &&
  s.to.value >= u.lanes &&
  canVectorize(s.body, s.var, u);
