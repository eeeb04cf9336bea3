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
import { epilogueLeaf, fusedElement, type FusedEnv } from '../kernel/fused.js';
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

/** Tensor cores: 4 warps per 64 x 64 block tile, each warp 32 x 32 as 2 x 4 mma m16n8k16. */
const MMA_THREADS = 128;

/** The plan for `f` (`out`: the type its epilogue stores), if the tiled kernel takes it; `archs`:
 * the sm_XX the build targets (tensor cores when all are sm_80 or later). */
export function planGpuGemm(f: FlatOp, archs: readonly string[], out?: TensorType): GpuGemmPlan | undefined {
  if (f.ins.length !== 2 || f.outs.length !== 1) return undefined;
  const [lt, rt, ot] = [f.ins[0]!.type, f.ins[1]!.type, f.outs[0]!.type];
  if (lt.kind !== 'tensor' || rt.kind !== 'tensor' || ot.kind !== 'tensor') return undefined;
  const outElem = (out ?? ot).elem;
  if (![lt.elem, rt.elem, ot.elem, outElem].every(gemmFloat)) return undefined;
  const shape = gemmShape(f);
  if (!shape || shape.a.kind !== 'matrix' || shape.m < MIN_SIDE || shape.n < MIN_SIDE || shape.k === 0)
    return undefined;
  const half = lt.elem.name === rt.elem.name && lt.elem.name !== 'f32' ? (lt.elem.name as 'f16' | 'bf16') : undefined;
  const tensorCores = half && archs.every((a) => Number(a.slice(3)) >= 80) ? half : undefined;
  const elems = { a: lt.elem, b: rt.elem, c: ot.elem, out: outElem };
  return { kind: 'gpu-gemm', op: f.op, ...shape, elems, tile: TILE, ...(tensorCores ? { tensorCores } : {}) };
}

/** The launch of a plan's kernel: a block per output tile (block-stride beyond 65535). */
export function gpuGemmLaunch(p: GpuGemmPlan): Launch {
  const tiles = p.batch * Math.ceil(p.m / p.tile.bm) * Math.ceil(p.n / p.tile.bn);
  return {
    blocks: String(Math.min(tiles, 65535)),
    threads: String(p.tensorCores ? MMA_THREADS : THREADS),
    synced: true,
  };
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
  const tilesM = Math.ceil(p.m / bm);
  const tilesN = Math.ceil(p.n / bn);
  const mma = p.tensorCores;
  // Tensor cores take the operands' bits as they are; the FMA path widens them to f32.
  const [ac, bc] = [elemC(p.elems.a), elemC(p.elems.b)];
  const [aLoad, bLoad, zero, tileType] = mma
    ? [(x: string) => x, (x: string) => x, '0', 'uint16_t']
    : [(x: string) => `(float)${ac.load(x)}`, (x: string) => `(float)${bc.load(x)}`, '0.0f', 'float'];
  const w = new CodeWriter();
  const how = mma
    ? `; tiled GEMM on tensor cores: ${bm} x ${bn} outputs per block of 4 warps, each 32 x 32 as 2 x 4 mma.sync m16n8k16 (${mma}, f32 accumulation), k steps of ${bk} through shared memory`
    : `; tiled GEMM: ${bm} x ${bn} outputs per block, k steps of ${bk} through shared memory, ${tm} x ${tn} per thread, f32 FMA`;
  w.line(comment.replace(/ \*\/$/, `${how} */`));
  w.block(`static __global__ void ${name}(${params.map((q) => `${q.cType} ${q.name}`).join(', ')}) {`, () => {
    // A as [m][k] (tensor cores: rows padded to keep pairs 4-byte aligned) or [k][m]; B as [k][n].
    w.line(mma ? `__shared__ uint16_t rl_a_tile[${bm}][${bk + 8}];` : `__shared__ float rl_a_tile[${bk}][${bm + 1}];`);
    w.line(`__shared__ ${tileType} rl_b_tile[${bk}][${bn + (mma ? 8 : 1)}];`);
    w.line('(void)scratch;');
    if (mma) {
      w.line('const int rl_lane = threadIdx.x % 32, rl_g = rl_lane / 4, rl_q = rl_lane % 4;');
      w.line('const int rl_wm = threadIdx.x / 32 / 2 * 32, rl_wn = threadIdx.x / 32 % 2 * 32;');
    } else w.line(`const int rl_row = threadIdx.x / ${bn / tn}, rl_col = threadIdx.x % ${bn / tn};`);
    const tiles = p.batch * tilesM * tilesN;
    w.block(`for (int64_t rl_tile = blockIdx.x; rl_tile < ${tiles}; rl_tile += gridDim.x) {`, () => {
      w.line(`const int64_t rl_batch = rl_tile / ${tilesM * tilesN};`);
      w.line(`const int64_t rl_m0 = rl_tile / ${tilesN} % ${tilesM} * ${bm}, rl_n0 = rl_tile % ${tilesN} * ${bn};`);
      if (mma) {
        w.line('float rl_acc[2][4][4];');
        w.line(
          'for (int i = 0; i < 2; ++i) for (int j = 0; j < 4; ++j) for (int e = 0; e < 4; ++e) rl_acc[i][j][e] = 0.0f;',
        );
      } else {
        w.line(`float rl_acc[${tm}][${tn}];`);
        w.line(`for (int i = 0; i < ${tm}; ++i) for (int j = 0; j < ${tn}; ++j) rl_acc[i][j] = 0.0f;`);
      }
      w.block(`for (int64_t rl_k0 = 0; rl_k0 < ${p.k}; rl_k0 += ${bk}) {`, () => {
        w.block(`for (int rl_i = threadIdx.x; rl_i < ${bm * bk}; rl_i += blockDim.x) {`, () => {
          w.line(`const int64_t m = rl_m0 + rl_i / ${bk}, k = rl_k0 + rl_i % ${bk};`);
          const at = offset([
            ['rl_batch', a.batchStride],
            ['m', a.mStride],
            ['k', a.kStride],
          ]);
          const slot = mma ? `rl_a_tile[rl_i / ${bk}][rl_i % ${bk}]` : `rl_a_tile[rl_i % ${bk}][rl_i / ${bk}]`;
          w.line(`${slot} = m < ${p.m} && k < ${p.k} ? ${aLoad(`in0[${at}]`)} : ${zero};`);
        });
        w.block(`for (int rl_i = threadIdx.x; rl_i < ${bk * bn}; rl_i += blockDim.x) {`, () => {
          w.line(`const int64_t k = rl_k0 + rl_i / ${bn}, n = rl_n0 + rl_i % ${bn};`);
          const at = offset([
            ['rl_batch', p.b.batchStride],
            ['k', p.b.kStride],
            ['n', p.b.nStride],
          ]);
          w.line(
            `rl_b_tile[rl_i / ${bn}][rl_i % ${bn}] = k < ${p.k} && n < ${p.n} ? ${bLoad(`in1[${at}]`)} : ${zero};`,
          );
        });
        w.line('__syncthreads();');
        if (mma) mmaSteps(w, bk, mma);
        else
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
      const store = (m: string, n: string, product: string): void => {
        w.line(`const int64_t m = ${m}, n = ${n};`);
        w.block(`if (m < ${p.m} && n < ${p.n}) {`, () => {
          w.line(`const int64_t rl_out = (rl_batch * ${p.m} + m) * ${p.n} + n;`);
          storeOutput(w, p, product, epilogue);
        });
      };
      if (mma)
        w.block('for (int i = 0; i < 2; ++i) for (int j = 0; j < 4; ++j) for (int e = 0; e < 4; ++e) {', () =>
          store(
            'rl_m0 + rl_wm + i * 16 + rl_g + (e >= 2 ? 8 : 0)',
            'rl_n0 + rl_wn + j * 8 + rl_q * 2 + e % 2',
            'rl_acc[i][j][e]',
          ),
        );
      else
        w.block(`for (int i = 0; i < ${tm}; ++i) for (int j = 0; j < ${tn}; ++j) {`, () =>
          store(`rl_m0 + rl_row * ${tm} + i`, `rl_n0 + rl_col * ${tn} + j`, 'rl_acc[i][j]'),
        );
    });
  });
  return w.toString();
}

/** The k step of a warp on tensor cores: per 16 of k, its A fragments (2 row blocks of 16) and B
 * fragments (4 column blocks of 8) from shared memory in the PTX ISA's m16n8k16 layout (rl_cuda.h
 * spells it out), then 8 mma. */
function mmaSteps(w: CodeWriter, bk: number, type: 'f16' | 'bf16'): void {
  w.block(`for (int kk = 0; kk < ${bk}; kk += 16) {`, () => {
    w.line('uint32_t a[2][4], b[4][2];');
    w.block('for (int i = 0; i < 2; ++i) {', () => {
      w.line('const int r = rl_wm + i * 16 + rl_g, c = kk + rl_q * 2;');
      w.line('a[i][0] = rl_pack_half2(rl_a_tile[r][c], rl_a_tile[r][c + 1]);');
      w.line('a[i][1] = rl_pack_half2(rl_a_tile[r + 8][c], rl_a_tile[r + 8][c + 1]);');
      w.line('a[i][2] = rl_pack_half2(rl_a_tile[r][c + 8], rl_a_tile[r][c + 9]);');
      w.line('a[i][3] = rl_pack_half2(rl_a_tile[r + 8][c + 8], rl_a_tile[r + 8][c + 9]);');
    });
    w.block('for (int j = 0; j < 4; ++j) {', () => {
      w.line('const int n = rl_wn + j * 8 + rl_g, k = kk + rl_q * 2;');
      w.line('b[j][0] = rl_pack_half2(rl_b_tile[k][n], rl_b_tile[k + 1][n]);');
      w.line('b[j][1] = rl_pack_half2(rl_b_tile[k + 8][n], rl_b_tile[k + 9][n]);');
    });
    w.line(
      `for (int i = 0; i < 2; ++i) for (int j = 0; j < 4; ++j) rl_mma_m16n8k16_${type}(rl_acc[i][j], a[i], b[j]);`,
    );
  });
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
  const { stmts, root } = fusedElement(f, env, epilogueLeaf(f));
  const shape = (f.outs[0]!.type as TensorType).shape;
  const index = unflatten(v('rl_out'), shape);
  const read = indexVarsUsed([...stmts, { k: 'let', name: 'root', elem: p.elems.out, value: root }]);
  const r = new CudaRenderer();
  shape.forEach((_, d) => read.has(`i${d}`) && w.line(`const int64_t i${d} = ${r.idx(index[d]!)};`));
  r.renderStmts(w, stmts, f.op, new Map([['head', head]]));
  w.line(`out0[rl_out] = ${out.store(r.value(root))};`);
}
