/**
 * @fileoverview Fusion groups (src/fusion) as kernels: the per-element body, built as kernel IR
 * (fusedElement) and shared by standalone fused loops, fused reductions and GEMM/convolution
 * epilogues. Each member becomes one local, rounded to its own result type like an unfused
 * kernel's store; broadcasts, transposes and reshapes are index maps, splats literals.
 *
 * On SIMD targets a fused loop whose body is all f32 ops rl_simd.h spells, and whose reads are
 * along the innermost dimension or invariant, runs in vectors (scalar code finishes the
 * remainder): kernel/vectorize.ts decides that from the IR and rewrites the loop. Arithmetic rounds
 * exactly as the scalar code; exp, logistic, tanh and erf are rl_simd.h's polynomials (their ULP
 * bounds are stated there and tested) instead of libm's. The GEMM epilogue's row/column loops are
 * written by the micro-kernel printers around the rendered (and possibly vectorized) element.
 */
import { strides, type Tensor } from '../ir/tensor.js';
import { numElements, type ElemType, type TensorType } from '../ir/types.js';
import { int, linear, mentions, v } from '../ir/index-expr.js';
import { attrsOf } from '../ops/index.js';
import { simpleCombiner } from '../ops/reduction.js';
import type { Buf, KernelIR, Stmt, Val } from '../kernel/ir.js';
import { CodeWriter } from '../emit-common/code-writer.js';
import { cIndex } from '../emit-common/cstyle.js';
import { linearIndex, loopVars } from '../fusion/fuse.js';
import type { FlatOp, FusionGroup, Sym } from '../flat/program.js';
import { cElem, type CElem } from './ctypes.js';
import { CRenderer, cVectorUnit } from './c-renderer.js';
import { canVectorize, vectorizeStmts, vectorizeVal } from '../kernel/vectorize.js';
import { SPLAT_MARK } from './splats.js';

export interface FusedEnv {
  /** The value of a splat constant (read as a literal inside the loop), if `s` is one. */
  readonly splat: (s: Sym) => Tensor | undefined;
}

/** The fused group a GEMM or convolution kernel applies to its output (`lanes`: SIMD f32 lanes). */
export interface Epilogue {
  readonly fop: FlatOp;
  readonly env: FusedEnv;
  readonly lanes?: number;
}

const tensorOf = (s: Sym): TensorType => s.type as TensorType;
const elemOf = (s: Sym, f: FlatOp): CElem => cElem(tensorOf(s), f.op.name, f.op.loc);
const bufOf = (name: string, s: Sym, output = false): Buf => ({
  name,
  elem: tensorOf(s).elem,
  elements: numElements(tensorOf(s).shape),
  output,
});

const shortName = (f: FlatOp): string => f.op.name.replace(/^[a-z]+\./, '');
const isIndexMapOp = (f: FlatOp): boolean =>
  ['stablehlo.broadcast_in_dim', 'stablehlo.reshape', 'stablehlo.transpose'].includes(f.op.name);

/** The leaves a group's element reads from memory (not splats, which are literals, nor the GEMM
 * head's result, which it is given). */
function leavesRead(f: FlatOp, env: FusedEnv): Sym[] {
  const g = f.group!;
  const produced = new Set(g.members.flatMap((m) => m.outs));
  return g.members
    .flatMap((m) => m.ins)
    .filter((s) => !produced.has(s) && env.splat(s) === undefined && g.head?.outs[0] !== s);
}

/** The root loop variables the group's element reads its leaves through: the epilogue declares only those. */
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
 * The group's computation at the root element of the loop variables i0, i1, ... as kernel IR:
 * a `let` for each leaf read (x<id>, through its index map) and each member (v<id>, rounded to its
 * type like an unfused kernel's store); index-map members pass values through, splats are
 * literals, the GEMM head's result is the local `head`. Returns the statements and the root value.
 */
function fusedElement(f: FlatOp, env: FusedEnv, leaf: (s: Sym) => string): { stmts: Stmt[]; root: Val } {
  const g = f.group!;
  const value = new Map<number, Val>();
  const stmts: Stmt[] = [];
  const read = (s: Sym): Val => {
    const known = value.get(s.id);
    if (known) return known;
    const splat = env.splat(s);
    if (splat) return { k: 'splat', elem: tensorOf(s).elem, value: splat };
    if (g.head && g.head.outs[0] === s) return { k: 'local', name: 'head' };
    const name = `x${s.id}`;
    stmts.push({
      k: 'let',
      name,
      elem: tensorOf(s).elem,
      value: { k: 'load', buf: bufOf(leaf(s), s), at: linearIndex(g.maps.get(s.id)!, tensorOf(s).shape) },
    });
    value.set(s.id, { k: 'local', name });
    return value.get(s.id)!;
  };
  for (const m of g.members) {
    const out = m.outs[0]!;
    if (isIndexMapOp(m)) {
      value.set(out.id, read(m.ins[0]!));
      continue;
    }
    const args = m.ins.map(read);
    const [operand, result] = [tensorOf(m.ins[m.op.name === 'stablehlo.select' ? 1 : 0]!).elem, tensorOf(out).elem];
    const op: Val = { k: 'op', name: shortName(m), args, elem: operand, result, owner: m.op };
    const name = `v${out.id}`;
    stmts.push({
      k: 'let',
      name,
      elem: result,
      value: { k: 'op', name: 'as_stored', args: [op], elem: result, result, owner: m.op },
      note: m.op.name,
    });
    value.set(out.id, { k: 'local', name });
  }
  return { stmts, root: value.get(g.members[g.members.length - 1]!.outs[0]!.id)! };
}

/** A loop nest over dims `dims` of `shape` (variables i<d>) around `body`: its innermost marked
 * `vector` when `vector`, `parallel` unless accumulating. */
function rootLoops(
  shape: readonly number[],
  body: Stmt[],
  vector: boolean,
  dims: readonly number[] = shape.map((_, d) => d),
  parallel = true,
): Stmt[] {
  let nest = body;
  for (let j = dims.length - 1; j >= 0; j--) {
    const d = dims[j]!;
    nest = [
      {
        k: 'loop',
        var: `i${d}`,
        from: int(0),
        to: int(shape[d]!),
        parallel,
        body: nest,
        ...(vector && j === dims.length - 1 ? { vector: true } : {}),
      },
    ];
  }
  return nest;
}

/**
 * Body of a fused reduction kernel: loops over the reduction's input, kept dims outside and
 * reduced dims (in the reduction's order) inside, accumulating the chain's element at each input
 * position from the init value (the last leaf). The chain's root is rounded to its type before
 * accumulating, as the unfused kernels store it; each step is rounded as the reduction's is.
 */
export function fusedReduceBody(f: FlatOp, env: FusedEnv): Stmt[] {
  const g = f.group!;
  const red = g.reduce!;
  const dims = attrsOf('stablehlo.reduce', red.op).dims;
  const combiner = simpleCombiner(red.op.regions[0])!;
  const inShape = tensorOf(red.ins[0]!).shape;
  const kept = inShape.map((_, d) => d).filter((d) => !dims.includes(d));
  const elem = tensorOf(f.outs[0]!).elem;
  const { stmts, root } = fusedElement(f, env, (s) => `in${f.ins.indexOf(s)}`);
  const asStored = (x: Val, e: ElemType): Val => ({
    k: 'op',
    name: 'as_stored',
    args: [x],
    elem: e,
    result: e,
    owner: red.op,
  });
  const step: Val = {
    k: 'op',
    name: combiner,
    args: [{ k: 'local', name: 'acc' }, asStored(root, tensorOf(red.ins[0]!).elem)],
    elem,
    result: elem,
    owner: red.op,
  };
  const accumulate: Stmt[] = [
    ...stmts,
    { k: 'set', name: 'acc', value: { k: 'op', name: 'round', args: [step], elem, result: elem, owner: red.op } },
  ];
  const out = bufOf('out0', f.outs[0]!, true);
  const perOutput: Stmt[] = [
    {
      k: 'local',
      name: 'acc',
      elem,
      wide: false,
      init: { k: 'load', buf: bufOf(`in${f.ins.length - 1}`, f.ins[f.ins.length - 1]!), at: int(0) },
    },
    ...rootLoops(inShape, accumulate, false, dims, false), // accumulating: in order
    {
      k: 'store',
      buf: out,
      at: linear(
        kept.map((d) => v(`i${d}`)),
        strides(kept.map((d) => inShape[d]!)),
      ),
      value: { k: 'local', name: 'acc' },
    },
  ];
  return rootLoops(inShape, perOutput, false, kept);
}

/** The kernel IR of a fused kernel with body `body` (for --dump-after=lower). */
export function fusedIR(name: string, comment: string, f: FlatOp, body: readonly Stmt[]): KernelIR {
  return { name, comment, params: [...f.ins.map((s, i) => bufOf(`in${i}`, s)), bufOf('out0', f.outs[0]!, true)], body };
}

/** Body of a standalone fused kernel: one loop nest over the root's shape, its innermost loop
 * marked `vector` (kernel/vectorize.ts runs it in vectors where the target allows). */
export function fusedLoopBody(f: FlatOp, env: FusedEnv): Stmt[] {
  const shape = tensorOf(f.outs[0]!).shape;
  const { stmts, root } = fusedElement(f, env, (s) => `in${f.ins.indexOf(s)}`);
  const at = linearIndex({ kind: 'dims', dims: loopVars(shape.length) }, shape);
  return rootLoops(shape, [...stmts, { k: 'store', buf: bufOf('out0', f.outs[0]!, true), at, value: root }], true);
}

/**
 * The epilogue of a GEMM kernel: applies the group to rows [row0, row0 + rows) of the GEMM
 * result viewed as [rows x cols] (cols = the trailing root dims that make up N), in place in out0.
 * Leaves are the kernel's parameters e0, e1, ... (f.ins after the head's two operands). With
 * `lanes`, a group whose columns are the root's innermost dim runs in vectors along them.
 */
export function emitEpilogue(
  w: CodeWriter,
  { fop: f, env, lanes }: Epilogue,
  cols: number,
  row0: string,
  rows: string,
  headRow = `out0 + r * ${cols}`,
): void {
  const shape = tensorOf(f.outs[0]!).shape;
  // Split the root dims into leading (row) dims and trailing (column) dims with product `cols`.
  let split = shape.length;
  for (let prod = 1; split > 0 && prod < cols;) prod *= shape[--split]!;
  const st = strides(shape);
  const vars = loopVars(shape.length).map(cIndex);
  const read = rootVarsRead(f, env);
  const { stmts, root } = fusedElement(f, env, (s) => `e${f.ins.lastIndexOf(s) - 2}`); // after the head's operands, which a leaf may repeat
  const renderer = new CRenderer(lanes);
  // The head's f32 result at (r, n) (out0 itself, or an f32 block for a half-precision result, rounded here).
  const hc = elemOf(f.group!.head!.outs[0]!, f);
  const headValue = hc.name === 'f32' ? `(${headRow})[n]` : hc.load(hc.store(`(${headRow})[n]`));
  /** One element (or vector) at column n: root indices from (r, n), only those the maps use
   * (unused locals would fail -Werror), then the group's body. */
  const element = (vector: boolean): void => {
    vars.forEach((name, d) => {
      if (!read.has(name)) return;
      const inRow = d < split;
      const stride = inRow ? st[d]! / cols : st[d]!;
      // The outermost dim of each group needs no wrap-around (r and n stay in range).
      const outermost = d === 0 || d === split;
      w.line(
        `const int64_t ${name} = ${inRow ? 'r' : 'n'}${stride === 1 ? '' : ` / ${stride}`}${outermost ? '' : ` % ${shape[d]}`};`,
      );
    });
    if (vector) {
      const last = vars[vars.length - 1]!;
      renderer.renderStmts(
        w,
        vectorizeStmts(stmts, last, unit!),
        f.op,
        new Map([['head', `rl_vf_load(${headRow} + n)`]]),
      );
      w.line(`rl_vf_store(out0 + r * ${cols} + n, ${renderer.value(vectorizeVal(root, last, unit!))});`);
    } else {
      renderer.renderStmts(w, stmts, f.op, new Map([['head', headValue]]));
      w.line(`out0[r * ${cols} + n] = ${elemOf(f.outs[0]!, f).store(renderer.value(root))};`);
    }
  };
  const unit = cVectorUnit(lanes);
  const vector =
    !!unit && split === shape.length - 1 && cols >= unit.lanes && canVectorize(stmts, vars[vars.length - 1]!, unit);
  w.block(`for (int64_t r = ${row0}; r < ${row0} + ${rows}; ++r) {`, () => {
    w.line('int64_t n = 0;');
    if (vector) w.block(`for (; n + ${lanes} <= ${cols}; n += ${lanes}) {`, () => element(true));
    if (!vector || cols % lanes!) w.block(`for (; n < ${cols}; ++n) {`, () => element(false));
  });
}
