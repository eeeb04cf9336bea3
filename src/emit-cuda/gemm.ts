/**
 * @fileoverview The CUDA GEMM micro-kernel: f32, f16 and bf16 contractions (dot, dot_general)
 * whose operands group into batch x [M x K] * [K x N] (kernel/ukernel.ts gemmShape), with their
 * fused elementwise epilogue. Each thread block computes bm x bn outputs: k advances in steps of
 * bk, the block's threads stage the A and B tiles in shared memory (widened to f32; coalesced
 * reads along K for A, along N for B), synchronize, and each thread accumulates its tm x tn
 * outputs in registers with f32 FMAs (TF32 and tensor cores are not used: f32 stays f32).
 * Products too small to fill half a block keep the plain loop nest (one thread per output).
 */
import type { FlatOp } from '../flat/program.js';
import type { ElemType, TensorType } from '../ir/types.js';
import { v } from '../ir/index-expr.js';
import { gemmShape, type GpuGemmPlan } from '../kernel/ukernel.js';
import { fusedElement, type FusedEnv } from '../kernel/fused.js';
import { indexVarsUsed } from '../kernel/analysis.js';
import { CodeWriter } from '../emit-common/code-writer.js';
import { cElemOrUndefined, type CElem } from '../emit-common/ctypes.js';
import type { KernelParam } from '../emit-common/kernel.js';
import { CudaRenderer, type Launch } from './cuda-renderer.js';
import { unflatten } from './block-reduce.js';

/** 64 x 64 outputs per block of 8 x 8 threads, 8 x 8 each (64 accumulators in registers); k in
 * steps of 32 (17 KB of shared memory). */
const TILE = { bm: 64, bn: 64, bk: 32, tm: 8, tn: 8 };
const THREADS = (TILE.bm / TILE.tm) * (TILE.bn / TILE.tn);
/** The tile is for products at least half a tile in each direction; a smaller M or N (a GEMV,
 * attention over a few tokens) keeps the plain loop nest, a thread per output, whose B reads
 * are coalesced across the threads. */
const MIN_SIDE = 32;

const GEMM_FLOATS = ['f32', 'f16', 'bf16'];
const gemmFloat = (e: ElemType): boolean => e.kind === 'float' && GEMM_FLOATS.includes(e.name);

/** The plan for `f` (`out`: the type its epilogue stores), if the tiled kernel takes it. */
export function planGpuGemm(f: FlatOp, out?: TensorType): GpuGemmPlan | undefined {
  if (f.ins.length !== 2 || f.outs.length !== 1) return undefined;
  const [lt, rt, ot] = [f.ins[0]!.type, f.ins[1]!.type, f.outs[0]!.type];
  if (lt.kind !== 'tensor' || rt.kind !== 'tensor' || ot.kind !== 'tensor') return undefined;
  const outElem = (out ?? ot).elem;
  if (![lt.elem, rt.elem, ot.elem, outElem].every(gemmFloat)) return undefined;
  const shape = gemmShape(f);
  if (!shape || shape.a.kind !== 'matrix' || shape.m < MIN_SIDE || shape.n < MIN_SIDE || shape.k === 0)
    return undefined;
  return {
    kind: 'gpu-gemm',
    op: f.op,
    ...shape,
    elems: { a: lt.elem, b: rt.elem, c: ot.elem, out: outElem },
    tile: TILE,
  };
}

/** The launch of a plan's kernel: a block per output tile (block-stride beyond 65535). */
export function gpuGemmLaunch(p: GpuGemmPlan): Launch {
  const tiles = p.batch * Math.ceil(p.m / p.tile.bm) * Math.ceil(p.n / p.tile.bn);
  return { blocks: String(Math.min(tiles, 65535)), threads: String(THREADS), synced: true };
}

/** The plan admits only f32, f16 and bf16, which always have a C type. */
const elemC = (e: ElemType): CElem => cElemOrUndefined(e)!;

/** `i0 * s0 + i1 * s1 + ...` without the zero strides, and `i` for a unit one. */
const offset = (terms: readonly (readonly [string, number])[]): string =>
  terms
    .filter(([, stride]) => stride !== 0)
    .map(([x, stride]) => (stride === 1 ? x : `${x} * ${stride}`))
    .join(' + ') || '0';

/** The kernel's source. Params: in0 (A), in1 (B), the epilogue's leaves, out0, scratch (unused). */
export function emitGpuGemm(
  p: GpuGemmPlan,
  name: string,
  comment: string,
  params: readonly KernelParam[],
  epilogue?: { readonly fop: FlatOp; readonly env: FusedEnv },
): string {
  const { bm, bn, bk, tm, tn } = p.tile;
  const a = p.a as Extract<GpuGemmPlan['a'], { kind: 'matrix' }>;
  const [ac, bc] = [elemC(p.elems.a), elemC(p.elems.b)];
  const tilesM = Math.ceil(p.m / bm);
  const tilesN = Math.ceil(p.n / bn);
  const w = new CodeWriter();
  const how = `; tiled GEMM: ${bm} x ${bn} outputs per block, k steps of ${bk} through shared memory, ${tm} x ${tn} per thread, f32 FMA`;
  w.line(comment.replace(/ \*\/$/, `${how} */`));
  w.block(`static __global__ void ${name}(${params.map((q) => `${q.cType} ${q.name}`).join(', ')}) {`, () => {
    w.line(`__shared__ float rl_a_tile[${bk}][${bm + 1}];`);
    w.line(`__shared__ float rl_b_tile[${bk}][${bn + 1}];`);
    w.line('(void)scratch;');
    w.line(`const int rl_row = threadIdx.x / ${bn / tn}, rl_col = threadIdx.x % ${bn / tn};`);
    const tiles = p.batch * tilesM * tilesN;
    w.block(`for (int64_t rl_tile = blockIdx.x; rl_tile < ${tiles}; rl_tile += gridDim.x) {`, () => {
      w.line(`const int64_t rl_batch = rl_tile / ${tilesM * tilesN};`);
      w.line(`const int64_t rl_m0 = rl_tile / ${tilesN} % ${tilesM} * ${bm}, rl_n0 = rl_tile % ${tilesN} * ${bn};`);
      w.line(`float rl_acc[${tm}][${tn}];`);
      w.line(`for (int i = 0; i < ${tm}; ++i) for (int j = 0; j < ${tn}; ++j) rl_acc[i][j] = 0.0f;`);
      w.block(`for (int64_t rl_k0 = 0; rl_k0 < ${p.k}; rl_k0 += ${bk}) {`, () => {
        w.block(`for (int rl_i = threadIdx.x; rl_i < ${bm * bk}; rl_i += blockDim.x) {`, () => {
          w.line(`const int64_t m = rl_m0 + rl_i / ${bk}, k = rl_k0 + rl_i % ${bk};`);
          const at = offset([
            ['rl_batch', a.batchStride],
            ['m', a.mStride],
            ['k', a.kStride],
          ]);
          w.line(
            `rl_a_tile[rl_i % ${bk}][rl_i / ${bk}] = m < ${p.m} && k < ${p.k} ? (float)${ac.load(`in0[${at}]`)} : 0.0f;`,
          );
        });
        w.block(`for (int rl_i = threadIdx.x; rl_i < ${bk * bn}; rl_i += blockDim.x) {`, () => {
          w.line(`const int64_t k = rl_k0 + rl_i / ${bn}, n = rl_n0 + rl_i % ${bn};`);
          const at = offset([
            ['rl_batch', p.b.batchStride],
            ['k', p.b.kStride],
            ['n', p.b.nStride],
          ]);
          w.line(
            `rl_b_tile[rl_i / ${bn}][rl_i % ${bn}] = k < ${p.k} && n < ${p.n} ? (float)${bc.load(`in1[${at}]`)} : 0.0f;`,
          );
        });
        w.line('__syncthreads();');
        w.block(`for (int kk = 0; kk < ${bk}; ++kk) {`, () => {
          w.line(`float a[${tm}], b[${tn}];`);
          w.line(`for (int i = 0; i < ${tm}; ++i) a[i] = rl_a_tile[kk][rl_row * ${tm} + i];`);
          w.line(`for (int j = 0; j < ${tn}; ++j) b[j] = rl_b_tile[kk][rl_col * ${tn} + j];`);
          w.line(
            `for (int i = 0; i < ${tm}; ++i) for (int j = 0; j < ${tn}; ++j) rl_acc[i][j] = fmaf(a[i], b[j], rl_acc[i][j]);`,
          );
        });
        w.line('__syncthreads(); /* before the next k step overwrites the tiles */');
      });
      w.block(`for (int i = 0; i < ${tm}; ++i) for (int j = 0; j < ${tn}; ++j) {`, () => {
        w.line(`const int64_t m = rl_m0 + rl_row * ${tm} + i, n = rl_n0 + rl_col * ${tn} + j;`);
        w.block(`if (m < ${p.m} && n < ${p.n}) {`, () => {
          w.line(`const int64_t rl_out = (rl_batch * ${p.m} + m) * ${p.n} + n;`);
          storeOutput(w, p, 'rl_acc[i][j]', epilogue);
        });
      });
    });
  });
  return w.toString();
}

/** out0[rl_out] = the product (rounded to the product's type), through the epilogue if any. */
function storeOutput(
  w: CodeWriter,
  p: GpuGemmPlan,
  product: string,
  epilogue: { readonly fop: FlatOp; readonly env: FusedEnv } | undefined,
): void {
  const out = elemC(p.elems.out);
  if (!epilogue) return w.line(`out0[rl_out] = ${out.store(product)};`);
  const { fop: f, env } = epilogue;
  const c = elemC(p.elems.c);
  const head = c.name === 'f32' ? product : c.load(c.store(product));
  // Leaves are e0, e1, ... after the head's two operands (which a leaf may repeat).
  const { stmts, root } = fusedElement(f, env, (s) => `e${f.ins.lastIndexOf(s) - 2}`);
  const shape = (f.outs[0]!.type as TensorType).shape;
  const index = unflatten(v('rl_out'), shape);
  const read = indexVarsUsed([...stmts, { k: 'let', name: 'root', elem: p.elems.out, value: root }]);
  const r = new CudaRenderer();
  shape.forEach((_, d) => read.has(`i${d}`) && w.line(`const int64_t i${d} = ${r.idx(index[d]!)};`));
  r.renderStmts(w, stmts, f.op, new Map([['head', head]]));
  w.line(`out0[rl_out] = ${out.store(r.value(root))};`);
}
