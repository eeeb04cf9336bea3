/**
 * @fileoverview C for fusion groups (src/fusion): the per-element body shared by standalone fused
 * loops, GEMM/convolution epilogues and fused reductions. Each member becomes one local variable,
 * rounded to its own result type like an unfused kernel's store; broadcasts, transposes and
 * reshapes are index maps, splats literals.
 *
 * On SIMD targets an all-f32 group whose ops rl_simd.h spells computes vectors of elements along
 * the innermost dimension (scalar code finishes the remainder). Arithmetic rounds exactly as the
 * scalar code; exp, logistic, tanh and erf are rl_simd.h's polynomials (their ULP bounds are stated
 * there and tested) instead of libm's.
 */
import { strides } from '../ir/tensor.js';
import type { TensorType } from '../ir/types.js';
import { CodeWriter } from '../emit-common/code-writer.js';
import { linearIndex, loopVars } from '../fusion/fuse.js';
import { idxEqual, mentions, type Idx } from '../ir/index-expr.js';
import { cIndex } from '../emit-common/cstyle.js';
import { cElem, isF32, type CElem } from './ctypes.js';
import type { KernelParam } from './builder.js';
import { mixedElementCode } from './mixed.js';
import { SPLAT_MARK } from './splats.js';
import { scalarCode } from './scalar.js';
import type { FlatOp, FusionGroup, Sym } from '../flat/program.js';

export interface FusedEnv {
  /** C expression (compute type) of a splat constant's value, if `s` is one. */
  readonly splat: (s: Sym) => string | undefined;
}

/** The fused group a GEMM or convolution kernel applies to its output (`lanes`: SIMD f32 lanes). */
export interface Epilogue {
  readonly fop: FlatOp;
  readonly env: FusedEnv;
  readonly lanes?: number;
}

const tensorOf = (s: Sym): TensorType => s.type as TensorType;
const elemOf = (s: Sym, f: FlatOp): CElem => cElem(tensorOf(s), f.op.name, f.op.loc);

/** rl_simd.h spellings of f32 element ops (names without dialect). */
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

/** The rl_simd.h spelling of f32 op `name` (without dialect), if it has one. */
export const vectorSpelling = (name: string): ((a: readonly string[]) => string) | undefined => VECTOR_OPS[name];

const shortName = (f: FlatOp): string => f.op.name.replace(/^[a-z]+\./, '');
const isIndexMapOp = (f: FlatOp): boolean => ['stablehlo.broadcast_in_dim', 'stablehlo.reshape', 'stablehlo.transpose'].includes(f.op.name);

/** How a vector of consecutive root elements along the innermost dim reads leaf `s`: `along` (the
 * same consecutive elements of the leaf), `invariant` (one element for the whole vector), or not at all. */
function vectorRead(g: FusionGroup, s: Sym, rootShape: readonly number[]): 'along' | 'invariant' | undefined {
  const m = g.maps.get(s.id)!;
  const vars = loopVars(rootShape.length);
  const inner = vars[vars.length - 1]!;
  const usesInner = (e: Idx): boolean => mentions(e, `i${vars.length - 1}`);
  if (m.kind === 'flat') return !usesInner(m.index) ? 'invariant' : idxEqual(m.index, linearIndex({ kind: 'dims', dims: vars }, rootShape)) ? 'along' : undefined;
  const last = m.dims.length - 1;
  if (!m.dims.some(usesInner)) return 'invariant';
  return idxEqual(m.dims[last]!, inner) && !m.dims.slice(0, last).some(usesInner) ? 'along' : undefined;
}

/** Whether `f`'s group can run as vectors of `lanes` f32 along its root's innermost dimension. */
function vectorizes(f: FlatOp, env: FusedEnv, lanes: number | undefined): boolean {
  const g = f.group!;
  const shape = tensorOf(f.outs[0]!).shape;
  if (!lanes || shape.length === 0 || shape[shape.length - 1]! < lanes) return false;
  const opsOk = g.members.every((m) => [...m.ins, ...m.outs].every((s) => isF32(s.type)) && (isIndexMapOp(m) || shortName(m) in VECTOR_OPS));
  const produced = new Set(g.members.flatMap((m) => m.outs));
  const leavesOk = g.members.every((m) => m.ins.every((s) => produced.has(s) || env.splat(s) !== undefined || g.head?.outs[0] === s || vectorRead(g, s, shape) !== undefined));
  return opsOk && leavesOk;
}

/** The leaves a group's element reads from memory (not splats, which are literals, nor the GEMM
 * head's result, which it is given). */
function leavesRead(f: FlatOp, env: FusedEnv): Sym[] {
  const g = f.group!;
  const produced = new Set(g.members.flatMap((m) => m.outs));
  return g.members.flatMap((m) => m.ins).filter((s) => !produced.has(s) && env.splat(s) === undefined && g.head?.outs[0] !== s);
}

/** The root loop variables the group's element reads its leaves through (splats are literals,
 * the GEMM head's value is given): the epilogue declares only those. */
function rootVarsRead(f: FlatOp, env: FusedEnv): Set<string> {
  const g = f.group!;
  const at = leavesRead(f, env).map((s) => linearIndex(g.maps.get(s.id)!, tensorOf(s).shape));
  const vars = loopVars(tensorOf(f.outs[0]!).shape.length).map(cIndex);
  return new Set(vars.filter((name) => at.some((x) => mentions(x, name))));
}

/** A one-line list of what a group fuses, for the kernel comment and --report. */
export function describeGroup(g: FusionGroup): string {
  const where = (f: FlatOp): string => `${f.op.name.replace(/^stablehlo\./, '')} (${f.op.loc.line}:${f.op.loc.col})`;
  // A generated splat (splats.ts) is a literal in the loop, like any small splat constant: not listed.
  const listed = g.members.filter((m) => !(SPLAT_MARK in m.op.attrs));
  return [...(g.head ? [g.head] : []), ...listed, ...(g.reduce ? [g.reduce] : [])].map(where).join(', ');
}

/**
 * Emits locals for every member at the current loop position and returns the root's value as a
 * storage-typed expression. `leaf(s)` names the pointer holding leaf `s`; `headValue` is the
 * C expression of the GEMM head's result at this element.
 */
function emitElement(w: CodeWriter, f: FlatOp, env: FusedEnv, leaf: (s: Sym) => string, headValue?: string): string {
  const g = f.group!;
  const value = new Map<number, string>();
  const read = (s: Sym, user: FlatOp): string => {
    const known = value.get(s.id);
    if (known) return known;
    const lit = env.splat(s);
    if (lit) return lit;
    if (g.head && g.head.outs[0] === s) return headValue!;
    const c = elemOf(s, user);
    const local = `x${s.id}`;
    w.line(`const ${c.compute} ${local} = ${c.load(`${leaf(s)}[${cIndex(linearIndex(g.maps.get(s.id)!, tensorOf(s).shape))}]`)};`);
    value.set(s.id, local);
    return local;
  };
  for (const m of g.members) {
    const out = m.outs[0]!;
    if (isIndexMapOp(m)) {
      value.set(out.id, read(m.ins[0]!, m));
      continue;
    }
    const args = m.ins.map((s) => read(s, m));
    const [c, oc] = [elemOf(m.ins[0]!, m), elemOf(out, m)];
    const local = `v${out.id}`;
    const code = mixedElementCode(m.op, args, elemOf(m.ins[m.op.name === 'stablehlo.select' ? 1 : 0]!, m), oc) ?? scalarCode(m.op.name.replace(/^[a-z]+\./, ''), args, c, m.op);
    w.line(`const ${oc.compute} ${local} = ${oc.load(oc.store(code))}; /* ${m.op.name} */`);
    value.set(out.id, local);
  }
  const root = g.members[g.members.length - 1]!.outs[0]!;
  return elemOf(root, f).store(value.get(root.id)!);
}

/** The vector form of emitElement: locals are rl_vf vectors of the elements from the innermost
 * loop variable on; returns the root's vector. */
function emitVectorElement(w: CodeWriter, f: FlatOp, env: FusedEnv, leaf: (s: Sym) => string, headValue?: string): string {
  const g = f.group!;
  const shape = tensorOf(f.outs[0]!).shape;
  const value = new Map<number, string>();
  const read = (s: Sym): string => {
    const known = value.get(s.id);
    if (known) return known;
    const lit = env.splat(s);
    if (lit) return `rl_vf_splat(${lit})`;
    if (g.head && g.head.outs[0] === s) return headValue!;
    const at = cIndex(linearIndex(g.maps.get(s.id)!, tensorOf(s).shape));
    const local = `x${s.id}`;
    w.line(`const rl_vf ${local} = ${vectorRead(g, s, shape) === 'along' ? `rl_vf_load(${leaf(s)} + ${at})` : `rl_vf_splat(${leaf(s)}[${at}])`};`);
    value.set(s.id, local);
    return local;
  };
  for (const m of g.members) {
    const out = m.outs[0]!;
    if (isIndexMapOp(m)) {
      value.set(out.id, read(m.ins[0]!));
      continue;
    }
    const local = `v${out.id}`;
    w.line(`const rl_vf ${local} = ${VECTOR_OPS[shortName(m)]!(m.ins.map(read))}; /* ${m.op.name} */`);
    value.set(out.id, local);
  }
  return value.get(g.members[g.members.length - 1]!.outs[0]!.id)!;
}

/**
 * Body of a fused reduction kernel: loops over the reduction's input, kept dims outside and
 * reduced dims (in the reduction's order) inside, accumulating the chain's element at each input
 * position with `combine` from the init value (the last leaf). The chain's root is rounded to its
 * type before accumulating, as the unfused kernels store it.
 */
export function emitFusedReduce(f: FlatOp, env: FusedEnv, dims: readonly number[], combine: (acc: string, v: string) => string, rows?: RowRange): string {
  const g = f.group!;
  const w = new CodeWriter();
  const inShape = tensorOf(g.reduce!.ins[0]!).shape;
  const vars = loopVars(inShape.length).map(cIndex);
  const kept = vars.map((_, d) => d).filter((d) => !dims.includes(d));
  const c = elemOf(f.outs[0]!, f);
  const leaf = (s: Sym): string => `in${f.ins.indexOf(s)}`;
  const open = (order: readonly number[], body: () => void, at = 0): void => {
    if (at === order.length) return body();
    const d = order[at]!;
    const [from, to] = at === 0 && order === kept && rows ? [rows.begin, rows.end] : ['0', String(inShape[d])];
    w.block(`for (int64_t ${vars[d]} = ${from}; ${vars[d]} < ${to}; ++${vars[d]}) {`, () => open(order, body, at + 1));
  };
  // Output elements are numbered in kept-dim order; a share of rows starts at its first row's.
  const perRow = kept.slice(1).reduce((n, d) => n * inShape[d]!, 1);
  w.line(rows ? `int64_t o = ${rows.begin} * ${perRow};` : 'int64_t o = 0;');
  open(kept, () => {
    w.line(`${c.compute} acc = ${c.load(`in${f.ins.length - 1}[0]`)};`);
    open(dims, () => w.line(`acc = ${combine('acc', c.load(emitElement(w, f, env, leaf)))};`));
    w.line(`out0[o++] = ${c.store('acc')};`);
  });
  return w.toString();
}

/** Parameters of a fused kernel: its leaves (in `f.ins` order), then the result. A leaf is read
 * as `in<first index of its symbol>`; a splat is a literal; a reduction's init is the last one. */
export function fusedParams(f: FlatOp, inPlace: boolean, env: FusedEnv): KernelParam[] {
  const restrict = inPlace ? '' : ' restrict';
  const read = new Set(leavesRead(f, env));
  const isRead = (s: Sym, i: number): boolean => (read.has(s) && f.ins.indexOf(s) === i) || (!!f.group?.reduce && i === f.ins.length - 1);
  return [
    ...f.ins.map((s, i) => ({ name: `in${i}`, cType: `const ${elemOf(s, f).storage}*${restrict}`, output: false, unread: !isRead(s, i) })),
    { name: 'out0', cType: `${elemOf(f.outs[0]!, f).storage}*${restrict}`, output: true },
  ];
}

/** A range of the outermost loop, as C expressions (a thread's share of the rows). */
export interface RowRange {
  readonly begin: string;
  readonly end: string;
}

/** Body of a standalone fused kernel: one loop nest over the root's shape, its innermost loop in
 * vectors of `lanes` when the group vectorizes, its outermost over `rows` when given (rank >= 2).
 * Returns the C and whether it uses rl_simd.h. */
export function emitFusedLoop(f: FlatOp, env: FusedEnv, lanes?: number, rows?: RowRange): { code: string; usesSimd: boolean } {
  const w = new CodeWriter();
  const shape = tensorOf(f.outs[0]!).shape;
  const dims = loopVars(shape.length);
  const vars = dims.map(cIndex);
  const leaf = (s: Sym): string => `in${f.ins.indexOf(s)}`;
  const at = cIndex(linearIndex({ kind: 'dims', dims }, shape));
  const vector = vectorizes(f, env, lanes);
  const open = (d: number): void => {
    if (d === shape.length) {
      w.line(`out0[${at}] = ${emitElement(w, f, env, leaf)};`);
      return;
    }
    const i = vars[d]!;
    if (vector && d === shape.length - 1) {
      w.line(`int64_t ${i} = 0;`);
      w.block(`for (; ${i} + ${lanes} <= ${shape[d]}; ${i} += ${lanes}) {`, () => w.line(`rl_vf_store(out0 + ${at}, ${emitVectorElement(w, f, env, leaf)});`));
      if (shape[d]! % lanes!) w.block(`for (; ${i} < ${shape[d]}; ++${i}) {`, () => open(d + 1));
      return;
    }
    const [from, to] = d === 0 && rows ? [rows.begin, rows.end] : ['0', String(shape[d])];
    w.block(`for (int64_t ${i} = ${from}; ${i} < ${to}; ++${i}) {`, () => open(d + 1));
  };
  open(0);
  return { code: w.toString(), usesSimd: vector };
}

/**
 * The epilogue of a GEMM kernel: applies the group to rows [row0, row0 + rows) of the GEMM
 * result viewed as [rows x cols] (cols = the trailing root dims that make up N), in place in out0.
 * Leaves are the kernel's parameters e0, e1, ... (f.ins after the head's two operands). With
 * `lanes`, a group whose columns are the root's innermost dim runs in vectors along them.
 */
export function emitEpilogue(w: CodeWriter, { fop: f, env, lanes }: Epilogue, cols: number, row0: string, rows: string, headRow = `out0 + r * ${cols}`): void {
  const shape = tensorOf(f.outs[0]!).shape;
  // Split the root dims into leading (row) dims and trailing (column) dims with product `cols`.
  let split = shape.length;
  for (let prod = 1; split > 0 && prod < cols; ) prod *= shape[--split]!;
  const st = strides(shape);
  const vars = loopVars(shape.length).map(cIndex);
  const read = rootVarsRead(f, env);
  const leaf = (s: Sym): string => `e${f.ins.lastIndexOf(s) - 2}`; // after the head's operands, which a leaf may repeat
  const at = `out0 + r * ${cols} + n`;
  // The head's f32 result at (r, n) (out0 itself, or an f32 block for a half-precision result, rounded here).
  const hc = elemOf(f.group!.head!.outs[0]!, f);
  const headValue = hc.name === 'f32' ? `(${headRow})[n]` : hc.load(hc.store(`(${headRow})[n]`));
  /** One element (or vector) at column n: root indices from (r, n), only those the maps use
   * (unused locals would fail -Werror), then the group's body. */
  const element = (vector: boolean): void => {
    const body = new CodeWriter();
    const v = vector ? emitVectorElement(body, f, env, leaf, `rl_vf_load(${headRow} + n)`) : emitElement(body, f, env, leaf, headValue);
    const text = body.toString();
    vars.forEach((name, d) => {
      if (!read.has(name)) return;
      const inRow = d < split;
      const stride = inRow ? st[d]! / cols : st[d]!;
      // The outermost dim of each group needs no wrap-around (r and n stay in range).
      const outermost = d === 0 || d === split;
      w.line(`const int64_t ${name} = ${inRow ? 'r' : 'n'}${stride === 1 ? '' : ` / ${stride}`}${outermost ? '' : ` % ${shape[d]}`};`);
    });
    for (const line of text.split('\n').filter(Boolean)) w.line(line);
    w.line(vector ? `rl_vf_store(${at}, ${v});` : `out0[r * ${cols} + n] = ${v};`);
  };
  const vector = split === shape.length - 1 && vectorizes(f, env, lanes);
  w.block(`for (int64_t r = ${row0}; r < ${row0} + ${rows}; ++r) {`, () => {
    w.line('int64_t n = 0;');
    if (vector) w.block(`for (; n + ${lanes} <= ${cols}; n += ${lanes}) {`, () => element(true));
    if (!vector || cols % lanes!) w.block(`for (; n < ${cols}; ++n) {`, () => element(false));
  });
}
