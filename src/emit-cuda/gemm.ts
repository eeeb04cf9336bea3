/**
 * @fileoverview The CUDA GEMM micro-kernels: f32, f16 and bf16 contractions (dot, dot_general)
 * whose operands group into batch x [M x K] * [K x N] (kernel/ukernel.ts gemmShape), with their
 * fused elementwise epilogue. Each thread block computes bm x bn outputs, k advancing in steps of
 * bk through shared memory. f32 (and mixed) products run on FMAs (emitFmaGemm: the tiles widened
 * to f32, each thread tm x tn outputs; no TF32: f32 stays f32); f16 x f16 and bf16 x bf16 on
 * tensor cores where every target arch has them (emitMmaGemm: ldmatrix, mma.sync, a cp.async
 * pipeline), and in builds for sm_90a only on Hopper's wgmma (gemm-wgmma.ts) where the product
 * is big enough for its 128 x 256 tiles. On FMAs, products with fewer than MIN_SIDE rows run as
 * GEMVs (emitFmaGemv: warps splitting k); products with fewer than MIN_SIDE columns keep the
 * plain loop nest (one thread per output).
 */
import type { FlatOp } from '../flat/program.js';
import type { ElemType, TensorType } from '../ir/types.js';
import { gemmShape, type GpuGemmPlan } from '../kernel/ukernel.js';
import { CodeWriter } from '../emit-common/code-writer.js';
import type { KernelParam } from '../emit-common/kernel.js';
import type { Launch } from './cuda-renderer.js';
import {
  ALIGNED_OPERANDS,
  emitChunkSources,
  emitFirstLoads,
  emitStageLoader,
  emitSliceSum,
  SLICE_SUM_THREADS,
  storeAt,
  tileLoop,
  type Epilogue,
  type GemmEmitter,
  type Tile,
} from './gemm-parts.js';
import { emitFmaGemm, emitFmaGemv, fmaThreads, fmaTile, gemvWarps } from './gemm-fma.js';
import { emitWgmmaGemm, WGMMA_TILE, wgmmaSharedBytes, wgmmaThreads } from './gemm-wgmma.js';

/** On FMAs, the tiled kernel is for products at least this many columns wide (a smaller N keeps
 * the plain loop nest, a thread per output, whose B reads are coalesced across the threads) and
 * rows high (fewer take the GEMV kernel). */
const MIN_SIDE = 32;

const GEMM_FLOATS = ['f32', 'f16', 'bf16'];
const gemmFloat = (e: ElemType): boolean => e.kind === 'float' && GEMM_FLOATS.includes(e.name);

/** Tensor cores: a block of bm x bn outputs in warp tiles of tm x tn (the largest block tile that
 * still makes MMA_MIN_TILES blocks, so that a 1024^3 product fills the GPU while a 4096^3 one gets
 * the larger tile's fewer loads per output), k steps of 64; each warp's tile as (tm / 16) x
 * (tn / 8) mma m16n8k16. Measured on an H100 at 4096^3 f16 (docs/gpu-runs.md): 64 x 32 warp tiles
 * (6 ldmatrix per 16 mma) 257 TFLOP/s, 64 x 64 ones (8 per 32) 281, and 128 x 256 blocks of eight
 * of those 242 (ncu had found L2 70% busy; a quarter fewer loads per output did not help). */
const MMA_TILES: readonly Tile[] = [
  { bm: 128, bn: 128, bk: 64, tm: 64, tn: 64 },
  { bm: 64, bn: 128, bk: 64, tm: 32, tn: 64 },
  { bm: 64, bn: 64, bk: 64, tm: 32, tn: 32 },
];
const MMA_MIN_TILES = 128;
/** Shared-memory stages: loads run MMA_STAGES - 1 k steps ahead of the mma. k steps of 64: an A
 * row of 128 bytes plus 16 of padding lets a warp's cp.async writes fill whole bank rows (ncu
 * found 42% excess shared wavefronts with 32-element rows) while ldmatrix's eight rows still hit
 * distinct banks. On an H100 at 4096^3 f16: 3 stages of 64 0.479 ms, 4 of 32 0.492, 3 of 32
 * 0.491 (medians, same run). */
const MMA_STAGES = 3;
/** A stage's tiles in shared memory: A [bm][bk + 8] and B [bk][bn + 8] of 16-bit elements (rows
 * padded by 16 bytes), and all stages' bytes of each. */
function mmaStageTiles(t: Tile): {
  a: [number, number];
  b: [number, number];
  aBytes: number;
  bBytes: number;
} {
  const a: [number, number] = [t.bm, t.bk + 8];
  const b: [number, number] = [t.bk, t.bn + 8];
  return { a, b, aBytes: MMA_STAGES * 2 * a[0] * a[1], bBytes: MMA_STAGES * 2 * b[0] * b[1] };
}
const mmaSharedBytes = (t: Tile): number => {
  const { aBytes, bBytes } = mmaStageTiles(t);
  return aBytes + bBytes;
};
const mmaThreads = (t: Tile): number => 32 * (t.bm / t.tm) * (t.bn / t.tn);

function mmaTile(batch: number, m: number, n: number): Tile {
  return MMA_TILES.find((t) => tileCount({ batch, m, n }, t) >= MMA_MIN_TILES) ?? MMA_TILES[MMA_TILES.length - 1]!;
}

/** The plan for `f` (`out`: the type its epilogue stores), if the tiled kernel takes it; `archs`:
 * the sm_XX the build targets (tensor cores when all are sm_80 or later). */
export function planGpuGemm(f: FlatOp, archs: readonly string[], out?: TensorType): GpuGemmPlan | undefined {
  if (f.ins.length !== 2 || f.outs.length !== 1) return undefined;
  const [lt, rt, ot] = [f.ins[0]!.type, f.ins[1]!.type, f.outs[0]!.type];
  if (lt.kind !== 'tensor' || rt.kind !== 'tensor' || ot.kind !== 'tensor') return undefined;
  const outElem = (out ?? ot).elem;
  if (![lt.elem, rt.elem, ot.elem, outElem].every(gemmFloat)) return undefined;
  const half = lt.elem.name === rt.elem.name && lt.elem.name !== 'f32' ? (lt.elem.name as 'f16' | 'bf16') : undefined;
  const tensorCores = half && archs.every((a) => parseInt(a.slice(3), 10) >= 80) ? half : undefined;
  // On tensor cores a product of few rows (a GEMV) takes the tiled kernel too: its B strips
  // stream through cp.async, where the loop nest's thread per output, with M x N threads only,
  // left an H100 at 8% of cuBLAS on 1 x 4096 x 4096 (the rows past M cost no memory traffic).
  const shape = gemmShape(f);
  if (!shape || shape.n < MIN_SIDE || shape.k === 0 || shape.m === 0) return undefined;
  const elems = { a: lt.elem, b: rt.elem, c: ot.elem, out: outElem };
  const base = { kind: 'gpu-gemm' as const, op: f.op, ...shape, elems };
  if (!tensorCores && shape.m < MIN_SIDE) {
    // The GEMV reads A's rows in place: a convolution's image this small keeps the loop nest.
    if (shape.a.kind !== 'matrix') return undefined;
    const tile = { bm: shape.m, bn: 32, bk: gemvWarps(shape.m, shape.k), tm: shape.m, tn: 1 };
    return { ...base, tile, gemv: true };
  }
  if (!tensorCores) {
    const tile = fmaTile(shape.batch, shape.m, shape.n);
    const kSlices = fmaKSlices(tileCount(shape, tile), Math.ceil(shape.k / tile.bk));
    return { ...base, tile, ...(kSlices > 1 ? { kSlices } : {}) };
  }
  const plan = { ...base, tile: mmaTile(shape.batch, shape.m, shape.n), tensorCores };
  const wgmma = archs.every((a) => a === 'sm_90a') && copiesAlign(plan);
  return wgmma && tileCount(plan, WGMMA_TILE) >= MMA_MIN_TILES ? { ...plan, tile: WGMMA_TILE, wgmma } : plan;
}

/** On FMAs, k is sliced across blocks where the output tiles alone make fewer than
 * SLICED_BLOCKS blocks: each k step costs a block about 1 us of memory latency (its next step's
 * loads are in flight during one step's FMAs only), so on an H200 ResNet-50's 3 x 3 convolution at
 * 7 x 7 x 512 (8 tiles of 64 x 64, 576 k steps) took 575 us and MobileNetV2's 7 x 7 x 960 -> 160
 * projections (3 tiles) 122 us (docs/gpu-runs.md, run 15). Slices of at least MIN_SLICE_STEPS
 * steps (fewer would spend more on the partial products than on the FMAs), at most MAX_SLICES
 * (the sum reads every slice's partial product of each output). */
const SLICED_BLOCKS = 512;
const MIN_SLICE_STEPS = 8;
const MAX_SLICES = 64;

/** How many slices k's `steps` are cut into for `tiles` output tiles (1: not sliced); every
 * slice the same number of steps but the last, none empty. */
export function fmaKSlices(tiles: number, steps: number): number {
  const wanted = Math.min(Math.ceil(SLICED_BLOCKS / tiles), Math.floor(steps / MIN_SLICE_STEPS), MAX_SLICES);
  return wanted > 1 ? Math.ceil(steps / Math.ceil(steps / wanted)) : 1;
}

/** Output tiles of `t` in `p`. */
const tileCount = (p: { batch: number; m: number; n: number }, t: Tile): number =>
  p.batch * Math.ceil(p.m / t.bm) * Math.ceil(p.n / t.bn);

/** Whether the tiles can be staged by 16-byte copies (8 elements along k for A, along n for B,
 * every row starting on a 16-byte boundary when the buffers do). */
function copiesAlign(p: GpuGemmPlan): boolean {
  const a = p.a;
  return (
    a.kind === 'matrix' &&
    a.kStride === 1 &&
    p.b.nStride === 1 &&
    [p.k, p.n, a.mStride, a.batchStride, p.b.kStride, p.b.batchStride].every((x) => x % 8 === 0)
  );
}

/** The launches of a plan's kernels, in order: a block per output tile (block-stride beyond
 * 65535); with k slices, a block per tile and slice (`name`_slices), then the sum (`name`), a
 * thread per output. */
export function gpuGemmLaunches(p: GpuGemmPlan, name: string): { name: string; launch: Launch }[] {
  const tiles = tileCount(p, p.tile) * (p.kSlices ?? 1);
  const [threads, dynamicShared] = p.wgmma
    ? [wgmmaThreads(p.tile), wgmmaSharedBytes(p.tile)]
    : p.tensorCores
      ? [mmaThreads(p.tile), mmaSharedBytes(p.tile)]
      : [fmaThreads(p), 0];
  const launch = {
    blocks: String(Math.min(tiles, 65535)),
    threads: String(threads),
    synced: true,
    ...(dynamicShared ? { dynamicShared } : {}),
  };
  if (!p.kSlices) return [{ name, launch }];
  const sums = Math.min(Math.ceil((p.batch * p.m * p.n) / SLICE_SUM_THREADS), 65535);
  return [
    { name: `${name}_slices`, launch },
    { name, launch: { blocks: String(sums), threads: String(SLICE_SUM_THREADS), synced: false } },
  ];
}

/** Bytes of arena scratch a plan's kernels need: the k slices' partial products (f32). */
export const gpuGemmScratchBytes = (p: GpuGemmPlan): number => (p.kSlices ? 4 * p.kSlices * p.batch * p.m * p.n : 0);

/** The kernels' source. Params: in0 (A), in1 (B), the epilogue's leaves, out0, scratch (the k
 * slices' partial products, else unused). */
export function emitGpuGemm(
  p: GpuGemmPlan,
  name: string,
  comment: string,
  params: readonly KernelParam[],
  epilogue?: Epilogue,
): string {
  const w = new CodeWriter();
  const signature = params.map((q) => `${q.cType} ${q.name}`).join(', ');
  if (p.wgmma) emitWgmmaGemm(w, p, name, comment, signature, epilogue);
  else if (p.tensorCores) emitMmaGemm(w, p, name, comment, signature, epilogue);
  else if (p.gemv) emitFmaGemv(w, p, name, comment, signature, epilogue);
  else if (p.kSlices) {
    const sliced = `${name}_slices`;
    emitFmaGemm(w, p, sliced, comment.replace(name, sliced), signature, epilogue);
    w.line('');
    emitSliceSum(w, p, name, signature, epilogue);
  } else emitFmaGemm(w, p, name, comment, signature, epilogue);
  return w.toString();
}

/** Tensor cores (f16 / bf16, f32 accumulation). Per block: A [bm][bk] and B [bk][bn] tiles in
 * dynamic shared memory, MMA_STAGES of them (the loads of the next k steps run while this one
 * multiplies), rows padded by 16 bytes so that ldmatrix's eight row reads hit distinct banks. Loads are cp.async 16-byte copies
 * (zero-filled past the edges) when A's rows run along k and B's along n with 16-byte aligned
 * rows; else one element per thread and step, any strides. Each warp reads its fragments with
 * ldmatrix (A: x4, B: x4.trans, two n8 blocks per read) and issues (bm / 32) x (bn / 16) mma.sync
 * m16n8k16 per 16 of k. */
const emitMmaGemm: GemmEmitter = (w, p, name, comment, signature, epilogue) => {
  const type = p.tensorCores!;
  const { bm, bn, bk, tm: warpRows } = p.tile;
  const threads = mmaThreads(p.tile);
  const warpsN = bn / p.tile.tn;
  const warpCols = p.tile.tn;
  const rowBlocks = warpRows / 16;
  const colBlocks = warpCols / 8;
  const vectorizable = copiesAlign(p);
  w.line(
    comment.replace(
      / \*\/$/,
      `; tiled GEMM on tensor cores (${type}, f32 accumulation): ${bm} x ${bn} outputs per block of ${threads / 32} warps, each ${warpRows} x ${warpCols} as ${rowBlocks} x ${colBlocks} mma.sync m16n8k16; k steps of ${bk} through ${MMA_STAGES} shared-memory stages${vectorizable ? ' (cp.async where the operands are 16-byte aligned)' : ''} */`,
    ),
  );
  w.block(`static __global__ void __launch_bounds__(${threads}) ${name}(${signature}) {`, () => {
    w.line('RL_DYNAMIC_SHARED(rl_shared);');
    // The stages of A, then those of B: rl_a_tile[stage][row][column], likewise rl_b_tile.
    const tiles = mmaStageTiles(p.tile);
    const stages = ([rows, cols]: readonly [number, number]): string => `uint16_t (*)[${rows}][${cols}]`;
    w.line(`auto rl_a_tile = reinterpret_cast<${stages(tiles.a)}>(rl_shared);`);
    w.line(`auto rl_b_tile = reinterpret_cast<${stages(tiles.b)}>(rl_shared + ${tiles.aBytes});`);
    w.line('(void)scratch;');
    w.line('const int rl_lane = threadIdx.x % 32, rl_warp = threadIdx.x / 32;');
    w.line(`const int rl_wm = rl_warp / ${warpsN} * ${warpRows}, rl_wn = rl_warp % ${warpsN} * ${warpCols};`);
    if (vectorizable) w.line(ALIGNED_OPERANDS);
    const tileAt = {
      a: (r: string, k: string): string => `rl_a_tile[s][${r}][${k}]`,
      b: (k: string, n: string): string => `rl_b_tile[s][${k}][${n}]`,
    };
    tileLoop(w, p, () => {
      // Every loop over fragments is unrolled (RL_UNROLL: nvcc's #pragma unroll): indexing the
      // accumulators with a loop variable would put them in local memory (a 256-byte stack frame).
      w.line(`float rl_acc[${rowBlocks}][${colBlocks}][4];`);
      w.line('RL_UNROLL');
      w.line(
        `for (int i = 0; i < ${rowBlocks}; ++i) for (int j = 0; j < ${colBlocks}; ++j) for (int e = 0; e < 4; ++e) rl_acc[i][j][e] = 0.0f;`,
      );
      if (vectorizable) emitChunkSources(w, p, threads);
      emitStageLoader(w, p, threads, {
        ...(vectorizable ? { copies: { a: (r, k) => `&${tileAt.a(r, k)}`, b: (k, n) => `&${tileAt.b(k, n)}` } } : {}),
        put: {
          a: (r, k, value) => `${tileAt.a(r, k)} = ${value};`,
          b: (k, n, value) => `${tileAt.b(k, n)} = ${value};`,
        },
      });
      const steps = Math.ceil(p.k / bk);
      const S = MMA_STAGES;
      emitFirstLoads(w, p, S - 1);
      w.block(`for (int64_t rl_t = 0; rl_t < ${steps}; ++rl_t) {`, () => {
        w.line(`rl_cp_async_wait<${S - 2}>(); /* this thread's copies of step rl_t have landed */`);
        w.line('__syncthreads(); /* and all threads have theirs, and are done with step rl_t - 1 */');
        w.line(`if (rl_t + ${S - 1} < ${steps}) rl_load((int)((rl_t + ${S - 1}) % ${S}), (rl_t + ${S - 1}) * ${bk});`);
        w.line('else rl_cp_async_commit();');
        w.line(`const int s = (int)(rl_t % ${S});`);
        w.line('RL_UNROLL');
        w.block(`for (int kk = 0; kk < ${bk}; kk += 16) {`, () => {
          w.line(`uint32_t a[${rowBlocks}][4], b[${colBlocks}][2], t[4];`);
          w.line('RL_UNROLL');
          w.line(
            `for (int i = 0; i < ${rowBlocks}; ++i) rl_ldmatrix_x4(a[i], &rl_a_tile[s][rl_wm + i * 16 + rl_lane % 16][kk + rl_lane / 16 * 8]);`,
          );
          w.line('RL_UNROLL');
          w.block(`for (int j = 0; j < ${colBlocks}; j += 2) {`, () => {
            w.line('rl_ldmatrix_x4_trans(t, &rl_b_tile[s][kk + rl_lane % 16][rl_wn + j * 8 + rl_lane / 16 * 8]);');
            w.line('b[j][0] = t[0], b[j][1] = t[1], b[j + 1][0] = t[2], b[j + 1][1] = t[3];');
          });
          w.line('RL_UNROLL');
          w.line(
            `for (int i = 0; i < ${rowBlocks}; ++i) for (int j = 0; j < ${colBlocks}; ++j) rl_mma_m16n8k16_${type}(rl_acc[i][j], a[i], b[j]);`,
          );
        });
      });
      w.line('__syncthreads(); /* before the next tile loads into the stages */');
      w.line('const int rl_g = rl_lane / 4, rl_q = rl_lane % 4;');
      w.line('RL_UNROLL');
      w.block(
        `for (int i = 0; i < ${rowBlocks}; ++i) for (int j = 0; j < ${colBlocks}; ++j) for (int e = 0; e < 4; ++e) {`,
        () =>
          storeAt(
            w,
            p,
            'rl_m0 + rl_wm + i * 16 + rl_g + (e >= 2 ? 8 : 0)',
            'rl_n0 + rl_wn + j * 8 + rl_q * 2 + e % 2',
            'rl_acc[i][j][e]',
            epilogue,
          ),
      );
    });
  });
};
