/**
 * @fileoverview The CUDA renderer of the kernel IR: the C-family hooks (emit-common/cfamily.ts,
 * the same element types and scalar spellings as C, so both backends compute the same values)
 * plus CUDA's: `__global__` kernels, `__restrict__`, and the mapping of parallel loops to threads.
 * A kernel whose body is a nest of parallel loops runs their iterations, flattened into one index,
 * as a grid-stride loop over all threads; any other kernel runs on a single thread (correct first;
 * block reductions and tiled contractions come later).
 */
import type { Op } from '../ir/core.js';
import { sameElem } from '../ir/types.js';
import { div, int, mod, subIndexes, v, type Idx } from '../ir/index-expr.js';
import type { KernelIR, Stmt, Val, VecType } from '../kernel/ir.js';
import type { CodeWriter } from '../emit-common/code-writer.js';
import { CFamilyRenderer } from '../emit-common/cfamily.js';
import { indexVarsUsed } from '../kernel/analysis.js';

type Loop = Extract<Stmt, { k: 'loop' }>;

/** The outermost parallel loops of a body, when it is one such nest (after index declarations
 * every thread computes, such as dynamic starts): they become one flat index over all threads. */
interface GridNest {
  readonly loops: readonly Loop[];
  readonly total: number;
}

function gridNest(body: readonly Stmt[]): GridNest | undefined {
  const loops: Loop[] = [];
  let inner: readonly Stmt[] = body.filter((s) => s.k !== 'index' && s.k !== 'comment');
  for (;;) {
    const s = inner[0];
    if (inner.length !== 1 || s?.k !== 'loop' || !s.parallel || (s.step ?? 1) !== 1) break;
    if (s.from.k !== 'int' || s.from.value !== 0 || s.to.k !== 'int') break;
    loops.push(s);
    inner = s.body;
  }
  const total = loops.reduce((n, l) => n * (l.to as Extract<Idx, { k: 'int' }>).value, 1);
  // No iterations (a zero-size dimension): nothing to spread; the plain loops run none.
  return loops.length && total > 0 ? { loops, total } : undefined;
}

/**
 * The steps of a kernel that are better launched one after another than run by one thread: a
 * body of several parallel nests and copies (concatenate, pad, sort's copies then its slices, a
 * dynamic_update_slice) becomes one kernel per step, in order on the stream, each step preceded
 * by the kernel's index declarations it reads (dynamic starts: they read only inputs, so they
 * may move before any step). A copy between buffers of one element type becomes a parallel loop of element
 * moves. Undefined when the body is one step, or has a step that is not independent across
 * threads (a sequential loop, a scatter's updates).
 */
export function launchSteps(k: KernelIR): Stmt[][] | undefined {
  const outputs = new Set(k.params.filter((p) => p.output).map((p) => p.name));
  const decls = k.body.filter((s) => s.k === 'index');
  const steps = k.body.filter((s) => s.k !== 'index' && s.k !== 'comment');
  const readsOutput = (x: Idx): boolean =>
    (x.k === 'read' && outputs.has(x.buf.name)) || subIndexes(x).some(readsOutput);
  if (steps.length < 2 || decls.some((d) => readsOutput(d.value))) return undefined;
  const parallel = steps.map((s): Stmt | undefined => {
    if (s.k === 'loop') return gridNest([s]) ? s : undefined;
    if (s.k !== 'copy') return undefined;
    if (!sameElem(s.buf.elem, s.src.elem)) return s;
    const i = v('i');
    return {
      k: 'loop',
      var: 'i',
      from: int(0),
      to: int(s.buf.elements),
      parallel: true,
      body: [{ k: 'move', buf: s.buf, at: i, src: s.src, from: i }],
    };
  });
  if (parallel.some((s) => s === undefined)) return undefined;
  // Each step declares only the indexes it reads (an unused one would fail -Werror).
  return parallel.map((s) => {
    const read = indexVarsUsed([s!]);
    return [...decls.filter((d) => d.k === 'index' && read.has(d.name)), s!];
  });
}

export class CudaRenderer extends CFamilyRenderer {
  protected readonly kernelPrefix = 'static __global__ void';
  protected readonly restrict = '__restrict__';
  /** Threads the last rendered kernel wants: the iterations of its parallel nest, or 1. */
  threads = 1;
  private grid: GridNest | undefined;

  override render(k: KernelIR, owner: Op, inPlace: boolean): string {
    this.grid = gridNest(k.body);
    this.threads = this.grid?.total ?? 1;
    return super.render(k, owner, inPlace);
  }

  /** The outermost loop of the grid nest: one grid-stride loop over the flat index `t`, each loop
   * variable recovered from it; the rest as written. */
  protected override loop(w: CodeWriter, s: Loop): void {
    const grid = this.grid;
    if (!grid || s !== grid.loops[0]) return super.loop(w, s);
    const extents = grid.loops.map((l) => (l.to as Extract<Idx, { k: 'int' }>).value);
    w.block(
      `for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < ${grid.total}; t += (int64_t)blockDim.x * gridDim.x) {`,
      () => {
        let inner = 1;
        const index: Idx[] = [];
        for (let d = extents.length - 1; d >= 0; d--) {
          const x: Idx = d === 0 ? div(v('t'), inner) : mod(div(v('t'), inner), extents[d]!);
          index[d] = x;
          inner *= extents[d]!;
        }
        const body = grid.loops[grid.loops.length - 1]!.body;
        const read = indexVarsUsed(body);
        grid.loops.forEach((l, d) => read.has(l.var) && w.line(`const int64_t ${l.var} = ${this.idx(index[d]!)};`));
        this.stmts(w, body);
      },
    );
  }

  // No vector types on CUDA yet: vectorize.ts is not given a vector unit, so none reach here.
  protected vectorType(t: VecType): string {
    throw new Error(`no CUDA vector of ${t.lanes} x ${t.elem.name}`);
  }
  protected vectorLoad(t: VecType): string {
    return this.vectorType(t);
  }
  protected vectorStore(t: VecType): string {
    return this.vectorType(t);
  }
  protected broadcast(t: VecType): string {
    return this.vectorType(t);
  }
  protected vectorOp(x: Extract<Val, { k: 'vop' }>): string {
    return this.vectorType(x.type);
  }
}
