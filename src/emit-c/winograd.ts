/**
 * @fileoverview Winograd convolution F(m x m, 3x3) on the C backend (Lavin and Gray's minimal
 * filtering): a 3x3 stride-1 convolution computes each m x m block of output pixels (a tile) from
 * its (m + 2)^2 input window as A^T [(G g G^T) . (B^T d B)] A: per input and output channel pair,
 * 16 multiplications for 4 pixels (m = 2) or 36 for 16 (m = 4) where the direct sums take 36 or
 * 144. Over channels the (m + 2)^2 element products are as many GEMMs of [tiles x channels] *
 * [channels x out channels], run by the packed GEMM of gemm.ts (one batched call); the weights'
 * transform G g G^T is done here at compile time and packed for it. m = 4 where 4 x 4 tiles cover
 * the output exactly, else 2.
 *
 * The kernel works on blocks of whole tile rows (each block's transformed input and products stay
 * within WINOGRAD_BLOCK_BYTES): transform the block's input windows (B^T d B: adds, and for m = 4
 * multiply-adds by small integers; a window reaching past the image reads a zero row), one batched
 * GEMM, transform the products back (A^T m A likewise; a pixel past the output is written to a
 * sink row), then the fused epilogue on the block's finished output rows. Rounding: m = 2's
 * transforms are adds of a few terms and halvings of the weights, its error measured at half the
 * direct sums'; m = 4's constants (up to 8, weights by sixths) make it about three times the
 * direct sums', still well inside the f32 tolerance of src/ir/compare.ts (tests check both
 * against the interpreter).
 */
import { tensorType, floatElem } from '../ir/types.js';
import type { Tensor } from '../ir/tensor.js';
import type { Target } from '../target/targets.js';
import { CodeWriter } from '../emit-common/code-writer.js';
import { kernelOpening, type KernelParam } from '../emit-common/kernel.js';
import { isF32 } from '../emit-common/ctypes.js';
import { convGeometry, type GemmTuning, type WinogradPlan } from '../kernel/ukernel.js';
import type { FlatOp, Sym } from '../flat/program.js';
import { emitGemmKernel, gemmKey, gemmScratchBytes, packB, simdMacro } from './gemm.js';
import { tiledPlan } from './gemm-tiling.js';
import { emitEpilogue, type Epilogue } from './fused.js';

const F32 = floatElem('f32')!;

/** The transforms of F(m x m, 3x3) (Lavin and Gray's; points 0, +-1 and, for m = 4, +-2):
 * B^T for the (m + 2) x (m + 2) input window (rows of d, then columns), G for the 3x3 weights,
 * A^T for the products back to an m x m tile. Every row of B^T and A^T has a coefficient 1. */
interface Transforms {
  readonly BT: readonly (readonly number[])[];
  readonly G: readonly (readonly number[])[];
  readonly AT: readonly (readonly number[])[];
}
const TRANSFORMS: Readonly<Record<2 | 4, Transforms>> = {
  2: {
    BT: [
      [1, 0, -1, 0],
      [0, 1, 1, 0],
      [0, -1, 1, 0],
      [0, 1, 0, -1],
    ],
    G: [
      [1, 0, 0],
      [0.5, 0.5, 0.5],
      [0.5, -0.5, 0.5],
      [0, 0, 1],
    ],
    AT: [
      [1, 1, 1, 0],
      [0, 1, -1, -1],
    ],
  },
  4: {
    BT: [
      [4, 0, -5, 0, 1, 0],
      [0, -4, -4, 1, 1, 0],
      [0, 4, -4, -1, 1, 0],
      [0, -2, -1, 2, 1, 0],
      [0, 2, -1, -2, 1, 0],
      [0, 4, 0, -5, 0, 1],
    ],
    G: [
      [1 / 4, 0, 0],
      [-1 / 6, -1 / 6, -1 / 6],
      [-1 / 6, 1 / 6, -1 / 6],
      [1 / 24, 1 / 12, 1 / 6],
      [1 / 24, -1 / 12, 1 / 6],
      [0, 0, 1],
    ],
    AT: [
      [1, 1, 1, 1, 1, 0],
      [0, 1, -1, 2, -2, 0],
      [0, 1, 1, 4, 4, 0],
      [0, 1, -1, 8, -8, 1],
    ],
  },
};

/** Transformed inputs and products of one block of tiles stay within this (in L2 / L3). */
const WINOGRAD_BLOCK_BYTES = 2 * 1024 * 1024;
/** Fewer output pixels than this (all images) leave the GEMMs too few rows to beat the direct one
 * (ResNet-50's 7x7 stage: 49 pixels; 16 tiles of 2 x 2 there measured no gain). */
const MIN_PIXELS = 128;
/** Channels (in and out) below this spend more on the transforms than the GEMMs save. */
const MIN_CHANNELS = 16;

/** The Winograd plan for a 3x3 stride-1 f32 convolution with constant weights on a hosted SIMD
 * target, where it pays; undefined otherwise. */
export function planWinograd(
  f: FlatOp,
  target: Target,
  isConstant: (operand: number) => boolean,
  out?: Sym,
  tuning?: GemmTuning,
): WinogradPlan | undefined {
  if (!simdMacro(target) || target.os === 'bare-metal' || f.op.name !== 'stablehlo.convolution') return undefined;
  if (f.ins.length !== 2 || f.outs.length !== 1 || !isConstant(1)) return undefined;
  if (![...f.ins, ...f.outs, ...(out ? [out] : [])].every((s) => isF32(s.type))) return undefined;
  const g = convGeometry(f);
  if (!g || g.featureGroups !== 1 || g.kernelHeight !== 3 || g.kernelWidth !== 3) return undefined;
  if (![...g.stride, ...g.dilation].every((x) => x === 1)) return undefined;
  if (g.channels < MIN_CHANNELS || g.outChannels < MIN_CHANNELS) return undefined;
  if (g.batch * g.outHeight * g.outWidth < MIN_PIXELS) return undefined;
  // 4 x 4 tiles (36 products per 16 pixels instead of 16 per 4) where they cover the output
  // exactly; else 2 x 2 (4 x 4 tiles over ResNet-50's 14 x 14 would compute 16 x 16).
  const tile = g.outHeight % 4 === 0 && g.outWidth % 4 === 0 ? 4 : 2;
  const points = (tile + 2) ** 2;
  const tilesHigh = Math.ceil(g.outHeight / tile);
  const tilesWide = Math.ceil(g.outWidth / tile);
  const tileRows = g.batch * tilesHigh;
  // Whole tile rows per block, as many as the budget holds (at least one), evened out.
  const rowBytes = points * tilesWide * (g.channels + g.outChannels) * 4;
  const blocks = Math.ceil(tileRows / Math.max(1, Math.floor(WINOGRAD_BLOCK_BYTES / rowBytes)));
  const blockRows = Math.ceil(tileRows / blocks);
  const m = blockRows * tilesWide;
  const shape = {
    batch: points,
    m,
    n: g.outChannels,
    k: g.channels,
    a: { kind: 'matrix', batchStride: m * g.channels, mStride: g.channels, kStride: 1 } as const,
    b: { batchStride: g.channels * g.outChannels, kStride: g.outChannels, nStride: 1 },
  };
  const tuned = tuning?.get(gemmKey(shape, target, true));
  const gemm = tiledPlan(
    { kind: 'gemm', op: f.op, ...shape, bPrepacked: true, elems: { a: F32, b: F32, c: F32, out: F32 } },
    target,
    tuned,
  );
  return { kind: 'winograd', op: f.op, conv: g, tile, tilesHigh, tilesWide, blockRows, gemm };
}

/** Floats of scratch: the block's transformed inputs, its products, a zero row, a sink row per
 * tile of the block (tiles may be transformed on different threads: no shared sink). */
const scratchLayout = (p: WinogradPlan): { u: number; m: number; zeros: number; sink: number; floats: number } => {
  const u = 0;
  const m = u + p.gemm.batch * p.gemm.m * p.conv.channels;
  const zeros = m + p.gemm.batch * p.gemm.m * p.conv.outChannels;
  const sink = zeros + p.conv.channels;
  return { u, m, zeros, sink, floats: sink + p.gemm.m * p.conv.outChannels };
};

/** Bytes of arena scratch: the block's buffers, then the GEMM's own. */
export const winogradScratchBytes = (p: WinogradPlan): number => 4 * scratchLayout(p).floats + gemmScratchBytes(p.gemm);

/** The weights (HWIO, 3 x 3 x C x K) transformed (G g G^T: [(m + 2)^2][C][K]) and packed for the GEMM. */
export function packWinogradWeights(p: WinogradPlan, weights: Tensor): Uint8Array {
  const [c, k, n] = [p.conv.channels, p.conv.outChannels, p.tile + 2];
  const { G } = TRANSFORMS[p.tile];
  const data = weights.data as Float64Array;
  const out = new Float64Array(n * n * c * k);
  // Per input channel, the nine taps' rows of k weights (contiguous in HWIO): G g along the rows
  // (n x 3 rows), then (G g) G^T (n x n rows), each row written where the GEMM's B reads it.
  const tap = (t: number, ci: number): Float64Array => data.subarray((t * c + ci) * k, (t * c + ci + 1) * k);
  const gg = Array.from({ length: n * 3 }, () => new Float64Array(k));
  for (let ci = 0; ci < c; ci++) {
    for (let a = 0; a < n; a++)
      for (let j = 0; j < 3; j++) {
        const [r0, r1, r2, row] = [tap(j, ci), tap(3 + j, ci), tap(6 + j, ci), gg[a * 3 + j]!];
        const [g0, g1, g2] = G[a]! as [number, number, number];
        for (let ki = 0; ki < k; ki++) row[ki] = g0 * r0[ki]! + g1 * r1[ki]! + g2 * r2[ki]!;
      }
    for (let a = 0; a < n; a++)
      for (let b = 0; b < n; b++) {
        const [r0, r1, r2] = [gg[a * 3]!, gg[a * 3 + 1]!, gg[a * 3 + 2]!];
        const [g0, g1, g2] = G[b]! as [number, number, number];
        const o = ((a * n + b) * c + ci) * k;
        for (let ki = 0; ki < k; ki++) out[o + ki] = r0[ki]! * g0 + r1[ki]! * g1 + r2[ki]! * g2;
      }
  }
  const transformed: Tensor = { kind: 'tensor', type: tensorType([n * n, c, k], F32), data: out };
  return packB(p.gemm, transformed);
}

/** C arithmetic on a vector or a scalar of channels. */
interface Arith {
  readonly type: string;
  readonly load: (at: string) => string;
  readonly store: (at: string, value: string) => string;
  readonly add: (a: string, b: string) => string;
  readonly sub: (a: string, b: string) => string;
  /** acc + a * c for a constant c. */
  readonly fma: (a: string, c: number, acc: string) => string;
}
const VECTOR: Arith = {
  type: 'rl_vf',
  load: (at) => `rl_vf_load(${at})`,
  store: (at, x) => `rl_vf_store(${at}, ${x});`,
  add: (a, b) => `rl_vf_add(${a}, ${b})`,
  sub: (a, b) => `rl_vf_sub(${a}, ${b})`,
  fma: (a, c, acc) => `rl_vf_fma_scalar(${a}, ${c.toFixed(1)}f, ${acc})`,
};
const SCALAR: Arith = {
  type: 'float',
  load: (at) => `*(${at})`,
  store: (at, x) => `*(${at}) = ${x};`,
  add: (a, b) => `(${a} + ${b})`,
  sub: (a, b) => `(${a} - ${b})`,
  fma: (a, c, acc) => `(${acc} + ${a} * ${c.toFixed(1)}f)`,
};

/** sum_j coeffs[j] * terms[j] for integer coefficients (one of them 1): that term, then the
 * others added, subtracted or multiplied and added in order. */
function combination(x: Arith, coeffs: readonly number[], terms: readonly string[]): string {
  const first = coeffs.indexOf(1);
  let e = terms[first]!;
  coeffs.forEach((c, j) => {
    if (j === first || c === 0) return;
    e = c === 1 ? x.add(e, terms[j]!) : c === -1 ? x.sub(e, terms[j]!) : x.fma(terms[j]!, c, e);
  });
  return e;
}

/** T X T^T on the square of values named `${from}${i}${j}`, in two passes (rows, then columns) as
 * constants `${to}${a}${b}`. */
function sandwich(w: CodeWriter, x: Arith, t: readonly (readonly number[])[], from: string, to: string): void {
  const [rows, size] = [t.length, t[0]!.length];
  const line: string[] = [];
  for (let i = 0; i < size; i++)
    for (let b = 0; b < rows; b++)
      line.push(
        `${to}r${i}${b} = ${combination(
          x,
          t[b]!,
          Array.from({ length: size }, (_, j) => `${from}${i}${j}`),
        )}`,
      );
  w.line(`const ${x.type} ${line.join(', ')};`);
  const cols: string[] = [];
  for (let a = 0; a < rows; a++)
    for (let b = 0; b < rows; b++)
      cols.push(
        `${to}${a}${b} = ${combination(
          x,
          t[a]!,
          Array.from({ length: size }, (_, i) => `${to}r${i}${b}`),
        )}`,
      );
  w.line(`const ${x.type} ${cols.join(', ')};`);
}

/** A loop over `count` channels (c): vectors of `lanes`, then the rest one by one. */
function channelLoop(w: CodeWriter, count: number, lanes: number, body: (x: Arith) => void): void {
  w.line('rl_index_t c = 0;');
  if (count >= lanes) w.block(`for (; c + ${lanes} <= ${count}; c += ${lanes}) {`, () => body(VECTOR));
  if (count % lanes) w.block(`for (; c < ${count}; ++c) {`, () => body(SCALAR));
}

/** The C of a Winograd convolution kernel. Params: in0 (image), in1 (packed transformed weights),
 * the epilogue's leaves, out0, scratch (and the pool with threads). */
export function emitWinogradKernel(
  p: WinogradPlan,
  name: string,
  comment: string,
  params: readonly KernelParam[],
  epilogue: Epilogue | undefined,
  parallel: boolean,
): string {
  const g = p.conv;
  const [C, K] = [g.channels, g.outChannels];
  const { tile: T, tilesHigh: TH, tilesWide: TW, blockRows } = p;
  const { BT, AT } = TRANSFORMS[T];
  const [n, points] = [T + 2, (T + 2) ** 2];
  const m = p.gemm.m;
  const lanes = p.gemm.tiling.lanes;
  const layout = scratchLayout(p);
  const tileRows = g.batch * TH;
  const w = new CodeWriter();
  w.line(comment);
  w.line(
    `/* Winograd F(${T}x${T}, 3x3): ${g.batch} x ${TH} x ${TW} tiles of ${T} x ${T} output pixels, in blocks of ${blockRows} tile rows (${m} tiles); per block: input windows transformed (B^T d B), one GEMM of ${points} x [${m} x ${C}] * [${C} x ${K}] (weights G g G^T packed at compile time), products transformed back (A^T m A)${epilogue ? ', then the fused epilogue on the finished rows' : ''}. */`,
  );
  const gemmName = `${name}_gemm`;
  const gemmParams: KernelParam[] = [
    { name: 'in0', cType: 'const float* restrict', output: false },
    { name: 'in1', cType: 'const float* restrict', output: false },
    { name: 'out0', cType: 'float* restrict', output: true },
    { name: 'scratch', cType: 'uint8_t* restrict', output: true },
    ...params.filter((x) => x.name === 'pool'),
  ];
  w.line(
    emitGemmKernel(
      p.gemm,
      gemmName,
      `/* ${name}'s ${points} products of transformed inputs and weights */`,
      gemmParams,
      undefined,
      parallel,
    ),
  );
  // The transforms of a range of the block's tiles, run on the pool with threads.
  w.line(
    `typedef struct { const float* in0; float* out0; float* U; const float* M; const float* zeros; float* sink; rl_index_t row0; } ${name}_job_t;`,
  );
  const transform = (what: string, suffix: string, body: () => void): void => {
    w.line(`/* ${what} */`);
    w.block(`static void ${name}_${suffix}(void* job_, rl_index_t t_begin, rl_index_t t_end) {`, () => {
      w.line(`const ${name}_job_t* job = (const ${name}_job_t*)job_;`);
      w.line('const rl_index_t row0 = job->row0;');
      w.block('for (rl_index_t t = t_begin; t < t_end; ++t) {', () => {
        w.line(`const rl_index_t row = row0 + t / ${TW}, image = row / ${TH}, ty = row % ${TH}, tx = t % ${TW};`);
        body();
      });
    });
  };
  transform(`input windows of tiles [t_begin, t_end) of the block: B^T d B per channel`, 'windows', () => {
    w.line(`const float* d[${points}];`);
    w.block(`for (int i = 0; i < ${n}; ++i) {`, () => {
      w.line(`const rl_index_t iy = ${T} * ty + i - ${g.padBefore[0]};`);
      w.block(`for (int j = 0; j < ${n}; ++j) {`, () => {
        w.line(`const rl_index_t ix = ${T} * tx + j - ${g.padBefore[1]};`);
        w.line(
          `d[i * ${n} + j] = row < ${tileRows} && iy >= 0 && iy < ${g.height} && ix >= 0 && ix < ${g.width} ? job->in0 + ((image * ${g.height} + iy) * ${g.width} + ix) * ${C} : job->zeros;`,
        );
      });
    });
    w.line(`float* restrict u = job->U + t * ${C};`);
    channelLoop(w, C, lanes, (x) => {
      const loads: string[] = [];
      for (let i = 0; i < n; i++)
        for (let j = 0; j < n; j++) loads.push(`d${i}${j} = ${x.load(`d[${i * n + j}] + c`)}`);
      w.line(`const ${x.type} ${loads.join(', ')};`);
      sandwich(w, x, BT, 'd', 'v');
      for (let a = 0; a < n; a++)
        w.line(Array.from({ length: n }, (_, b) => x.store(`u + ${(a * n + b) * m * C} + c`, `v${a}${b}`)).join(' '));
    });
  });
  const pixels = Array.from({ length: T * T }, (_, i) => [Math.floor(i / T), i % T] as const);
  transform(
    `products of tiles [t_begin, t_end) back to ${T} x ${T} output pixels: A^T m A per output channel`,
    'pixels',
    () => {
      w.line(`if (row >= ${tileRows}) break;`);
      w.line(`const rl_index_t oy = ${T} * ty, ox = ${T} * tx;`);
      w.line(`float* restrict y00 = job->out0 + ((image * ${g.outHeight} + oy) * ${g.outWidth} + ox) * ${K};`);
      for (const [py, px] of pixels.slice(1))
        w.line(
          `float* y${py}${px} = oy + ${py} < ${g.outHeight} && ox + ${px} < ${g.outWidth} ? y00 + ${(py * g.outWidth + px) * K} : job->sink + t * ${K};`,
        );
      w.line(`const float* restrict mt = job->M + t * ${K};`);
      channelLoop(w, K, lanes, (x) => {
        const loads: string[] = [];
        for (let a = 0; a < n; a++)
          for (let b = 0; b < n; b++) loads.push(`m${a}${b} = ${x.load(`mt + ${(a * n + b) * m * K} + c`)}`);
        w.line(`const ${x.type} ${loads.join(', ')};`);
        sandwich(w, x, AT, 'm', 'o');
        w.line(pixels.map(([py, px]) => x.store(`y${py}${px} + c`, `o${py}${px}`)).join(' '));
      });
    },
  );
  w.line('');
  w.block(kernelOpening(name, params), () => {
    w.line(
      `float* restrict U = (float*)(void*)scratch; /* ${points} x [${m} x ${C}]: the block's transformed windows */`,
    );
    w.line(`float* restrict M = U + ${layout.m}; /* ${points} x [${m} x ${K}]: their products with the weights */`);
    w.line(`float* restrict zeros = U + ${layout.zeros}; /* read where a window reaches past the image */`);
    w.line(`float* restrict sink = U + ${layout.sink}; /* a row per tile, written where it reaches past the output */`);
    w.line(`for (rl_index_t c = 0; c < ${C}; ++c) zeros[c] = 0.0f;`);
    w.block(`for (rl_index_t row0 = 0; row0 < ${tileRows}; row0 += ${blockRows}) {`, () => {
      w.line(`${name}_job_t job = {in0, out0, U, M, zeros, sink, row0};`);
      const run = (suffix: string): void =>
        w.line(parallel ? `rl_pool_run(pool, ${m}, ${name}_${suffix}, &job);` : `${name}_${suffix}(&job, 0, ${m});`);
      run('windows');
      w.line(`${gemmName}(U, in1, M, scratch + ${4 * layout.floats}${parallel ? ', pool' : ''});`);
      run('pixels');
      if (epilogue) {
        w.line("/* epilogue: the fused elementwise ops, on the block's finished output rows */");
        const rowStart = (r: string): string =>
          `(${r}) / ${TH} * ${g.outHeight * g.outWidth} + (${r}) % ${TH} * ${T * g.outWidth}`;
        w.line(`const rl_index_t end_row = row0 + ${blockRows} < ${tileRows} ? row0 + ${blockRows} : ${tileRows};`);
        w.line(`const rl_index_t first = ${rowStart('row0')}, last = ${rowStart('end_row')};`);
        emitEpilogue(w, epilogue, K, 'first', 'last - first');
      }
    });
  });
  return w.toString();
}
