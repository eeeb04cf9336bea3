/**
 * @fileoverview The CUDA renderer of the kernel IR: the C-family hooks (emit-common/cfamily.ts,
 * the same element types and scalar spellings as C, so both backends compute the same values)
 * plus CUDA's: `__global__` kernels, `__restrict__`, and the mapping of parallel loops to threads.
 * A reduction with enough elements per output (block-reduce.ts) runs one block per output; a
 * kernel whose body is a nest of parallel loops runs their iterations, flattened into one index,
 * as a grid-stride loop over all threads; any other kernel runs on a single thread (correct first).
 * Big contractions are not rendered here: they are gemm.ts's tiled ukernel.
 */
import type { Op } from '../ir/core.js';
import { sameElem } from '../ir/types.js';
import { int, subIndexes, v, type Idx } from '../ir/index-expr.js';
import type { Buf, KernelIR, Stmt, Val, VecType } from '../kernel/ir.js';
import { laneFree, vectorIo, type VectorIo } from './vector-io.js';
import type { CodeWriter } from '../emit-common/code-writer.js';
import { CFamilyRenderer } from '../emit-common/cfamily.js';
import { indexVarsUsed } from '../kernel/analysis.js';
import { blockReduction, flatExtent, identity, parallelNest, unflatten, type BlockReduction } from './block-reduce.js';

type Loop = Extract<Stmt, { k: 'loop' }>;

/** The outermost parallel loops of a body, when it is one such nest (after index declarations
 * every thread computes, such as dynamic starts): they become one flat index over all threads. */
interface GridNest {
  readonly loops: readonly Loop[];
  readonly total: number;
}

function gridNest(body: readonly Stmt[]): GridNest | undefined {
  const { loops } = parallelNest(body);
  const total = flatExtent(loops);
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

/** How a kernel is launched: its grid and block sizes (C expressions), and whether its threads
 * synchronize (rl_cuda.h's RL_CUDA_LAUNCH_SYNCED, which its host emulation runs as fibers). */
export interface Launch {
  readonly blocks: string;
  readonly threads: string;
  readonly synced: boolean;
  /** Bytes of dynamic shared memory (RL_CUDA_LAUNCH_SHARED: synced, and allowed past 48 KB). */
  readonly dynamicShared?: number;
}

/** Elements per thread and pass of a grid-stride loop (see CudaRenderer.loop). */
const GRID_UNROLL = 4;

export class CudaRenderer extends CFamilyRenderer {
  protected readonly kernelPrefix: string = 'static __global__ void';
  protected readonly restrict = '__restrict__';
  /** How the last rendered kernel is launched. */
  launch: Launch = { blocks: '1', threads: '1', synced: false };
  private grid: GridNest | undefined;
  private reduction: BlockReduction | undefined;
  /** The grid nest's 128-bit accesses, if its body is elementwise (vector-io.ts). */
  private io: VectorIo | undefined;
  /** Rendering one row of a row group's part (row-group.ts): `inner` elements per row, the row
   * the parameter rl_row; the block's threads share the row. */
  protected readonly rowInner: number | undefined = undefined;
  /** Rendering for one thread with plain loops (host-scalars.ts: a kernel's copy on the host). */
  protected readonly serial: boolean = false;

  override render(k: KernelIR, owner: Op, inPlace: boolean): string {
    this.reduction = this.serial ? undefined : blockReduction(k.body);
    this.grid = this.reduction || this.serial ? undefined : gridNest(k.body);
    const g = this.grid;
    this.io =
      g && this.rowInner === undefined
        ? vectorIo(g.loops, g.loops[g.loops.length - 1]!.body, (b) => this.storageType(b.elem, owner))
        : undefined;
    const r = this.reduction;
    this.launch = r
      ? { blocks: String(Math.min(r.outputs, 65535)), threads: String(r.threads), synced: true }
      : g
        ? { blocks: `rl_cuda_blocks(${this.io?.groups ?? g.total})`, threads: 'RL_CUDA_BLOCK', synced: false }
        : { blocks: '1', threads: '1', synced: false };
    const combined = `combined by warp shuffles${r && r.threads > 32 ? ' and shared memory' : ''}`;
    const how =
      this.rowInner !== undefined
        ? r
          ? `; one row: its elements reduced by the block's threads, ${combined}`
          : "; one row: its elements strided over the block's threads"
        : r
          ? `; a block of ${r.threads} threads per output element, ${combined}`
          : this.io
            ? '; four consecutive elements per thread and access (rl_vec4) where the buffers are aligned'
            : '';
    return super.render({ ...k, comment: k.comment.replace(/ \*\/$/, `${how} */`) }, owner, inPlace);
  }

  protected override stmts(w: CodeWriter, ss: readonly Stmt[]): void {
    if (this.reduction && ss === this.reduction.perOutput) this.reduceOneOutput(w, this.reduction);
    else super.stmts(w, ss);
  }

  /** One output of a block reduction: every thread accumulates a stride of the reduced elements
   * from the identity, the warps combine theirs through shuffles, warp 0 combines the warps'
   * (through shared memory), and thread 0 combines the init value and stores. */
  private reduceOneOutput(w: CodeWriter, r: BlockReduction): void {
    const acc = r.acc.name;
    const accType = this.localType(r.acc.elem, r.acc.wide, this.owner);
    const start = identity(r.combiner, r.acc.elem, accType);
    const combine = (a: Val, b: Val): string => {
      const op = r.step.args[0] as Extract<Val, { k: 'op' }>;
      return this.val({ ...r.step, args: [{ ...op, args: [a, b] }] });
    };
    const warpReduce = (): void =>
      w.block('for (unsigned rl_lane_offset = 16; rl_lane_offset > 0; rl_lane_offset /= 2) {', () => {
        w.line(`const ${accType} rl_other = rl_shfl_down(${acc}, rl_lane_offset);`);
        w.line(`${acc} = ${combine({ k: 'local', name: acc }, { k: 'local', name: 'rl_other' })};`);
      });
    const finish = (): void =>
      w.block('if (threadIdx.x == 0) {', () => {
        w.line(`${acc} = ${combine(r.acc.init, { k: 'local', name: acc })};`);
        this.stmt(w, r.store);
      });
    if (!r.kept.length) this.declareWarpPartials(w, r);
    super.stmts(w, r.before);
    w.line(`${accType} ${acc} = ${start};`);
    // The reduced loops as one flat loop, strided over the block's threads.
    this.flatLoops(w, r.reduced, r.extent, 'rl_r', 'threadIdx.x', 'blockDim.x');
    warpReduce();
    if (r.threads === 32) return finish();
    w.line(`if (threadIdx.x % 32 == 0) rl_warp_partial[threadIdx.x / 32] = ${acc};`);
    w.line('__syncthreads();');
    w.block('if (threadIdx.x < 32) {', () => {
      w.line(`${acc} = threadIdx.x < ${r.threads / 32} ? rl_warp_partial[threadIdx.x] : ${start};`);
      warpReduce();
      finish();
    });
    w.line('__syncthreads(); /* before the next output reuses rl_warp_partial */');
  }

  private declareWarpPartials(w: CodeWriter, r: BlockReduction): void {
    if (r.threads > 32)
      w.line(`__shared__ ${this.localType(r.acc.elem, r.acc.wide, this.owner)} rl_warp_partial[${r.threads / 32}];`);
  }

  /** The outermost loop of the grid nest: one grid-stride loop over the flat index `t`, each loop
   * variable recovered from it; the rest as written. */
  protected override loop(w: CodeWriter, s: Loop): void {
    const r = this.reduction;
    if (r && s === r.kept[0]) {
      // One output per block (a block-stride loop when there are more outputs than blocks).
      this.declareWarpPartials(w, r);
      if (this.rowInner !== undefined) return w.block('{', () => this.flatBody(w, r.kept, 'rl_row'));
      return this.flatLoops(w, r.kept, r.outputs, 'rl_o', 'blockIdx.x', 'gridDim.x');
    }
    const grid = this.grid;
    if (!grid || s !== grid.loops[0]) return super.loop(w, s);
    if (this.rowInner !== undefined) {
      const inner = this.rowInner;
      return w.block(`for (int64_t rl_c = threadIdx.x; rl_c < ${inner}; rl_c += blockDim.x) {`, () =>
        this.flatBody(w, grid.loops, `rl_row * ${inner} + rl_c`),
      );
    }
    // GRID_UNROLL elements per pass, strided over the grid as in the plain loop: their loads are
    // issued together (__restrict__ lets the compiler hoist them above the stores), where one
    // element per pass left one load per thread in flight (an add of 64 Mi floats on an H100
    // reached 53% of its bandwidth). The plain loop finishes what is left.
    if (this.io) return this.vectorGridLoop(w, grid, this.io);
    this.scalarGridLoop(w, grid);
  }

  /** Elementwise with aligned buffers: four consecutive elements per thread and pass, each buffer
   * read at the element (and the result) moved by one rl_vec4 (vector-io.ts); else the scalar loop. */
  private vectorGridLoop(w: CodeWriter, grid: GridNest, io: VectorIo): void {
    const vec = (b: Buf): string => `rl_vec4<${this.storageType(b.elem, this.owner)}>`;
    const all = [...io.loads, ...io.stores];
    const aligned = all.map((b) => `(uintptr_t)${b.name} % alignof(${vec(b)}) == 0`).join(' && ');
    w.block(
      `if (${aligned}) {`,
      () => {
        w.line('const int64_t rl_stride = (int64_t)blockDim.x * gridDim.x;');
        w.block(
          `for (int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; t < ${io.groups}; t += rl_stride) {`,
          () => {
            for (const b of io.loads)
              w.line(`const ${vec(b)} rl_v_${b.name} = reinterpret_cast<const ${vec(b)}*>(${b.name})[t];`);
            for (const b of io.stores) w.line(`${vec(b)} rl_v_${b.name};`);
            w.line('RL_UNROLL');
            w.block('for (int rl_l = 0; rl_l < 4; ++rl_l) {', () => {
              this.lanes = { names: new Set(all.map((b) => b.name)), atFlat: io.atFlat };
              this.flatBody(w, grid.loops, '4 * t + rl_l');
              this.lanes = undefined;
            });
            for (const b of io.stores) w.line(`reinterpret_cast<${vec(b)}*>(${b.name})[t] = rl_v_${b.name};`);
          },
        );
      },
      '} else {',
    );
    w.block('} else {', () => this.scalarGridLoop(w, grid), '}', true);
  }

  /** Inside vectorGridLoop's lane loop: the buffers accessed as lanes of their rl_vec4. */
  private lanes: { readonly names: ReadonlySet<string>; readonly atFlat: VectorIo['atFlat'] } | undefined;

  protected override val(x: Val): string {
    if (x.k === 'load' && this.lanes?.names.has(x.buf.name) && this.lanes.atFlat(x.at)) {
      const lane = `rl_v_${x.buf.name}.v[rl_l]`;
      return x.raw ? lane : this.load(x.buf.elem, lane, this.owner);
    }
    return super.val(x);
  }

  protected override stmt(w: CodeWriter, s: Stmt): void {
    if (s.k === 'store' && this.lanes?.names.has(s.buf.name)) {
      const value = s.raw ? this.val(s.value) : this.store(s.buf.elem, this.val(s.value), this.owner);
      return w.line(`rl_v_${s.buf.name}.v[rl_l] = ${value};`);
    }
    super.stmt(w, s);
  }

  /** The grid loop one element at a time (see loop). */
  private scalarGridLoop(w: CodeWriter, grid: GridNest): void {
    w.line('const int64_t rl_stride = (int64_t)blockDim.x * gridDim.x;');
    w.line('int64_t t = (int64_t)blockIdx.x * blockDim.x + threadIdx.x;');
    w.block(`for (; t + ${GRID_UNROLL - 1} * rl_stride < ${grid.total}; t += ${GRID_UNROLL} * rl_stride) {`, () => {
      w.line('RL_UNROLL');
      w.block(`for (int rl_u = 0; rl_u < ${GRID_UNROLL}; ++rl_u) {`, () =>
        this.flatBody(w, grid.loops, 't + rl_u * rl_stride'),
      );
    });
    w.block(`for (; t < ${grid.total}; t += rl_stride) {`, () => this.flatBody(w, grid.loops, 't'));
  }

  /** The body of the innermost of `loops` at flat index `flat`, each loop variable recovered
   * from it. */
  private flatBody(w: CodeWriter, loops: readonly Loop[], flat: string): void {
    const extents = loops.map((l) => (l.to as Extract<Idx, { k: 'int' }>).value);
    const index = unflatten(v('rl_flat'), extents);
    const body = loops[loops.length - 1]!.body;
    // Accesses rendered as vector lanes (vectorGridLoop) read no loop variable.
    const read = indexVarsUsed(this.lanes ? laneFree(body, this.lanes) : body);
    if (loops.some((l) => read.has(l.var))) w.line(`const int64_t rl_flat = ${flat};`);
    loops.forEach((l, d) => read.has(l.var) && w.line(`const int64_t ${l.var} = ${this.idx(index[d]!)};`));
    this.stmts(w, body);
  }

  /** Loops `loops` as one loop over their flat index `flat` (from `first`, by `stride`), each
   * loop variable recovered from it. */
  private flatLoops(
    w: CodeWriter,
    loops: readonly Loop[],
    total: number,
    flat: string,
    first: string,
    stride: string,
  ): void {
    w.block(`for (int64_t ${flat} = ${first}; ${flat} < ${total}; ${flat} += ${stride}) {`, () =>
      this.flatBody(w, loops, flat),
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
