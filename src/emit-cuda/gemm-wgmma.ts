/**
 * @fileoverview The Hopper GEMM (sm_90a): f16 x f16 and bf16 x bf16 products on warpgroup MMA
 * (wgmma.mma_async, rl_cuda.h), for builds whose every --gpu-arch is sm_90a. Each block of
 * (bm / tm) x (bn / tn) warpgroups computes bm x bn outputs, each warpgroup tm x tn of them as
 * 64 x tn wgmma's (tm = 64) reading A and B straight from shared memory, where cp.async stages
 * k steps of 64 in the 128-byte swizzled layouts wgmma's descriptors name. The wgmma's run
 * asynchronously: a block keeps one k step's group in flight while it waits for the next step's
 * tiles and starts the loads of a later one.
 */
import {
  ALIGNED_OPERANDS,
  emitChunkSources,
  emitFirstLoads,
  emitStageLoader,
  storeAt,
  tileLoop,
  type GemmEmitter,
  type Tile,
} from './gemm-parts.js';

/** 128 x 256 outputs per block of two warpgroups, each 64 x 256 (128 f32 accumulators per
 * thread): a quarter fewer operand bytes per output than 128 x 128. tn may be 128 or 256 (the
 * wgmma's rl_cuda.h has). Measured on an H100 at 4096^3 f16 (docs/gpu-runs.md, run 10): 128 x 256
 * with 4 stages 0.309 ms, 3 stages 0.343; 128 x 128 with 4 or 5 stages 0.353-0.356, 3 stages 0.553. */
export const WGMMA_TILE: Tile = { bm: 128, bn: 256, bk: 64, tm: 64, tn: 256 };
/** Shared-memory stages (48 KB each at 128 x 256; five would not fit in 227 KB): loads run
 * WGMMA_STAGES - 2 k steps ahead, one stage is being multiplied and one may still be read by the
 * group left in flight. */
const WGMMA_STAGES = 4;
/** wgmma's 128-byte swizzle: rows of 64 16-bit elements, in groups of 8 rows (1024 bytes). */
const ROW_BYTES = 128;
const GROUP_BYTES = 8 * ROW_BYTES;

const warpgroups = (t: Tile): number => (t.bm / t.tm) * (t.bn / t.tn);
export const wgmmaThreads = (t: Tile): number => 128 * warpgroups(t);
const stageBytes = (t: Tile): { a: number; b: number } => ({ a: t.bm * t.bk * 2, b: t.bk * t.bn * 2 });
/** Dynamic shared memory: the stages, and 1024 bytes to align them (the swizzle is a function
 * of address bits 4 to 9). */
export const wgmmaSharedBytes = (t: Tile): number => {
  const s = stageBytes(t);
  return WGMMA_STAGES * (s.a + s.b) + GROUP_BYTES;
};

/** The kernel. Params as emitGpuGemm's. A's rows must run along k and B's along n with rows a
 * multiple of 8 elements (planGpuGemm checks): 16-byte copies, or one element per thread and
 * step where an operand's address is not 16-byte aligned. */
export const emitWgmmaGemm: GemmEmitter = (w, p, name, comment, signature, epilogue) => {
  const type = p.tensorCores!;
  const t = p.tile;
  const { bm, bn, bk, tm, tn } = t;
  const threads = wgmmaThreads(t);
  const S = WGMMA_STAGES;
  const bytes = stageBytes(t);
  // B's tile: 64-column blocks of bk rows each (LBO: the bytes between them).
  const bBlockBytes = bk * ROW_BYTES;
  w.line(
    comment.replace(
      / \*\/$/,
      `; tiled GEMM on Hopper tensor cores (${type}, f32 accumulation): ${bm} x ${bn} outputs per block of ${warpgroups(t)} warpgroups, each ${tm} x ${tn} as wgmma m64n${tn}k16 from shared memory; k steps of ${bk} through ${S} 128-byte-swizzled stages (cp.async), one wgmma group in flight */`,
    ),
  );
  w.block(`static __global__ void __launch_bounds__(${threads}, 1) ${name}(${signature}) {`, () => {
    w.line('RL_DYNAMIC_SHARED(rl_shared_raw);');
    w.line('/* The stages 1024-byte aligned (wgmma swizzles by shared address bits 4 to 9): A then B. */');
    w.line(
      `unsigned char* rl_shared = rl_shared_raw + (${GROUP_BYTES} - rl_shared_offset(rl_shared_raw) % ${GROUP_BYTES}) % ${GROUP_BYTES};`,
    );
    w.line('(void)scratch;');
    w.line(`const int rl_wg = threadIdx.x / 128, rl_warp = threadIdx.x % 128 / 32, rl_lane = threadIdx.x % 32;`);
    w.line(`const int rl_wm = rl_wg / ${bn / tn} * ${tm}, rl_wn = rl_wg % ${bn / tn} * ${tn};`);
    w.line(ALIGNED_OPERANDS);
    w.line('/* Byte offsets in a stage: A[r][k] (rows of 64 k), B[k][n] (64-column blocks of rows of 64 n). */');
    w.line(`auto rl_a_at = [](int r, int k) { return r * ${ROW_BYTES} + ((k / 8 ^ r % 8) << 4) + k % 8 * 2; };`);
    w.line(
      `auto rl_b_at = [](int k, int n) { return n / 64 * ${bBlockBytes} + k * ${ROW_BYTES} + ((n % 64 / 8 ^ k % 8) << 4) + n % 8 * 2; };`,
    );
    tileLoop(w, p, () => {
      w.line(`float rl_acc[${tn / 2}];`);
      w.line('RL_UNROLL');
      w.line(`for (int v = 0; v < ${tn / 2}; ++v) rl_acc[v] = 0.0f;`);
      emitChunkSources(w, p, threads);
      const at = {
        a: (r: string, k: string) => `a_tile + rl_a_at(${r}, ${k})`,
        b: (k: string, n: string) => `b_tile + rl_b_at(${k}, ${n})`,
      };
      emitStageLoader(w, p, threads, {
        prelude: () => {
          w.line(`unsigned char* a_tile = rl_shared + s * ${bytes.a};`);
          w.line(`unsigned char* b_tile = rl_shared + ${S * bytes.a} + s * ${bytes.b};`);
        },
        copies: at,
        put: {
          a: (r, k, value) => `{ const uint16_t x = ${value}; memcpy(${at.a(r, k)}, &x, 2); }`,
          b: (k, n, value) => `{ const uint16_t x = ${value}; memcpy(${at.b(k, n)}, &x, 2); }`,
        },
      });
      const steps = Math.ceil(p.k / bk);
      emitFirstLoads(w, p, S - 2);
      w.line('RL_UNROLL');
      w.line(`for (int v = 0; v < ${tn / 2}; ++v) rl_wgmma_fence_operand(rl_acc[v]);`);
      w.block(`for (int64_t rl_t = 0; rl_t < ${steps}; ++rl_t) {`, () => {
        w.line(`rl_cp_async_wait<${S - 3}>(); /* this thread's copies of step rl_t have landed */`);
        w.line('rl_fence_proxy_async(); /* and are visible to wgmma */');
        w.line(
          "__syncthreads(); /* all threads' copies have; every warpgroup is done with step rl_t - 2 (its wait<1> below) */",
        );
        w.line(`if (rl_t + ${S - 2} < ${steps}) rl_load((int)((rl_t + ${S - 2}) % ${S}), (rl_t + ${S - 2}) * ${bk});`);
        w.line('else rl_cp_async_commit();');
        w.line(`const int s = (int)(rl_t % ${S});`);
        w.line(`const unsigned char* a_tile = rl_shared + s * ${bytes.a} + rl_wm * ${ROW_BYTES};`);
        w.line(
          `const unsigned char* b_tile = rl_shared + ${S * bytes.a} + s * ${bytes.b} + rl_wn / 64 * ${bBlockBytes};`,
        );
        w.line('rl_wgmma_fence();');
        w.line('RL_UNROLL');
        w.block(`for (int kk = 0; kk < ${bk / 16}; ++kk) {`, () => {
          // A: 16 k are 32 bytes along its rows; B: 16 k are two 8-row groups.
          w.line(
            `rl_wgmma_m64n${tn}k16_${type}(rl_acc, rl_wgmma_desc(a_tile + kk * 32, 16, ${GROUP_BYTES}), rl_wgmma_desc(b_tile + kk * ${2 * GROUP_BYTES}, ${bBlockBytes}, ${GROUP_BYTES}));`,
          );
        });
        w.line('rl_wgmma_commit();');
        w.line('rl_wgmma_wait<1>(); /* step rl_t - 1 is done: its stage may be reloaded after the next barrier */');
      });
      w.line('rl_wgmma_wait<0>();');
      w.line('RL_UNROLL');
      w.line(`for (int v = 0; v < ${tn / 2}; ++v) rl_wgmma_fence_operand(rl_acc[v]);`);
      w.line('__syncthreads(); /* before the next tile loads into the stages */');
      w.line('RL_UNROLL');
      w.block(`for (int v = 0; v < ${tn / 2}; ++v) {`, () =>
        storeAt(
          w,
          p,
          'rl_m0 + rl_wm + rl_warp * 16 + rl_lane / 4 + (v & 2 ? 8 : 0)',
          'rl_n0 + rl_wn + v / 4 * 8 + rl_lane % 4 * 2 + v % 2',
          'rl_acc[v]',
          epilogue,
        ),
      );
    });
  });
};
