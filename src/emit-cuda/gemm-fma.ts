/**
 * @fileoverview The CUDA GEMM kernels on f32 FMAs (gemm.ts chooses them for f32 and mixed
 * products, and for f16 / bf16 ones where an arch lacks tensor cores; no TF32: f32 stays f32):
 * the tiled kernel (emitFmaGemm), which also runs convolutions as implicit GEMMs, and the GEMV
 * (emitFmaGemv) for products of few rows.
 */
import type { GpuGemmPlan } from '../kernel/ukernel.js';
import {
  elemC,
  linearOffset,
  operandOffsets,
  storeAt,
  tapOffsets,
  tileLoop,
  type GemmEmitter,
  type Tile,
} from './gemm-parts.js';

/** Block tiles of the tiled kernel, the largest first: a block of 256 threads computes bm x bn
 * outputs, each thread tm x tn of them in registers as (tm / 4) x (tn / 4) quads of 4 x 4 a
 * half (or whole) tile apart (float4 reads of shared memory that hit distinct banks), k in steps
 * of 8 through two shared-memory stages (the next step's loads in registers while this one
 * multiplies). The first tile that still makes FMA_MIN_TILES blocks is taken: 128 x 128 gives 64
 * FMAs per 4 shared-memory reads, 64 x 64 a block per 4096 outputs for the products (BERT's 128
 * rows, MobileNet's late layers) that 128 x 128 tiles leave most of a GPU idle on. */
const FMA_TILES: readonly Tile[] = [
  { bm: 128, bn: 128, bk: 8, tm: 8, tn: 8 },
  { bm: 64, bn: 64, bk: 8, tm: 4, tn: 4 },
];
const FMA_MIN_TILES = 128;
export const FMA_THREADS = 256;

/** The tiled kernel's block tile for a product of `batch` x `m` x `n`. */
export function fmaTile(batch: number, m: number, n: number): Tile {
  const tiles = (t: Tile): number => batch * Math.ceil(m / t.bm) * Math.ceil(n / t.bn);
  return FMA_TILES.find((t) => tiles(t) >= FMA_MIN_TILES) ?? FMA_TILES[FMA_TILES.length - 1]!;
}

/** GEMVs (f32 FMAs, fewer than 32 rows): a block per 32 columns, its warps splitting k (warp w
 * takes k = w, w + warps, ...: each reads whole 128-byte rows of B), every row's sum in registers
 * (bm = tm = M), the warps' partial sums added through shared memory. The thread per output of
 * the loop nest gave an H100 only M x N threads: 0.318 ms for f32 1 x 4096 x 4096, 10.8% of
 * cuBLAS (docs/gpu-runs.md, runs 11-13). Measured there with 8 / 16 / 32 warps: 0.117 / 0.059 /
 * 0.039 ms at K = 4096, while at K = 512 (the LSTM's) 32 warps were slower than 16: so as many
 * warps as give each 32 or more k, from 8 to 32, as far as 48 KB of partial sums allow. */
export function gemvWarps(m: number, k: number): number {
  let warps = 32;
  while (warps > 8 && (warps * 32 > k || warps * m * 32 * 4 > 48 * 1024)) warps /= 2;
  return warps;
}

/** How the block's threads share a k step's loads of one operand: `count` elements each, element
 * j of thread t at (row, k) = rowOf / kOf (C expressions of threadIdx.x and j). Lanes run along
 * the operand's contiguous dimension: along k when `alongK` (a warp reads runs of bk
 * consecutive elements), else along the rows (128-byte runs). */
function loadMap(rows: number, bk: number, alongK: boolean): { count: number; rowOf: string; kOf: string } {
  const count = (rows * bk) / FMA_THREADS;
  return alongK
    ? { count, rowOf: `threadIdx.x / ${bk} + j * ${FMA_THREADS / bk}`, kOf: `threadIdx.x % ${bk}` }
    : { count, rowOf: `threadIdx.x % ${rows}`, kOf: `threadIdx.x / ${rows} + j * ${FMA_THREADS / rows}` };
}

/** A's per-tile setup (for each of this thread's rows: where it starts, whether it is inside)
 * and its per-step element: `value(j, k)` the element of row j at k as float (0 outside the
 * product, or in a convolution's padding). A convolution's rows are output pixels: each row's
 * image and top-left input position are found once per tile, each k's tap and channel per step. */
function aLoads(
  p: GpuGemmPlan,
  count: number,
  rowOf: string,
): { setup: string[]; value: (j: string, k: string) => string } {
  const ac = elemC(p.elems.a);
  const m = `rl_m0 + ${rowOf}`;
  if (p.a.kind === 'matrix') {
    const kStride = p.a.kStride;
    const rowAt = linearOffset([
      ['rl_batch', p.a.batchStride],
      ['m', p.a.mStride],
    ]);
    return {
      setup: [
        `int64_t rl_a_at[${count}]; bool rl_a_in[${count}];`,
        `RL_UNROLL for (int j = 0; j < ${count}; ++j) { const int64_t m = ${m}; rl_a_in[j] = m < ${p.m}; rl_a_at[j] = ${rowAt}; }`,
      ],
      value: (j, k) =>
        `rl_a_in[${j}] && ${k} < ${p.k} ? (float)${ac.load(`in0[rl_a_at[${j}] + ${linearOffset([[k, kStride]])}]`)} : 0.0f`,
    };
  }
  const g = p.a;
  const pixels = g.outHeight * g.outWidth;
  return {
    setup: [
      `int64_t rl_a_img[${count}]; int rl_a_ih[${count}], rl_a_iw[${count}]; bool rl_a_in[${count}];`,
      `RL_UNROLL for (int j = 0; j < ${count}; ++j) {`,
      `  const int64_t m = ${m};`,
      `  const int oh = (int)(m / ${g.outWidth} % ${g.outHeight}), ow = (int)(m % ${g.outWidth});`,
      `  rl_a_in[j] = m < ${p.m};`,
      `  rl_a_img[j] = m / ${pixels} * ${g.height * g.width * g.channels};`,
      `  rl_a_ih[j] = oh * ${g.stride[0]} - ${g.padBefore[0]}, rl_a_iw[j] = ow * ${g.stride[1]} - ${g.padBefore[1]};`,
      '}',
    ],
    value: (j, k) => {
      const under = tapOffsets(g, `(int)(${k} / ${g.channels})`);
      return `[&] { const int ih = rl_a_ih[${j}] + ${under.rows}, iw = rl_a_iw[${j}] + ${under.cols}; return rl_a_in[${j}] && ${k} < ${p.k} && (unsigned)ih < ${g.height}u && (unsigned)iw < ${g.width}u ? (float)${ac.load(`in0[rl_a_img[${j}] + ((int64_t)ih * ${g.width} + iw) * ${g.channels} + ${k} % ${g.channels}]`)} : 0.0f; }()`;
    },
  };
}

/** f32 FMAs: the block tile of fmaTile, A and B widened to f32 in shared memory as [k][m] and
 * [k][n] (rows padded by 4 floats: a warp's stores along k hit distinct banks). */
export const emitFmaGemm: GemmEmitter = (w, p, name, comment, signature, epilogue) => {
  const { bm, bn, bk, tm, tn } = p.tile;
  const bc = elemC(p.elems.b);
  const a = loadMap(bm, bk, p.a.kind === 'conv' || p.a.kStride === 1);
  const b = loadMap(bn, bk, p.b.kStride === 1 && p.b.nStride !== 1);
  const aRead = aLoads(p, a.count, a.rowOf);
  const [rowQuads, colQuads] = [tm / 4, tn / 4];
  w.line(
    comment.replace(
      / \*\/$/,
      `; tiled GEMM: ${bm} x ${bn} outputs per block, k steps of ${bk} through two shared-memory stages, ${tm} x ${tn} per thread, f32 FMA${p.a.kind === 'conv' ? '; the image read as an implicit GEMM (rows: output pixels, k: taps x channels)' : ''}${p.kSlices ? `; k in ${p.kSlices} slices, a block per tile and slice, partial products to the scratch` : ''} */`,
    ),
  );
  w.block(`static __global__ void __launch_bounds__(${FMA_THREADS}) ${name}(${signature}) {`, () => {
    w.line(`__shared__ __align__(16) float rl_a_tile[2][${bk}][${bm + 4}];`);
    w.line(`__shared__ __align__(16) float rl_b_tile[2][${bk}][${bn + 4}];`);
    // A k-sliced kernel stores its partial products to the scratch; the sum applies the epilogue.
    const leaves = epilogue ? epilogue.fop.ins.length - 2 : 0;
    w.line(
      p.kSlices ? `(void)out0;${Array.from({ length: leaves }, (_, i) => ` (void)e${i};`).join('')}` : '(void)scratch;',
    );
    w.line(`const int rl_tx = threadIdx.x % ${bn / tn}, rl_ty = threadIdx.x / ${bn / tn};`);
    tileLoop(w, p, () => {
      w.line("/* This thread's share of each k step's loads: rows of A, columns of B. */");
      aRead.setup.forEach((l) => w.line(l));
      w.line(`int64_t rl_b_at[${b.count}]; bool rl_b_in[${b.count}];`);
      w.line(
        `RL_UNROLL for (int j = 0; j < ${b.count}; ++j) { const int64_t n = rl_n0 + ${b.rowOf}; rl_b_in[j] = n < ${p.n}; rl_b_at[j] = ${linearOffset(
          [
            ['rl_batch', p.b.batchStride],
            ['n', p.b.nStride],
          ],
        )}; }`,
      );
      w.line(`float rl_a_next[${a.count}], rl_b_next[${b.count}];`);
      w.block(
        'auto rl_fetch = [&](int64_t k0) {',
        () => {
          w.line(
            `RL_UNROLL for (int j = 0; j < ${a.count}; ++j) { const int64_t k = k0 + ${a.kOf}; rl_a_next[j] = ${aRead.value('j', 'k')}; }`,
          );
          w.line(
            `RL_UNROLL for (int j = 0; j < ${b.count}; ++j) { const int64_t k = k0 + ${b.kOf}; rl_b_next[j] = rl_b_in[j] && k < ${p.k} ? (float)${bc.load(`in1[rl_b_at[j] + ${linearOffset([['k', p.b.kStride]])}]`)} : 0.0f; }`,
          );
        },
        '};',
      );
      w.block(
        'auto rl_put = [&](int s) {',
        () => {
          w.line(`RL_UNROLL for (int j = 0; j < ${a.count}; ++j) rl_a_tile[s][${a.kOf}][${a.rowOf}] = rl_a_next[j];`);
          w.line(`RL_UNROLL for (int j = 0; j < ${b.count}; ++j) rl_b_tile[s][${b.kOf}][${b.rowOf}] = rl_b_next[j];`);
        },
        '};',
      );
      w.line(`float rl_acc[${tm}][${tn}];`);
      w.line(
        `RL_UNROLL for (int i = 0; i < ${tm}; ++i) RL_UNROLL for (int j = 0; j < ${tn}; ++j) rl_acc[i][j] = 0.0f;`,
      );
      // The k steps this block takes: all, or its slice's.
      const steps = Math.ceil(p.k / bk);
      const [k0, count] = p.kSlices ? ['rl_k0', 'rl_steps'] : ['0', String(steps)];
      if (p.kSlices) {
        const per = Math.ceil(steps / p.kSlices);
        w.line(
          `const int64_t rl_k0 = rl_slice * ${per * bk}, rl_steps = rl_slice < ${p.kSlices - 1} ? ${per} : ${steps - per * (p.kSlices - 1)};`,
        );
      }
      w.line(`rl_fetch(${k0});`);
      w.line('rl_put(0);');
      w.line('__syncthreads();');
      w.block(`for (int64_t rl_t = 0; rl_t < ${count}; ++rl_t) {`, () => {
        w.line('const int s = (int)(rl_t % 2);');
        w.line(
          `if (rl_t + 1 < ${count}) rl_fetch(${k0 === '0' ? '' : `${k0} + `}(rl_t + 1) * ${bk}); /* in flight while this step multiplies */`,
        );
        w.line('RL_UNROLL');
        w.block(`for (int kk = 0; kk < ${bk}; ++kk) {`, () => {
          w.line(`float a[${tm}], b[${tn}];`);
          const quads = (v: string, tile: string, count: number, size: number, self: string): void =>
            w.line(
              `RL_UNROLL for (int q = 0; q < ${count}; ++q) { const float4 x = *reinterpret_cast<const float4*>(&${tile}[s][kk][${self} * 4 + q * ${size / count}]); ${v}[q * 4] = x.x, ${v}[q * 4 + 1] = x.y, ${v}[q * 4 + 2] = x.z, ${v}[q * 4 + 3] = x.w; }`,
            );
          quads('a', 'rl_a_tile', rowQuads, bm, 'rl_ty');
          quads('b', 'rl_b_tile', colQuads, bn, 'rl_tx');
          w.line(
            `RL_UNROLL for (int i = 0; i < ${tm}; ++i) RL_UNROLL for (int j = 0; j < ${tn}; ++j) rl_acc[i][j] = fmaf(a[i], b[j], rl_acc[i][j]);`,
          );
        });
        w.line(
          `if (rl_t + 1 < ${count}) rl_put(1 - s); /* the other stage: every thread finished reading it before the last barrier */`,
        );
        w.line('__syncthreads();');
      });
      w.line('RL_UNROLL');
      w.block(`for (int i = 0; i < ${tm}; ++i) RL_UNROLL for (int j = 0; j < ${tn}; ++j) {`, () =>
        storeAt(
          w,
          p,
          `rl_m0 + rl_ty * 4 + i / 4 * ${bm / rowQuads} + i % 4`,
          `rl_n0 + rl_tx * 4 + j / 4 * ${bn / colQuads} + j % 4`,
          'rl_acc[i][j]',
          epilogue,
        ),
      );
    });
  });
};

/** f32 FMAs for few rows: each thread one column and every row, its warp's share of k; the
 * warps' partial sums added in warp order through shared memory. */
export const emitFmaGemv: GemmEmitter = (w, p, name, comment, signature, epilogue) => {
  const { bm: rows, bn, bk: warps } = p.tile;
  const at = operandOffsets(p);
  const [ac, bc] = [elemC(p.elems.a), elemC(p.elems.b)];
  w.line(
    comment.replace(
      / \*\/$/,
      `; GEMV: ${bn} columns per block of ${warps} warps splitting k, ${rows} row${rows > 1 ? 's' : ''} per thread, f32 FMA */`,
    ),
  );
  w.block(`static __global__ void __launch_bounds__(${32 * warps}) ${name}(${signature}) {`, () => {
    w.line(`__shared__ float rl_part[${warps}][${rows}][${bn}];`);
    w.line('(void)scratch;');
    w.line('const int rl_lane = threadIdx.x % 32, rl_warp = threadIdx.x / 32;');
    tileLoop(w, p, () => {
      w.line(`float rl_acc[${rows}];`);
      w.line('RL_UNROLL');
      w.line(`for (int i = 0; i < ${rows}; ++i) rl_acc[i] = 0.0f;`);
      w.line('const int64_t n = rl_n0 + rl_lane;');
      w.block(`if (n < ${p.n}) {`, () => {
        w.line('RL_UNROLL_BY(4)');
        w.block(`for (int64_t k = rl_warp; k < ${p.k}; k += ${warps}) {`, () => {
          w.line(`const float b = (float)${bc.load(`in1[${at.b('k', 'n')}]`)};`);
          w.line('RL_UNROLL');
          w.line(
            `for (int i = 0; i < ${rows}; ++i) rl_acc[i] = fmaf((float)${ac.load(`in0[${at.a('rl_m0 + i', 'k')}]`)}, b, rl_acc[i]);`,
          );
        });
      });
      w.line('RL_UNROLL');
      w.line(`for (int i = 0; i < ${rows}; ++i) rl_part[rl_warp][i][rl_lane] = rl_acc[i];`);
      w.line('__syncthreads();');
      w.block(`for (int rl_i = threadIdx.x; rl_i < ${rows * bn}; rl_i += ${32 * warps}) {`, () => {
        w.line(`float rl_sum = rl_part[0][rl_i / ${bn}][rl_i % ${bn}];`);
        w.line(`for (int j = 1; j < ${warps}; ++j) rl_sum += rl_part[j][rl_i / ${bn}][rl_i % ${bn}];`);
        storeAt(w, p, `rl_m0 + rl_i / ${bn}`, `rl_n0 + rl_i % ${bn}`, 'rl_sum', epilogue);
      });
      w.line('__syncthreads(); /* before the next tile overwrites the partial sums */');
    });
  });
};

/** The thread count of an FMA kernel's blocks. */
export const fmaThreads = (p: GpuGemmPlan): number => (p.gemv ? 32 * p.tile.bk : FMA_THREADS);
