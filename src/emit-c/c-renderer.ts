/**
 * @fileoverview The C renderer of the kernel IR: emit-common/cstyle.ts with C's hooks. Element
 * types are ctypes.ts's (f16/bf16 stored as bit patterns, computed in float), scalar ops are
 * scalar.ts's and mixed.ts's spellings (the same the fused loops use, so fusing never changes a
 * value), scalar regions region.ts's.
 */
import type { Op, Region } from '../ir/core.js';
import { tensorType, type ElemType } from '../ir/types.js';
import type { Cond, Stmt, Val } from '../kernel/ir.js';
import { mentions, type Idx } from '../ir/index-expr.js';
import type { Tensor } from '../ir/tensor.js';
import type { CodeWriter } from '../emit-common/code-writer.js';
import { CStyleRenderer } from '../emit-common/cstyle.js';
import { cElem, storageLiteral, type CElem } from './ctypes.js';
import { compareCode, convertCode, selectCode } from './mixed.js';
import { emitScalarRegion } from './region.js';
import { scalarCode } from './scalar.js';
import { unsupportedOp } from './builder.js';

/** rl_simd.h spellings of f32 element ops (op-table names). */
const VECTOR_OPS: Readonly<Record<string, (a: readonly string[]) => string>> = {
  add: (a) => `rl_vf_add(${a[0]}, ${a[1]})`,
  subtract: (a) => `rl_vf_sub(${a[0]}, ${a[1]})`,
  multiply: (a) => `rl_vf_mul(${a[0]}, ${a[1]})`,
  divide: (a) => `rl_vf_div(${a[0]}, ${a[1]})`,
  maximum: (a) => `rl_vf_max(${a[0]}, ${a[1]})`,
  minimum: (a) => `rl_vf_min(${a[0]}, ${a[1]})`,
  negate: (a) => `rl_vf_neg(${a[0]})`,
  abs: (a) => `rl_vf_abs(${a[0]})`,
  sqrt: (a) => `rl_vf_sqrt(${a[0]})`,
  exponential: (a) => `rl_vf_exp(${a[0]})`,
  logistic: (a) => `rl_vf_logistic(${a[0]})`,
  tanh: (a) => `rl_vf_tanh(${a[0]})`,
  erf: (a) => `rl_vf_erf(${a[0]})`,
  clamp: (a) => `rl_vf_min(rl_vf_max(${a[1]}, ${a[0]}), ${a[2]})`,
};

/** The rl_simd.h spelling of f32 op `name` (op-table name), if it has one. */
export const vectorSpelling = (name: string): ((a: readonly string[]) => string) | undefined => VECTOR_OPS[name];

const isF32 = (e: ElemType): boolean => e.kind === 'float' && e.name === 'f32';
/** A member's value is rounded to its type through storage; f32 vectors need no rounding. */
const unrounded = (x: Val): Val => (x.k === 'op' && (x.name === 'as_stored' || x.name === 'round') && isF32(x.elem) ? x.args[0]! : x);

/** How a vector of consecutive `v` reads through index `x`: the same consecutive elements
 * (`along`: v is a term of its own, stride 1), one element for all (`invariant`), or neither. */
function vectorRead(x: Idx, v: string): 'along' | 'invariant' | undefined {
  if (!mentions(x, v)) return 'invariant';
  const terms = x.k === 'sum' ? x.terms : [x];
  const at = terms.filter((t) => mentions(t, v));
  return at.length === 1 && at[0]!.k === 'var' ? 'along' : undefined;
}

export class CRenderer extends CStyleRenderer {
  protected readonly kernelPrefix = 'RL_KERNEL void';
  protected readonly restrict = 'restrict';
  /** Region-body locals are numbered per kernel (deterministic names). */
  private names = { next: 0 };
  /** Set when a loop was written in rl_simd.h vectors. */
  usedSimd = false;

  /** `lanes`: f32 lanes of the target's rl_simd.h vectors (undefined: no vectors). */
  constructor(private readonly lanes?: number) {
    super();
  }

  private c(elem: ElemType, owner: Op): CElem {
    return cElem(tensorType([], elem), owner.name, owner.loc);
  }

  override render(...args: Parameters<CStyleRenderer['render']>): string {
    this.names = { next: 0 };
    return super.render(...args);
  }

  protected storageType(elem: ElemType, owner: Op): string {
    return this.c(elem, owner).storage;
  }

  /** Accumulators: double for real floats (the interpreter sums in f64 and rounds once), double
   * _Complex for complex, the type itself otherwise. */
  protected localType(elem: ElemType, wide: boolean, owner: Op): string {
    const c = this.c(elem, owner);
    if (wide && c.cls === 'complex') return 'double _Complex';
    if (wide && (c.cls === 'float' || c.cls === 'double')) return 'double';
    return c.compute;
  }

  protected load(elem: ElemType, expr: string, owner: Op): string {
    return this.c(elem, owner).load(expr);
  }

  protected store(elem: ElemType, value: string, owner: Op): string {
    return this.c(elem, owner).store(value);
  }

  protected elemBytes(elem: ElemType, owner: Op): number {
    return this.c(elem, owner).bytes;
  }

  protected indexValue(elem: ElemType, index: string, owner: Op): string {
    return `(${this.c(elem, owner).compute})${index}`;
  }

  protected splatLiteral(elem: ElemType, value: Tensor, owner: Op): string {
    const c = this.c(elem, owner);
    return c.load(storageLiteral(c, value, 0));
  }

  /** Whether `body` can run as vectors of consecutive `v`: f32 lets, locals, sets and stores of
   * values rl_simd.h spells, every read along `v` or invariant, every store along `v`; loops,
   * conditions and index declarations inside (a pooling window) must not depend on `v`. */
  canVectorize(body: readonly Stmt[], v: string): boolean {
    const value = (x: Val): boolean => {
      const y = unrounded(x);
      if (y.k === 'local') return true;
      if (y.k === 'splat') return isF32(y.elem);
      if (y.k === 'load') return isF32(y.buf.elem) && vectorRead(y.at, v) !== undefined;
      return y.k === 'op' && y.name in VECTOR_OPS && isF32(y.elem) && isF32(y.result) && y.args.every(value);
    };
    const cond = (c: Cond): boolean => (c.k === 'and' ? c.all.every(cond) : c.k === 'cmp' && !mentions(c.a, v) && !mentions(c.b, v));
    const stmt = (s: Stmt): boolean => {
      switch (s.k) {
        case 'let':
          return isF32(s.elem) && value(s.value);
        case 'local':
          return isF32(s.elem) && value(s.init);
        case 'set':
          return value(s.value);
        case 'store':
          return !s.raw && isF32(s.buf.elem) && vectorRead(s.at, v) === 'along' && value(s.value);
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

  /** Vector expressions of locals (the vector body's lets and the enclosing code's bindings). */
  private vectorBound = new Map<string, string>();
  private vectorVar = '';

  /** `body` as rl_simd.h vectors of consecutive `v` (canVectorize holds); `bindings` gives the
   * vector expressions of locals the enclosing code provides. */
  renderVectorBody(w: CodeWriter, body: readonly Stmt[], v: string, owner: Op, bindings: ReadonlyMap<string, string> = new Map()): void {
    this.owner = owner;
    this.usedSimd = true;
    this.vectorBound = new Map(bindings);
    this.vectorVar = v;
    this.vectorStmts(w, body);
  }

  /** Statements inside a vector body: values as vectors, the structure around them as scalars. */
  private vectorStmts(w: CodeWriter, body: readonly Stmt[]): void {
    for (const s of body) {
      switch (s.k) {
        case 'let':
          w.line(`const rl_vf ${s.name} = ${this.vectorValue(s.value)};${s.note ? ` /* ${s.note} */` : ''}`);
          break;
        case 'local':
          w.line(`rl_vf ${s.name} = ${this.vectorValue(s.init)};`);
          break;
        case 'set':
          w.line(`${s.name} = ${this.vectorValue(s.value)};`);
          break;
        case 'store':
          w.line(`rl_vf_store(${s.buf.name} + ${this.idx(s.at)}, ${this.vectorValue(s.value)});`);
          break;
        case 'loop':
          w.block(`for (int64_t ${s.var} = ${this.idx(s.from)}; ${s.var} < ${this.idx(s.to)}; ++${s.var}) {`, () => this.vectorStmts(w, s.body));
          break;
        case 'if':
          if (!s.otherwise) w.block(`if (${this.cond(s.cond)}) {`, () => this.vectorStmts(w, s.then));
          else {
            w.block(`if (${this.cond(s.cond)}) {`, () => this.vectorStmts(w, s.then), '} else {');
            w.block('', () => this.vectorStmts(w, s.otherwise!), '}', true);
          }
          break;
        default:
          this.stmt(w, s);
      }
    }
  }

  /** A value as a vector of consecutive elements along the last renderVectorBody's variable. */
  vectorValue(x: Val): string {
    const y = unrounded(x);
    switch (y.k) {
      case 'local':
        return this.vectorBound.get(y.name) ?? y.name;
      case 'splat':
        return `rl_vf_splat(${this.splatLiteral(y.elem, y.value, this.owner)})`;
      case 'load':
        return vectorRead(y.at, this.vectorVar) === 'along' ? `rl_vf_load(${y.buf.name} + ${this.idx(y.at)})` : `rl_vf_splat(${y.buf.name}[${this.idx(y.at)}])`;
      case 'op':
        return VECTOR_OPS[y.name]!(y.args.map((a) => this.vectorValue(a)));
      default:
        throw new Error(`no vector form of a ${y.k} value`);
    }
  }

  /** A `vector` loop from 0 to a static extent: whole vectors, then the scalar remainder. */
  protected override vectorLoop(w: CodeWriter, s: Extract<Stmt, { k: 'loop' }>): void {
    const lanes = this.lanes;
    const n = s.to.k === 'int' ? s.to.value : 0;
    if (!lanes || s.from.k !== 'int' || s.from.value !== 0 || n < lanes || !this.canVectorize(s.body, s.var)) return this.plainLoop(w, s);
    w.line(`int64_t ${s.var} = 0;`);
    w.block(`for (; ${s.var} + ${lanes} <= ${n}; ${s.var} += ${lanes}) {`, () => this.renderVectorBody(w, s.body, s.var, this.owner));
    if (n % lanes) w.block(`for (; ${s.var} < ${n}; ++${s.var}) {`, () => this.stmts(w, s.body));
  }

  protected uniform01(key: number, index: string, pair: number): string {
    return `rl_uniform01(${key}u, (uint64_t)(${index}), ${pair}u)`;
  }

  protected copy(dst: string, src: string, bytes: number): string {
    return `memcpy(${dst}, ${src}, ${bytes});`;
  }

  protected region(w: CodeWriter, region: Region | undefined, args: readonly string[], owner: Op): string[] {
    return emitScalarRegion(w, region, args, owner, this.names);
  }

  protected scalarOp(x: Extract<Val, { k: 'op' }>, a: readonly string[]): string {
    const c = this.c(x.elem, x.owner);
    switch (x.name) {
      case 'compare':
        return compareCode(x.owner, a[0]!, a[1]!, c);
      case 'convert':
        return convertCode(x.owner, a[0]!, c, this.c(x.result, x.owner));
      case 'select':
        return selectCode(a[0]!, a[1]!, a[2]!);
      case 'as_stored':
        // Rounded to the element type through its storage (every fused member, as an unfused
        // kernel's store would).
        return c.load(c.store(a[0]!));
      case 'round':
        // To the element type's precision (f16/bf16 compute in float), as each step of a
        // reduction is in the spec's tensor<E> body.
        return c.storage === c.compute ? a[0]! : c.load(c.store(a[0]!));
      case 'mac':
        return multiplyAccumulate(c, a[0]!, a[1]!, a[2]!);
      case 'reduce_precision':
        return `rl_reduce_precision((double)${a[0]}, ${a[1]}, ${a[2]})`;
      case 'real':
      case 'imag':
        return `c${x.name}(${a[0]})`;
      case 'complex':
        return `${this.c(x.result, x.owner).part === 'float' ? 'rl_cmplxf' : 'rl_cmplx'}(${a[0]}, ${a[1]})`;
      case 'requantize':
        return a[0]!;
      case 'conj':
        return `conj${c.part === 'float' ? 'f' : ''}(${a[0]})`;
      case 'total_greater':
        return totalGreater(c, a[0]!, a[1]!);
      default:
        if (x.name.includes('.')) unsupportedOp(x.owner, `scalar op ${x.name}`);
        return scalarCode(x.name, a, c, x.owner);
    }
  }
}

/** a > b with NaN above every number (top_k's order); floats compare by their total-order key,
 * so -0 < +0. Arguments are simple loads: each appears more than once. */
function totalGreater(c: CElem, a: string, b: string): string {
  if (c.cls !== 'float' && c.cls !== 'double') return `(${a} > ${b})`;
  const key = c.cls === 'double' ? 'rl_total_key_f64' : 'rl_total_key_f32';
  return `((${a} != ${a}) ? !(${b} != ${b}) : (!(${b} != ${b}) && ${key}(${a}) > ${key}(${b})))`;
}

/** acc + a * b in the accumulator's type (contractions): wrap-around ints, double for floats. */
function multiplyAccumulate(c: CElem, acc: string, a: string, b: string): string {
  if (c.cls === 'int') return `rl_add_${c.intSuffix}(${acc}, rl_mul_${c.intSuffix}(${a}, ${b}))`;
  if (c.cls === 'bool') return `(uint8_t)(${acc} | (${a} & ${b}))`;
  if (c.cls === 'complex') return `${acc} + (double _Complex)${a} * (double _Complex)${b}`;
  return `${acc} + (double)${a} * (double)${b}`;
}
