/**
 * @fileoverview What the CUDA GEMM kernels share (gemm.ts: FMA and mma.sync; gemm-wgmma.ts:
 * Hopper's wgmma): the loop over output tiles, operand offsets, and the bounds-checked store of
 * an output through the fused epilogue.
 */
import type { FlatOp } from '../flat/program.js';
import type { ElemType, TensorType } from '../ir/types.js';
import { v } from '../ir/index-expr.js';
import type { GpuGemmPlan } from '../kernel/ukernel.js';
import { epilogueLeaf, fusedElement, type FusedEnv } from '../kernel/fused.js';
import { indexVarsUsed } from '../kernel/analysis.js';
import type { CodeWriter } from '../emit-common/code-writer.js';
import { cElemOrUndefined, type CElem } from '../emit-common/ctypes.js';
import { CudaRenderer } from './cuda-renderer.js';
import { unflatten } from './block-reduce.js';

export type Tile = GpuGemmPlan['tile'];
export type Epilogue = { readonly fop: FlatOp; readonly env: FusedEnv };

/** The plan admits only f32, f16 and bf16, which always have a C type. */
export const elemC = (e: ElemType): CElem => cElemOrUndefined(e)!;

/** `i0 * s0 + i1 * s1 + ...` without the zero strides, and `i` for a unit one. */
const offset = (terms: readonly (readonly [string, number])[]): string =>
  terms
    .filter(([, stride]) => stride !== 0)
    .map(([x, stride]) => (stride === 1 ? x : `${x} * ${stride}`))
    .join(' + ') || '0';

/** The grid-stride loop over output tiles (batch, tile row, tile column: consecutive blocks
 * share A's rows), with `body` inside. */
export function tileLoop(w: CodeWriter, p: GpuGemmPlan, body: () => void): void {
  const tilesM = Math.ceil(p.m / p.tile.bm);
  const tilesN = Math.ceil(p.n / p.tile.bn);
  w.block(`for (int64_t rl_tile = blockIdx.x; rl_tile < ${p.batch * tilesM * tilesN}; rl_tile += gridDim.x) {`, () => {
    w.line(`const int64_t rl_batch = rl_tile / ${tilesM * tilesN};`);
    w.line(
      `const int64_t rl_m0 = rl_tile / ${tilesN} % ${tilesM} * ${p.tile.bm}, rl_n0 = rl_tile % ${tilesN} * ${p.tile.bn};`,
    );
    body();
  });
}

/** The offsets of A[m][k] and B[k][n] in their buffers (batch rl_batch). */
export function operandOffsets(p: GpuGemmPlan): {
  a: (m: string, k: string) => string;
  b: (k: string, n: string) => string;
} {
  const a = p.a as Extract<GpuGemmPlan['a'], { kind: 'matrix' }>;
  return {
    a: (m, k) =>
      offset([
        ['rl_batch', a.batchStride],
        [m, a.mStride],
        [k, a.kStride],
      ]),
    b: (k, n) =>
      offset([
        ['rl_batch', p.b.batchStride],
        [k, p.b.kStride],
        [n, p.b.nStride],
      ]),
  };
}

/** out0 at (m, n) of the tile, bounds-checked, through the epilogue. */
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
    storeOutput(w, p, product, epilogue);
  });
}

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
