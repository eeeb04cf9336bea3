/**
 * @fileoverview One renderer of the kernel IR for every C-like language. The structure (loops,
 * conditions, index arithmetic, stores, locals) is printed here; a backend subclass supplies what
 * differs between C and CUDA: the kernel's declaration, pointer qualifiers, element types and
 * the spelling of scalar values (after tinygrad's renderer/cstyle.py, where C, CUDA and Metal
 * differ by a few fields, and TVM's CodeGenCUDA overriding hooks of CodeGenC).
 */
import type { Op, Region } from '../ir/core.js';
import type { ElemType } from '../ir/types.js';
import type { Tensor } from '../ir/tensor.js';
import { unusedParams } from '../kernel/analysis.js';
import type { Buf, Cond, KernelIR, Stmt, Val, VecType } from '../kernel/ir.js';
import { CodeWriter } from './code-writer.js';
import type { KernelParam } from './kernel.js';
import { indexText, type Idx, type IndexSpelling } from '../ir/index-expr.js';

export abstract class CStyleRenderer {
  /** `RL_KERNEL void` in C, `__global__ void` in CUDA. */
  protected abstract readonly kernelPrefix: string;
  /** The pointer qualifier that promises no aliasing (`restrict`, `__restrict__`). */
  protected abstract readonly restrict: string;
  /** Parameters after the buffers (`int64_t rl_row`: CUDA's row-group parts), each named last. */
  protected readonly extraParams: readonly string[] = [];
  /** The C type of one stored element. */
  protected abstract storageType(elem: ElemType, owner: Op): string;
  /** The type a local of `elem` computes in (`wide`: the accumulator type). */
  protected abstract localType(elem: ElemType, wide: boolean, owner: Op): string;
  /** A stored element `expr` (storage type) loaded into its compute type. */
  protected abstract load(elem: ElemType, expr: string, owner: Op): string;
  /** A compute-type value converted for storing into a `elem` buffer. */
  protected abstract store(elem: ElemType, value: string, owner: Op): string;
  /** An op-table scalar op applied to rendered arguments. */
  protected abstract scalarOp(v: Extract<Val, { k: 'op' }>, args: readonly string[]): string;
  /** An index as a value of `elem`. */
  protected abstract indexValue(elem: ElemType, index: string, owner: Op): string;
  /** Writes a scalar region's body; returns the expressions of its results. */
  protected abstract region(w: CodeWriter, region: Region | undefined, args: readonly string[], owner: Op): string[];
  /** The whole-buffer copy statement. */
  protected abstract copy(dst: string, src: string, bytes: number): string;
  protected abstract elemBytes(elem: ElemType, owner: Op): number;
  /** The literal (compute type) of a splat constant's value. */
  protected abstract splatLiteral(elem: ElemType, value: Tensor, owner: Op): string;
  /** The runtime's uniform [0, 1) draw (Val `uniform01`). */
  protected abstract uniform01(key: number, index: string, pair: number): string;
  /** The type of a vector of `t` (kernel/vectorize.ts made it; the target has it). */
  protected abstract vectorType(t: VecType): string;
  /** Lanes `buf + at`, `buf + at + 1`, ... as a vector. */
  protected abstract vectorLoad(t: VecType, buf: string, at: string): string;
  /** Statement storing vector `value` to `buf + at`, ... */
  protected abstract vectorStore(t: VecType, buf: string, at: string, value: string): string;
  /** Scalar `x` in every lane. */
  protected abstract broadcast(t: VecType, x: string): string;
  /** Scalar op `v.name` lane-wise on rendered vector arguments. */
  protected abstract vectorOp(v: Extract<Val, { k: 'vop' }>, args: readonly string[]): string;

  /** The op a kernel lowers (for located errors from the hooks). */
  protected owner!: Op;
  /** Locals bound to expressions (region results) instead of declared variables. */
  private bound = new Map<string, string>();

  /** The kernel as source: its comment, then the function. `inPlace`: an output may alias an
   * input, so no pointer promises exclusivity. */
  render(k: KernelIR, owner: Op, inPlace: boolean): string {
    this.owner = owner;
    this.bound = new Map();
    const params = [...k.params.map((p) => this.param(p, inPlace)), ...this.extraParams].join(', ');
    const w = new CodeWriter();
    w.block(`${this.kernelPrefix} ${k.name}(${params}) {`, () => {
      for (const p of unusedParams(k)) w.line(`(void)${p.name};`);
      for (const p of this.extraParams) w.line(`(void)${p.split(' ').pop()};`);
      this.stmts(w, k.body);
    });
    return `${k.comment}\n${w.toString()}`;
  }

  /** The C type of parameter `p` (`inPlace`: without the no-aliasing qualifier). */
  paramType(p: Buf, inPlace: boolean, owner: Op): string {
    return `${p.output ? '' : 'const '}${this.storageType(p.elem, owner)}*${inPlace ? '' : ` ${this.restrict}`}`;
  }

  /** The parameters of kernel `k` with their C types, as callers and job structs list them. */
  kernelParams(k: KernelIR, inPlace: boolean, owner: Op): KernelParam[] {
    return k.params.map((p) => ({ name: p.name, cType: this.paramType(p, inPlace, owner), output: p.output }));
  }

  protected param(p: Buf, inPlace: boolean): string {
    return `${this.paramType(p, inPlace, this.owner)} ${p.name}`;
  }

  /** Statements of a kernel written around them (GEMM epilogues, fused reductions): `bindings`
   * gives the C expressions of locals the enclosing code provides (the GEMM result). */
  renderStmts(w: CodeWriter, ss: readonly Stmt[], owner: Op, bindings: ReadonlyMap<string, string> = new Map()): void {
    this.owner = owner;
    this.bound = new Map(bindings);
    this.stmts(w, ss);
  }

  /** A value in its compute type, in the bindings of the last renderStmts. */
  value(x: Val): string {
    return this.val(x);
  }

  /** Binds (or rebinds) local `name` to a C expression. */
  protected bind(name: string, expr: string): void {
    this.bound.set(name, expr);
  }

  protected loop(w: CodeWriter, s: Extract<Stmt, { k: 'loop' }>): void {
    const step = s.step && s.step !== 1 ? `${s.var} += ${s.step}` : `++${s.var}`;
    w.block(`for (rl_index_t ${s.var} = ${this.idx(s.from)}; ${s.var} < ${this.idx(s.to)}; ${step}) {`, () =>
      this.stmts(w, s.body),
    );
  }

  /** The type of a local: a vector of `lanes`, or a scalar. */
  private localOf(elem: ElemType, wide: boolean, lanes: number | undefined): string {
    return lanes ? this.vectorType({ elem, lanes }) : this.localType(elem, wide, this.owner);
  }

  protected stmts(w: CodeWriter, ss: readonly Stmt[]): void {
    for (const s of ss) this.stmt(w, s);
  }

  protected stmt(w: CodeWriter, s: Stmt): void {
    switch (s.k) {
      case 'loop':
        return this.loop(w, s);
      case 'let':
        return w.line(
          `const ${this.localOf(s.elem, false, s.lanes)} ${s.name} = ${this.val(s.value)};${s.note ? ` /* ${s.note} */` : ''}`,
        );
      case 'store':
        return w.line(
          `${s.buf.name}[${this.idx(s.at)}] = ${s.raw ? this.val(s.value) : this.store(s.buf.elem, this.val(s.value), this.owner)};`,
        );
      case 'move':
        return w.line(`${s.buf.name}[${this.idx(s.at)}] = ${s.src.name}[${this.idx(s.from)}];`);
      case 'copy':
        return w.line(this.copy(s.buf.name, s.src.name, s.buf.elements * this.elemBytes(s.buf.elem, this.owner)));
      case 'index':
        return w.line(`const rl_index_t ${s.name} = ${this.idx(s.value)};`);
      case 'var':
        return w.line(`rl_index_t ${s.name} = ${this.idx(s.value)};`);
      case 'setIndex':
        return w.line(`${s.name} = ${this.idx(s.value)};`);
      case 'local':
        return w.line(`${this.localOf(s.elem, s.wide, s.lanes)} ${s.name} = ${this.val(s.init)};`);
      case 'vstore':
        return w.line(this.vectorStore(s.type, s.buf.name, this.idx(s.at), this.val(s.value)));
      case 'set':
        return w.line(`${s.name} = ${this.val(s.value)};`);
      case 'region': {
        const results = this.region(
          w,
          s.region,
          s.args.map((a) => this.val(a)),
          s.owner,
        );
        s.results.forEach((name, i) => this.bound.set(name, results[i]!));
        return;
      }
      case 'if':
        if (!s.otherwise) return w.block(`if (${this.cond(s.cond)}) {`, () => this.stmts(w, s.then));
        w.block(`if (${this.cond(s.cond)}) {`, () => this.stmts(w, s.then), '} else {');
        return w.block('', () => this.stmts(w, s.otherwise!), '}', true);
      case 'break':
        return w.line('break;');
      case 'swap': {
        const [a, b] = [`${s.buf.name}[${this.idx(s.a)}]`, `${s.buf.name}[${this.idx(s.b)}]`];
        return w.line(`{ const ${this.storageType(s.buf.elem, this.owner)} t = ${a}; ${a} = ${b}; ${b} = t; }`);
      }
      case 'array':
        return w.line(
          `${this.storageType(s.buf.elem, this.owner)} ${s.buf.name}[${Math.max(1, s.buf.elements)}]; /* scratch on the stack: kernels stay reentrant */`,
        );
      case 'ukernel':
        throw new Error(
          `${this.owner.name}: a ukernel is printed by the backend's micro-kernel printer, not as statements`,
        );
      case 'comment':
        return w.line(`/* ${s.text} */`);
    }
  }

  /** A value in its compute type. */
  protected val(x: Val): string {
    switch (x.k) {
      case 'load': {
        const at = `${x.buf.name}[${this.idx(x.at)}]`;
        return x.raw ? at : this.load(x.buf.elem, at, this.owner);
      }
      case 'cond':
        return `((${this.cond(x.cond)}) ? ${this.val(x.then)} : ${this.val(x.otherwise)})`;
      case 'op':
        return this.scalarOp(
          x,
          x.args.map((a) => this.val(a)),
        );
      case 'index':
        return this.indexValue(x.elem, this.idx(x.x), this.owner);
      case 'local':
        return this.bound.get(x.name) ?? x.name;
      case 'splat':
        return this.splatLiteral(x.elem, x.value, this.owner);
      case 'const':
        return numberLiteral(x.value, x.elem.kind === 'float' && x.elem.name !== 'f64' ? 'f' : '');
      case 'uniform01':
        return this.uniform01(x.key, this.idx(x.at), x.pair);
      case 'vload':
        return this.vectorLoad(x.type, x.buf.name, this.idx(x.at));
      case 'broadcast':
        return this.broadcast(x.type, this.val(x.value));
      case 'vop':
        return this.vectorOp(
          x,
          x.args.map((a) => this.val(a)),
        );
    }
  }

  idx(x: Idx): string {
    return cIndex(x);
  }

  /** A condition in C. */
  condition(c: Cond): string {
    return this.cond(c);
  }

  protected cond(c: Cond): string {
    if (c.k === 'and') return c.all.map((x) => this.cond(x)).join(' && ') || '1';
    if (c.k === 'truth') return c.negate ? `!(${this.val(c.value)})` : this.val(c.value);
    return `${this.idx(c.a)} ${c.rel} ${this.idx(c.b)}`;
  }
}

/** A finite number as a C floating literal that reads back exactly (`suffix` f: float). */
function numberLiteral(x: number, suffix = ''): string {
  if (!Number.isFinite(x)) throw new Error(`no literal for ${x}`);
  const text = String(x);
  return `${/[.e]/.test(text) ? text : `${text}.0`}${suffix}`;
}

const C_INDEX: IndexSpelling = {
  clamp: (x, lo, hi) => `rl_clamp_index(${x}, ${lo}, ${hi})`,
  read: (buf, at) => `(int64_t)${buf}[${at}]`,
};

/** An index expression in C syntax (int64_t arithmetic). */
export const cIndex = (x: Idx): string => indexText(x, C_INDEX);
