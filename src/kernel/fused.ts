/**
 * @fileoverview Fusion groups (src/fusion) as kernel IR, for every backend: the per-element body
 * (fusedElement), shared by standalone fused loops, fused reductions and GEMM/convolution
 * epilogues. Each member becomes one local, rounded to its own result type like an unfused
 * kernel's store; broadcasts, transposes, reshapes and slices are index maps, splats literals. The
 * innermost loop of a fused loop is marked `vector` (vectorize.ts decides per target).
 */
import { strides, type Tensor } from '../ir/tensor.js';
import { numElements, type ElemType, type TensorType } from '../ir/types.js';
import { int, linear, v } from '../ir/index-expr.js';
import { attrsOf } from '../ops/index.js';
import { simpleCombiner } from '../ops/reduction.js';
import type { Buf, KernelIR, Stmt, Val } from './ir.js';
import { linearIndex, loopVars } from '../fusion/fuse.js';
import { SPLAT_MARK, type FlatOp, type FusionGroup, type Sym } from '../flat/program.js';

export interface FusedEnv {
  /** The value of a splat constant (read as a literal inside the loop), if `s` is one. */
  readonly splat: (s: Sym) => Tensor | undefined;
}

const tensorOf = (s: Sym): TensorType => s.type as TensorType;
const bufOf = (name: string, s: Sym, output = false): Buf => ({
  name,
  elem: tensorOf(s).elem,
  elements: numElements(tensorOf(s).shape),
  output,
});

const shortName = (f: FlatOp): string => f.op.name.replace(/^[a-z]+\./, '');
const isIndexMapOp = (f: FlatOp): boolean =>
  ['stablehlo.broadcast_in_dim', 'stablehlo.reshape', 'stablehlo.transpose', 'stablehlo.slice'].includes(f.op.name);

/** A one-line list of what a group fuses, for the kernel comment and --report. */
export function describeGroup(g: FusionGroup): string {
  const where = (f: FlatOp): string => `${f.op.name.replace(/^stablehlo\./, '')} (${f.op.loc.line}:${f.op.loc.col})`;
  // A generated splat (splats.ts) is a literal in the loop, like any small splat constant: not listed.
  const listed = g.members.filter((m) => !(SPLAT_MARK in m.op.attrs));
  return [...(g.head ? [g.head] : []), ...listed, ...(g.reduce ? [g.reduce] : [])].map(where).join(', ');
}

/** The parameter name of leaf `s` of a GEMM or convolution epilogue: e0, e1, ... for the kernel
 * op's operands after the head's two (lastIndexOf: a leaf may repeat a head operand). */
export const epilogueLeaf =
  (f: FlatOp) =>
  (s: Sym): string =>
    `e${f.ins.lastIndexOf(s) - 2}`;

/**
 * The group's computation at the root element of the loop variables i0, i1, ... as kernel IR:
 * a `let` for each leaf read (x<id>, through its index map; x<id>_<n> for the n-th other map a
 * leaf is read through) and each member (v<id>, rounded to its type like an unfused kernel's
 * store); index-map members pass values through, splats are literals, the GEMM head's result is
 * the local `head`. Returns the statements and the root value.
 */
export function fusedElement(f: FlatOp, env: FusedEnv, leaf: (s: Sym) => string): { stmts: Stmt[]; root: Val } {
  const g = f.group!;
  const value = new Map<number, Val>();
  /** Leaf loads by symbol id and map. */
  const loads = new Map<number, Map<string, Val>>();
  const stmts: Stmt[] = [];
  /** Operand i of member m: a member's value, a literal, the head's result, or a leaf's load. */
  const read = (m: FlatOp, i: number): Val => {
    const s = m.ins[i]!;
    const known = value.get(s.id);
    if (known) return known;
    const splat = env.splat(s);
    if (splat) return { k: 'splat', elem: tensorOf(s).elem, value: splat };
    if (g.head && g.head.outs[0] === s) return { k: 'local', name: 'head' };
    const map = g.operandMaps?.get(m)?.[i] ?? g.maps.get(s.id)!;
    const byMap = loads.get(s.id) ?? loads.set(s.id, new Map()).get(s.id)!;
    const key = JSON.stringify(map);
    const loaded = byMap.get(key);
    if (loaded) return loaded;
    const name = byMap.size ? `x${s.id}_${byMap.size}` : `x${s.id}`;
    stmts.push({
      k: 'let',
      name,
      elem: tensorOf(s).elem,
      value: { k: 'load', buf: bufOf(leaf(s), s), at: linearIndex(map, tensorOf(s).shape) },
    });
    byMap.set(key, { k: 'local', name });
    return byMap.get(key)!;
  };
  for (const m of g.members) {
    const out = m.outs[0]!;
    if (isIndexMapOp(m)) {
      value.set(out.id, read(m, 0));
      continue;
    }
    const args = m.ins.map((_, i) => read(m, i));
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
