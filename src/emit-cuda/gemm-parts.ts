/**
 * @fileoverview What the CUDA GEMM kernels share (gemm.ts: FMA and mma.sync; gemm-wgmma.ts:
 * Hopper's wgmma): the loop over output tiles, operand offsets, the staging of 16-bit tiles into
 * shared memory (cp.async chunks or element by element, a pipeline's first loads), and the
 * bounds-checked store of an output through the fused epilogue.
 */
import type { FlatOp } from '../flat/program.js';
import type { ElemType, TensorType } from '../ir/types.js';
import { v } from '../ir/index-expr.js';
import type { ConvGeometry, GpuGemmPlan } from '../kernel/ukernel.js';
import { epilogueLeaf, fusedElement, type FusedEnv } from '../kernel/fused.js';
import { indexVarsUsed } from '../kernel/analysis.js';
import type { CodeWriter } from '../emit-common/code-writer.js';
import { cElemOrUndefined, type CElem } from '../emit-common/ctypes.js';
import { CudaRenderer } from './cuda-renderer.js';
import { unflatten } from './block-reduce.js';

export type Tile = GpuGemmPlan['tile'];
export type Epilogue = { readonly fop: FlatOp; readonly env: FusedEnv };
/** A kernel printer: `name`'s source for plan `p`, its comment extended with how it maps. */
export type GemmEmitter = (
  w: CodeWriter,
  p: GpuGemmPlan,
  name: string,
  comment: string,
  signature: string,
  epilogue?: Epilogue,
) => void;

/** The plan admits only f32, f16 and bf16, which always have a C type. */
export const elemC = (e: ElemType): CElem => cElemOrUndefined(e)!;

/** `i0 * s0 + i1 * s1 + ...` without the zero strides, and `i` for a unit one. */
export const linearOffset = (terms: readonly (readonly [string, number])[]): string =>
  terms
    .filter(([, stride]) => stride !== 0)
    .map(([x, stride]) => (stride === 1 ? x : `${x} * ${stride}`))
    .join(' + ') || '0';

/** The grid-stride loop over output tiles (batch, tile row, tile column: consecutive blocks
 * share A's rows), with `body` inside; with k slices (p.kSlices) over every slice of each tile,
 * rl_slice the slice. */
export function tileLoop(w: CodeWriter, p: GpuGemmPlan, body: () => void): void {
  const tilesM = Math.ceil(p.m / p.tile.bm);
  const tilesN = Math.ceil(p.n / p.tile.bn);
  const tiles = p.batch * tilesM * tilesN;
  const slices = p.kSlices ?? 1;
  w.block(`for (int64_t rl_tile = blockIdx.x; rl_tile < ${tiles * slices}; rl_tile += gridDim.x) {`, () => {
    const tile = slices > 1 ? 'rl_at' : 'rl_tile';
    if (slices > 1) w.line(`const int64_t rl_slice = rl_tile / ${tiles}, rl_at = rl_tile % ${tiles};`);
    w.line(`const int64_t rl_batch = ${tile} / ${tilesM * tilesN};`);
    w.line(
      `const int64_t rl_m0 = ${tile} / ${tilesN} % ${tilesM} * ${p.tile.bm}, rl_n0 = ${tile} % ${tilesN} * ${p.tile.bn};`,
    );
    body();
  });
}

/** The offsets of A[m][k] and B[k][n] in their buffers (batch rl_batch); A a matrix. */
export function operandOffsets(p: GpuGemmPlan): {
  a: (m: string, k: string) => string;
  b: (k: string, n: string) => string;
} {
  return {
    a: (m, k) => {
      if (p.a.kind !== 'matrix') throw new Error('operandOffsets: A is a convolution image (use aElement)');
      return linearOffset([
        ['rl_batch', p.a.batchStride],
        [m, p.a.mStride],
        [k, p.a.kStride],
      ]);
    },
    b: (k, n) =>
      linearOffset([
        ['rl_batch', p.b.batchStride],
        [k, p.b.kStride],
        [n, p.b.nStride],
      ]),
  };
}

/** `x * n` as C, `x` for n = 1. */
export const times = (x: string, n: number): string => (n === 1 ? x : `${x} * ${n}`);

/** How far kernel tap `tap` (kh * KW + kw, a C expression) of convolution `g` lies below and
 * right of its window's first input pixel, in input rows and columns (dilation included). */
export function tapOffsets(g: ConvGeometry, tap: string): { rows: string; cols: string } {
  return {
    rows: times(`(${tap} / ${g.kernelWidth})`, g.dilation[0]),
    cols: times(`(${tap} % ${g.kernelWidth})`, g.dilation[1]),
  };
}

/** How a kernel reads A[m][k] (`m`, `k`: int64_t names in scope): the declarations it needs
 * first, the condition under which the element is read (inside the product, and for a
 * convolution inside the image: the padding reads as 0), and its offset in in0. For a
 * convolution (an implicit GEMM) m is an output pixel (image, row, column) and k a kernel tap and
 * channel ((kh * KW + kw) * C + c, B's HWIO rows): the element is the image's pixel under that tap. */
export function aElement(p: GpuGemmPlan, m: string, k: string): { decls: string[]; inside: string; offset: string } {
  const product = `${m} < ${p.m} && ${k} < ${p.k}`;
  if (p.a.kind === 'matrix') return { decls: [], inside: product, offset: operandOffsets(p).a(m, k) };
  const g = p.a;
  const [sh, sw] = g.stride;
  const [ph, pw] = g.padBefore;
  const shift = (n: number): string => (n === 0 ? '' : n > 0 ? ` - ${n}` : ` + ${-n}`);
  const under = tapOffsets(g, 'rl_tap');
  return {
    decls: [
      `const int64_t rl_img = ${m} / ${g.outHeight * g.outWidth}, rl_oh = ${m} / ${g.outWidth} % ${g.outHeight}, rl_ow = ${m} % ${g.outWidth}, rl_tap = ${k} / ${g.channels};`,
      `const int64_t rl_ih = ${times('rl_oh', sh)} + ${under.rows}${shift(ph)}, rl_iw = ${times('rl_ow', sw)} + ${under.cols}${shift(pw)};`,
    ],
    inside: `${product} && (uint64_t)rl_ih < ${g.height} && (uint64_t)rl_iw < ${g.width}`,
    offset: `((rl_img * ${g.height} + rl_ih) * ${g.width} + rl_iw) * ${g.channels} + ${k} % ${g.channels}`,
  };
}

/** out0 at (m, n) of the tile, bounds-checked, through the epilogue; with k slices (p.kSlices)
 * the slice's partial product, to the scratch (emitSliceSum's kernel adds them up). */
export function storeAt(
  w: CodeWriter,
  p: GpuGemmPlan,
  m: string,
  n: string,
  product: string,
  epilogue?: Epilogue,
): void {
  w.line(`const int64_t m = ${m}, n = ${n};`);
  w.block(`if (m < ${p.m} && n < ${p.n}) {`, () => {
    w.line(`const int64_t rl_out = (rl_batch * ${p.m} + m) * ${p.n} + n;`);
    if (p.kSlices)
      w.line(`reinterpret_cast<float*>(scratch)[rl_slice * ${p.batch * p.m * p.n} + rl_out] = ${product};`);
    else storeOutput(w, p, product, epilogue);
  });
}

/** The kernel after a k-sliced one (named `name`; the sliced one is `name`_slices, launched first):
 * each output the sum of its slices' partial products in slice order, through the epilogue. */
export function emitSliceSum(
  w: CodeWriter,
  p: GpuGemmPlan,
  name: string,
  signature: string,
  epilogue?: Epilogue,
): void {
  const outputs = p.batch * p.m * p.n;
  w.line(`/* ${name}: the sum of ${name}_slices's ${p.kSlices} partial products, through the epilogue */`);
  w.block(`static __global__ void __launch_bounds__(${SLICE_SUM_THREADS}) ${name}(${signature}) {`, () => {
    w.line('(void)in0; (void)in1;');
    w.line('const float* rl_partial = reinterpret_cast<const float*>(scratch);');
    w.block(
      `for (int64_t rl_out = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; rl_out < ${outputs}; rl_out += (int64_t)gridDim.x * blockDim.x) {`,
      () => {
        w.line('float rl_sum = rl_partial[rl_out];');
        w.line(`for (int s = 1; s < ${p.kSlices}; ++s) rl_sum += rl_partial[s * ${outputs} + rl_out];`);
        storeOutput(w, p, 'rl_sum', epilogue);
      },
    );
  });
}
export const SLICE_SUM_THREADS = 256;

/** out0[rl_out] = the product (rounded to the product's type), through the epilogue if any. */
function storeOutput(w: CodeWriter, p: GpuGemmPlan, product: string, epilogue: Epilogue | undefined): void {
  const out = elemC(p.elems.out);
  if (!epilogue) return w.line(`out0[rl_out] = ${out.store(product)};`);
  const { fop: f, env } = epilogue;
  const c = elemC(p.elems.c);
  const head = c.name === 'f32' ? product : c.load(c.store(product));
  const { stmts, root } = fusedElement(f, env, epilogueLeaf(f));
  const shape = (f.outs[0]!.type as TensorType).shape;
  const index = unflatten(v('rl_out'), shape);
  const read = indexVarsUsed([...stmts, { k: 'let', name: 'root', elem: p.elems.out, value: root }]);
  const r = new CudaRenderer();
  shape.forEach((_, d) => read.has(`i${d}`) && w.line(`const int64_t i${d} = ${r.idx(index[d]!)};`));
  r.renderStmts(w, stmts, f.op, new Map([['head', head]]));
  w.line(`out0[rl_out] = ${out.store(r.value(root))};`);
}

/** For 16-bit tiles staged by 16-byte copies (8 elements along k for A, along n for B; bm x bk and
 * bk x bn, `threads` per block): this thread's chunks' sources at k = 0 (rl_a_src, rl_b_src) and
 * whether their row of A / column of B lies inside the product (rl_a_in, rl_b_in; k is checked
 * per step). */
export function emitChunkSources(w: CodeWriter, p: GpuGemmPlan, threads: number): void {
  const { bm, bn, bk } = p.tile;
  const [aChunks, bChunks] = [(bm * bk) / 8 / threads, (bk * bn) / 8 / threads];
  const at = operandOffsets(p);
  w.line(`const uint16_t* rl_a_src[${aChunks}]; bool rl_a_in[${aChunks}];`);
  w.line(`const uint16_t* rl_b_src[${bChunks}]; bool rl_b_in[${bChunks}];`);
  w.line('RL_UNROLL');
  w.block(`for (int j = 0; j < ${aChunks}; ++j) {`, () => {
    w.line(`const int c = threadIdx.x + j * ${threads};`);
    w.line(`const int64_t m = rl_m0 + c / ${bk / 8}, k = c % ${bk / 8} * 8;`);
    w.line(`rl_a_in[j] = m < ${p.m};`);
    w.line(`rl_a_src[j] = in0 + (rl_a_in[j] ? ${at.a('m', 'k')} : 0);`);
  });
  w.line('RL_UNROLL');
  w.block(`for (int j = 0; j < ${bChunks}; ++j) {`, () => {
    w.line(`const int c = threadIdx.x + j * ${threads};`);
    w.line(`const int64_t k = c / ${bn / 8}, n = rl_n0 + c % ${bn / 8} * 8;`);
    w.line(`rl_b_in[j] = n < ${p.n};`);
    w.line(`rl_b_src[j] = in1 + (rl_b_in[j] ? ${at.b('k', 'n')} : 0);`);
  });
}

/** Where a tile element (or 16-byte chunk) of A [r][k] and B [k][n] goes in shared memory. */
export interface TileDestinations {
  readonly a: (r: string, k: string) => string;
  readonly b: (k: string, n: string) => string;
}

/** Stage k0.. of the tiles by 16-byte cp.async copies from the chunk sources (emitChunkSources):
 * an add each, zero-filled past the product's edges; `dst` gives a chunk's address. */
function emitChunkCopies(w: CodeWriter, p: GpuGemmPlan, threads: number, dst: TileDestinations): void {
  const { bm, bn, bk } = p.tile;
  const [aChunks, bChunks] = [(bm * bk) / 8 / threads, (bk * bn) / 8 / threads];
  const kInside = (k: string): string => (p.k % bk === 0 ? '' : ` && ${k} < ${p.k}`);
  w.line('RL_UNROLL');
  w.block(`for (int j = 0; j < ${aChunks}; ++j) {`, () => {
    w.line(`const int c = threadIdx.x + j * ${threads}, r = c / ${bk / 8}, kc = c % ${bk / 8} * 8;`);
    w.line(`const bool ok = rl_a_in[j]${kInside('k0 + kc')};`);
    w.line(`rl_cp_async16(${dst.a('r', 'kc')}, rl_a_src[j] + (ok ? k0 : 0), ok);`);
  });
  w.line('RL_UNROLL');
  w.block(`for (int j = 0; j < ${bChunks}; ++j) {`, () => {
    w.line(`const int c = threadIdx.x + j * ${threads}, r = c / ${bn / 8}, nc = c % ${bn / 8} * 8;`);
    w.line(`const bool ok = rl_b_in[j]${kInside('k0 + r')};`);
    w.line(`rl_cp_async16(${dst.b('r', 'nc')}, rl_b_src[j] + (ok ? k0 * ${p.b.kStride} : 0), ok);`);
  });
}

/** The statements storing `value` at A [r][k] / B [k][n] of a stage. */
export interface ElementPut {
  readonly a: (r: string, k: string, value: string) => string;
  readonly b: (k: string, n: string, value: string) => string;
}

/** Stage k0.. of the tiles one element per thread and step, any strides (zero past the edges). */
function emitElementLoads(w: CodeWriter, p: GpuGemmPlan, threads: number, put: ElementPut): void {
  const { bm, bn, bk } = p.tile;
  const at = operandOffsets(p);
  w.block(`for (int i = threadIdx.x; i < ${bm * bk}; i += ${threads}) {`, () => {
    w.line(`const int64_t m = rl_m0 + i / ${bk}, k = k0 + i % ${bk};`);
    const a = aElement(p, 'm', 'k');
    a.decls.forEach((d) => w.line(d));
    w.line(put.a(`i / ${bk}`, `i % ${bk}`, `${a.inside} ? in0[${a.offset}] : 0`));
  });
  w.block(`for (int i = threadIdx.x; i < ${bk * bn}; i += ${threads}) {`, () => {
    w.line(`const int64_t k = k0 + i / ${bn}, n = rl_n0 + i % ${bn};`);
    w.line(put.b(`i / ${bn}`, `i % ${bn}`, `k < ${p.k} && n < ${p.n} ? in1[${at.b('k', 'n')}] : 0`));
  });
}

/** Whether both operands are 16-byte aligned, checked at run time (a caller's buffers need not be). */
export const ALIGNED_OPERANDS = 'const bool rl_vec = ((uintptr_t)in0 | (uintptr_t)in1) % 16 == 0;';

/** The lambda rl_load(s, k0): stage s of the tiles from k0 on, started as one cp.async group and
 * complete after its wait. With `copies` (rows 16-byte aligned; emitChunkSources has run) by
 * 16-byte copies where rl_vec (ALIGNED_OPERANDS) holds, else element by element by `put`;
 * `prelude` prints what both need first. */
export function emitStageLoader(
  w: CodeWriter,
  p: GpuGemmPlan,
  threads: number,
  how: { readonly copies?: TileDestinations; readonly put: ElementPut; readonly prelude?: () => void },
): void {
  const elementLoads = (): void => emitElementLoads(w, p, threads, how.put);
  const copies = how.copies;
  w.line('/* Stage s of the tiles from k0 on: started here, complete after the wait. */');
  w.block(
    'auto rl_load = [&](int s, int64_t k0) {',
    () => {
      how.prelude?.();
      if (copies) {
        w.block('if (rl_vec) {', () => emitChunkCopies(w, p, threads, copies), '} else {');
        w.block('} else {', elementLoads, '}', true);
      } else elementLoads();
      w.line('rl_cp_async_commit();');
    },
    '};',
  );
}

/** The pipeline's first `ahead` stages (an empty group for each past k's end). */
export function emitFirstLoads(w: CodeWriter, p: GpuGemmPlan, ahead: number): void {
  w.line(`for (int s = 0; s < ${ahead}; ++s) {`);
  w.line(`  if (s < ${Math.ceil(p.k / p.tile.bk)}) rl_load(s, (int64_t)s * ${p.tile.bk});`);
  w.line('  else rl_cp_async_commit(); /* empty groups keep the wait count uniform */');
  w.line('}');
}
