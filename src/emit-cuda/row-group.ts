/**
 * @fileoverview Row groups: softmax- and layernorm-style runs of kernels as one launch. A
 * softmax is a row maximum, an exponential of each element less its row's maximum, a row sum
 * and a division by it: four kernels after fusion (the reductions read their chains in their
 * loops, but a reduction's result must be complete before an element can use it). Here such a
 * run becomes one kernel whose block takes one row at a time and runs each part on it in turn,
 * a barrier between parts: a reduction part as the block reduction of the row (block-reduce.ts),
 * an elementwise part as the row's elements strided over the threads. A part's results still
 * go to their buffers (the next parts read them back from the L1 / L2 cache, a row at a time),
 * but the launches and the kernels' passes over the whole tensor between them are gone.
 *
 * A run qualifies when it starts with a reduction over the trailing dimensions C of a tensor of
 * shape R x C (its rows: R), every later part is such a reduction or an elementwise kernel
 * writing an R x C result, and every part reads what an earlier part of the run wrote only in its
 * own row (at the element it computes, or the row's reduced value through a broadcast along C):
 * then a block needs nothing from another block's rows. Everything else (inputs, weights) may be
 * read in any way. All reductions have C elements per row, so one block size suits them all.
 */
import type { Op } from '../ir/core.js';
import type { Idx } from '../ir/index-expr.js';
import type { TensorType } from '../ir/types.js';
import { attrsOf } from '../ops/index.js';
import type { FlatOp, Sym } from '../flat/program.js';
import { mapsOf } from '../fusion/fuse.js';
import type { FusedEnv } from '../kernel/fused.js';
import type { KernelIR } from '../kernel/ir.js';
import { fusedKernelIR, isFusibleElementwise, isReducible, opKernelIR } from '../emit-common/lowering.js';
import type { FusedProgram } from '../emit-common/program.js';
import { CodeWriter } from '../emit-common/code-writer.js';
import type { KernelParam } from '../emit-common/kernel.js';
import { blockReduction, parallelNest } from './block-reduce.js';
import { CudaRenderer, type Launch } from './cuda-renderer.js';

/** A kernel op's place in a row group: its rows R and per-row shape C, and whether it reduces. */
interface RowShape {
  readonly rows: readonly number[];
  readonly inner: readonly number[];
  readonly reduces: boolean;
}

const shapeOf = (s: Sym): readonly number[] => (s.type as TensorType).shape;
const product = (xs: readonly number[]): number => xs.reduce((n, x) => n * x, 1);
const sameDims = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/** The reduction a kernel op computes (a fused chain's, or its own), if any. */
function reductionOf(k: FlatOp): FlatOp | undefined {
  if (k.group) return k.group.reduce;
  return k.op.name === 'stablehlo.reduce' && isReducible(k) ? k : undefined;
}

/** A reduction's rows and row shape, when it reduces exactly the trailing dimensions. */
function reductionShape(reduce: FlatOp): RowShape | undefined {
  const input = shapeOf(reduce.ins[0]!);
  const dims = [...attrsOf('stablehlo.reduce', reduce.op).dims].sort((a, b) => a - b);
  const first = input.length - dims.length;
  if (!dims.length || dims.some((d, i) => d !== first + i)) return undefined;
  return { rows: input.slice(0, first), inner: input.slice(first), reduces: true };
}

/** Whether kernel op `k` reads `s` only in the row it computes: through its group's index map
 * (over the R x C elements it iterates), the leading R indexes are the element's own. */
function readsOwnRow(k: FlatOp, s: Sym, rows: number): boolean {
  const own = (dims: readonly Idx[]): boolean =>
    dims.length >= rows && dims.slice(0, rows).every((e, d) => e.k === 'var' && e.name === `i${d}`);
  if (!k.group) {
    // A lone elementwise op reads its operands at its element, a lone reduction its input.
    const t = shapeOf(s);
    return sameDims(t, shapeOf(k.outs[0]!)) || (reductionOf(k) !== undefined && s === k.ins[0]);
  }
  return (
    mapsOf(k.group, s).every((m) => m?.kind === 'dims' && own(m.dims)) &&
    sameDims(shapeOf(s).slice(0, rows), rowDims(k).slice(0, rows))
  );
}

/** The shape a kernel op iterates: a reduction's input, else its result. */
const rowDims = (k: FlatOp): readonly number[] => {
  const r = reductionOf(k);
  return shapeOf(r ? r.ins[0]! : k.outs[0]!);
};

/** The part's kernel IR, as lowerForCuda builds it (never in place: a row group's results all
 * have buffers of their own). */
export function partIR(k: FlatOp, index: number, env: FusedEnv): KernelIR {
  return k.group ? fusedKernelIR(k, index, env) : opKernelIR(k, index, false, 'CUDA backend');
}

/** The part's kernel IR, or undefined where it has none (lowerForCuda then reports why). */
function irOrUndefined(k: FlatOp, index: number, env: FusedEnv): KernelIR | undefined {
  try {
    return partIR(k, index, env);
  } catch {
    return undefined;
  }
}

/** Whether `k`'s kernel renders as a row part: a block reduction of `inner` elements per
 * output over `rows` outputs, or a grid nest over exactly rows x inner. */
function rendersAsPart(ir: KernelIR | undefined, shape: RowShape): boolean {
  if (!ir) return false;
  if (shape.reduces) {
    const r = blockReduction(ir.body);
    return r !== undefined && r.outputs === product(shape.rows) && r.extent === product(shape.inner);
  }
  const { loops } = parallelNest(ir.body);
  const extents = loops.map((l) => (l.to.k === 'int' ? l.to.value : -1));
  return sameDims(extents, [...shape.rows, ...shape.inner]);
}

/**
 * Merges the row groups among `f`'s kernel ops (see the file comment): each becomes one kernel op
 * whose `rowParts` are the merged ones, reading their external inputs and writing all their
 * results (memory planning then gives every result a buffer of its own, live while the kernel
 * runs: blocks run rows in any order).
 */
export function mergeRowGroups(f: FusedProgram, env: FusedEnv): FusedProgram {
  const { kernelOps, gemmOf } = f;
  const positions = new Map<FlatOp, FlatOp>(); // kernel op -> the source op it runs at
  for (const [at, k] of f.kernelAt) positions.set(k, at);
  const order = new Map(f.c.prog.ops.map((op, i) => [op, i]));
  const controlAt = f.c.prog.ops.flatMap((op, i) => (f.c.prog.control.has(op) ? [i] : []));
  const part = (k: FlatOp, i: number, shape: RowShape | undefined): RowShape | undefined => {
    if (gemmOf.has(k) || k.outs.length !== 1 || shapeOf(k.outs[0]!) === undefined) return undefined;
    const reduce = reductionOf(k);
    const own = reduce
      ? reductionShape(reduce)
      : (k.group && !k.group.head) || (!k.group && isFusibleElementwise(k))
        ? shape && { ...shape, reduces: false }
        : undefined;
    if (!own || (shape && (!sameDims(own.rows, shape.rows) || !sameDims(own.inner, shape.inner)))) return undefined;
    if (!reduce && !sameDims(shapeOf(k.outs[0]!), [...own.rows, ...own.inner])) return undefined;
    return rendersAsPart(irOrUndefined(k, i, env), own) ? own : undefined;
  };
  const merged: FlatOp[] = [];
  const kernelAt = new Map(f.kernelAt);
  for (let i = 0; i < kernelOps.length;) {
    const first = kernelOps[i]!;
    const shape = reductionOf(first) ? part(first, i, undefined) : undefined;
    const parts = [first];
    const written = new Set(first.outs);
    for (let j = i + 1; shape && j < kernelOps.length; j++) {
      const k = kernelOps[j]!;
      const [from, to] = [order.get(positions.get(parts[parts.length - 1]!)!)!, order.get(positions.get(k)!)!];
      if (controlAt.some((c) => c > from && c < to) || !part(k, j, shape)) break;
      if (!k.ins.every((s) => !written.has(s) || readsOwnRow(k, s, shape.rows.length))) break;
      parts.push(k);
      k.outs.forEach((s) => written.add(s));
    }
    if (parts.length < 2) {
      merged.push(first);
      i++;
      continue;
    }
    const ins = [...new Set(parts.flatMap((p) => p.ins.filter((s) => !written.has(s))))];
    const group: FlatOp = { op: first.op, ins, outs: [...written], rowParts: parts };
    for (const p of parts) kernelAt.delete(positions.get(p)!);
    kernelAt.set(positions.get(parts[parts.length - 1]!)!, group);
    merged.push(group);
    i += parts.length;
  }
  return merged.length === kernelOps.length ? f : { ...f, kernelOps: merged, kernelAt };
}

/** A part's kernel rendered as a device function for one row (its parameters, then the row). */
class RowPartRenderer extends CudaRenderer {
  protected override readonly kernelPrefix = 'static __device__ __forceinline__ void';
  protected override readonly extraParams = ['int64_t rl_row'];
  constructor(protected override readonly rowInner: number) {
    super();
  }
}

/** The kernel of a merged row group `g` (index `index` among the kernels): its parts as device
 * functions, and the `__global__` kernel whose blocks take rows in turn. */
export function emitRowGroup(
  g: FlatOp,
  index: number,
  env: FusedEnv,
): { name: string; comment: string; params: KernelParam[]; source: string; ir: KernelIR; launch: Launch } {
  const parts = g.rowParts!;
  const reduce = reductionOf(parts[0]!)!;
  const shape = reductionShape(reduce)!;
  const [rows, inner] = [product(shape.rows), product(shape.inner)];
  const name = `k${index}_row_group`;
  const names = [...g.ins.map((_, i) => `in${i}`), ...g.outs.map((_, i) => `out${i}`)];
  const symName = new Map([...g.ins, ...g.outs].map((s, i) => [s, names[i]!]));
  const irs = parts.map((p, j) => partIR(p, j, env));
  const partNames = irs.map((ir, j) => `${name}_${ir.name.replace(/^k\d+_/, '')}_${j}`);
  const threads = blockReduction(irs[0]!.body)!.threads;
  const sources: string[] = [];
  let params: KernelParam[] = [];
  irs.forEach((ir, j) => {
    const owner: Op = parts[j]!.group?.reduce?.op ?? parts[j]!.op;
    const r = new RowPartRenderer(inner);
    const comment = ir.comment.replace(/^\/\* k\d+_[a-z_]+:/, `/* ${partNames[j]}:`);
    sources.push(r.render({ ...ir, name: partNames[j]!, comment }, owner, false));
    const partParams = r.kernelParams(ir, false, owner);
    const syms = [...parts[j]!.ins, ...parts[j]!.outs];
    if (partParams.length !== syms.length)
      throw new Error(`${ir.name}: its parameters are not its operands and results`);
    partParams.forEach((p, i) => {
      const n = symName.get(syms[i]!)!;
      if (!params.some((q) => q.name === n))
        params.push({
          name: n,
          cType: p.cType.replace(' __restrict__', '').replace(/^const /, n.startsWith('out') ? '' : 'const '),
          output: n.startsWith('out'),
        });
    });
  });
  params = names.map((n) => params.find((p) => p.name === n)!);
  const what = parts.map((p, j) => irs[j]!.comment.replace(/^\/\* k\d+_/, '').replace(/ \*\/$/, '')).join('; then ');
  const comment = `/* ${name}: ${parts.length} kernels in one launch, a block of ${threads} threads per row (${rows} rows of ${inner} elements), each part on the row in turn: ${what} */`;
  const w = new CodeWriter();
  w.line(comment);
  sources.forEach((s) => w.line(s));
  const signature = params.map((p) => `${p.cType} ${p.name}`).join(', ');
  w.block(`static __global__ void __launch_bounds__(${threads}) ${name}(${signature}) {`, () => {
    w.block(`for (int64_t rl_row = blockIdx.x; rl_row < ${rows}; rl_row += gridDim.x) {`, () => {
      parts.forEach((p, j) => {
        const args = [...p.ins, ...p.outs].map((s) => symName.get(s)!);
        w.line(`${partNames[j]}(${[...args, 'rl_row'].join(', ')});`);
        w.line(`__syncthreads(); /* the row's results of ${irs[j]!.name} complete for every thread */`);
      });
    });
  });
  const ir: KernelIR = {
    name,
    comment,
    params: irs.flatMap((x) => x.params),
    body: irs.flatMap((x) => [{ k: 'comment' as const, text: `part ${x.name}` }, ...x.body]),
  };
  return {
    name,
    comment,
    params,
    source: w.toString(),
    ir,
    launch: { blocks: String(Math.min(rows, 65535)), threads: String(threads), synced: true },
  };
}
