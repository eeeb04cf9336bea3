/**
 * @fileoverview The GEMM path of the C backend: dot_general and 2-D NHWC convolution on f32, f16
 * and bf16 (widened to f32 while packing; half-precision results rounded once at the end) become
 * C[b][m][n] = sum_k A[b][m][k] * B[b][k][n], computed by a packed, register-blocked
 * micro-kernel written against rl_simd.h (so one generator serves AVX-512, AVX2, NEON, Helium and the
 * one-lane scalar kernels of microcontrollers without SIMD).
 *
 * Blocking follows the BLIS loop order: K in blocks of kc (a B micro-panel of kc x nr stays in L1),
 * M in blocks of mc (the packed A block stays in L2), then for each nr-wide panel of B and each
 * mr-high panel of A one micro-kernel call. The tile (mr, nr) is chosen per shape from a small cost
 * model (gemm-tiling.ts), so edge waste stays low for the static shapes an AOT compiler sees.
 *
 * Weights known at compile time (constant B) are packed here, in TypeScript, into the micro-panel
 * layout and linked as read-only data; other operands are packed at run time into arena scratch.
 * Convolutions never build an im2col buffer: with 16-512 input channels the micro-kernel reads the
 * image through per-tap row pointers (indirect GEMM), otherwise A blocks are packed from the image
 * (depthwise and few-channel convolutions take the direct path of direct-conv.ts instead).
 * Accumulation is in f32 with fused multiply-add (the scalar path and the interpreter use double):
 * every model and conformance case stays within the f32 tolerances of src/ir/compare.ts.
 */
import { storageElem, type ElemType, type TensorType } from '../ir/types.js';
import { getElem, type Tensor } from '../ir/tensor.js';
import type { Target } from '../target/targets.js';
import { CodeWriter } from '../emit-common/code-writer.js';
import { kernelOpening, type KernelParam } from '../emit-common/kernel.js';
import { cElemOrUndefined, type CElem } from '../emit-common/ctypes.js';
import { gemmShape, type ASource, type GemmPlan, type GemmShape, type GemmTuning } from '../kernel/ukernel.js';
import { tiledPlan } from './gemm-tiling.js';
import { emitEpilogue, type Epilogue } from './fused.js';
import type { FlatOp } from '../flat/program.js';

const SIMD_MACRO: Readonly<Record<string, string>> = {
  avx512: 'RL_SIMD_AVX512',
  avx2: 'RL_SIMD_AVX2',
  neon: 'RL_SIMD_NEON',
  helium: 'RL_SIMD_HELIUM',
};

/** The rl_simd.h selector of the target's instruction set: its SIMD, or one-lane scalar
 * micro-kernels on targets that accumulate floats in f32 without SIMD (microcontrollers);
 * undefined for the other scalar targets (loop nests only). */
export const simdMacro = (target: Target): string | undefined =>
  SIMD_MACRO[target.simd] ?? (target.floatAccumulator === 'f32' ? 'RL_SIMD_SCALAR' : undefined);

/** The C spelling of a plan's element type (planGemm admits only f32, f16 and bf16). */
const cOf = (e: ElemType): CElem => cElemOrUndefined(e)!;

const isGemmFloat = (t: TensorType): boolean => t.elem.kind === 'float' && ['f32', 'f16', 'bf16'].includes(t.elem.name);

/** What identifies a GEMM for tuning: the ISA, the shape, how A is read and whether B is a weight. */
export function gemmKey(s: GemmShape, target: Target, bConstant: boolean): string {
  const a =
    s.a.kind === 'matrix'
      ? `A strides ${s.a.batchStride}/${s.a.mStride}/${s.a.kStride}`
      : `conv ${s.a.height}x${s.a.width}x${s.a.channels} window ${s.a.kernelHeight}x${s.a.kernelWidth} stride ${s.a.stride.join('x')}`;
  return `${target.simd} ${target.vectorBits}-bit: ${s.batch > 1 ? `${s.batch} x ` : ''}${s.m}x${s.k}x${s.n}, ${a}, B ${bConstant ? 'weight' : 'operand'}`;
}

/** A GEMM plan for `f`, or undefined when the op is not one the GEMM path handles (scalar kernel
 * then); `tuning` may name its tile (gemmKey), else the cost model picks it. */
export function planGemm(
  f: FlatOp,
  target: Target,
  isConstant: (operand: number) => boolean,
  out: TensorType = f.outs[0]!.type as TensorType,
  tuning?: GemmTuning,
): GemmPlan | undefined {
  if (!simdMacro(target) || f.ins.length !== 2 || f.outs.length !== 1) return undefined;
  const [lt, rt, ot] = [f.ins[0]!.type, f.ins[1]!.type, f.outs[0]!.type];
  if (lt.kind !== 'tensor' || rt.kind !== 'tensor' || ot.kind !== 'tensor' || ![lt, rt, ot, out].every(isGemmFloat))
    return undefined;
  const elems = { a: lt.elem, b: rt.elem, c: ot.elem, out: out.elem };
  const shape = gemmShape(f);
  if (!shape || shape.m === 0 || shape.n === 0 || shape.k === 0 || shape.batch === 0) return undefined;
  const tuned = tuning?.get(gemmKey(shape, target, isConstant(1)));
  return tiledPlan({ kind: 'gemm', op: f.op, ...shape, bPrepacked: isConstant(1), elems }, target, tuned);
}

const panels = (p: GemmPlan): number => Math.ceil(p.n / p.tiling.nr);

/** The epilogue of a parallel GEMM as the body of a row range [row_begin, row_end) of the m block
 * that the pool runs, and what it reads of the kernel's operands and the driver's locals. */
function rowsSplitEpilogue(
  p: GemmPlan,
  epilogue: Epilogue,
  params: readonly KernelParam[],
): { text: string; used: { cType: string; name: string }[] } {
  const body = new CodeWriter();
  emitEpilogue(body, epilogue, p.n, `bi * ${p.m} + ic + row_begin`, 'row_end - row_begin', finishedRow(p));
  const text = body.toString();
  const locals = [
    { cType: 'float* restrict', name: 'C' },
    { cType: 'rl_index_t', name: 'bi' },
    { cType: 'rl_index_t', name: 'ic' },
  ];
  return { text, used: [...params, ...locals].filter((x) => new RegExp(`\\b${x.name}\\b`).test(text)) };
}

/** Where the epilogue reads row r's finished product: out0 itself (emitEpilogue's default), or the
 * f32 block C where a half-precision result is rounded on its way to out0. */
const finishedRow = (p: GemmPlan): string | undefined => (f32Result(p) ? undefined : `C + (r - bi * ${p.m}) * ${p.n}`);

/** Bytes of arena scratch: the packed A block (or, for indirect GEMM, one zero row standing in
 * for padding pixels), plus the packed B block when B is not a constant. */
export function gemmScratchBytes(p: GemmPlan): number {
  return 4 * (aScratchFloats(p) + bScratchFloats(p) + (f32Result(p) ? 0 : p.m * p.n));
}

const bScratchFloats = (p: GemmPlan): number => (p.bPrepacked ? 0 : panels(p) * p.tiling.nr * p.tiling.kc);
const f32Result = (p: GemmPlan): boolean => p.elems.c.name === 'f32' && p.elems.out.name === 'f32';

/** Floats at the start of the scratch for A: the packed block, or the indirect GEMM's zero row. */
function aScratchFloats(p: GemmPlan): number {
  if (p.aMode === 'packed') return p.tiling.mc * p.tiling.kc;
  return p.aMode === 'indirect' && p.a.kind === 'conv' ? p.a.channels : 0;
}

/**
 * The width of the last panel's own micro-kernel (0: the last panel takes the full tile). On
 * in-order cores with B packed at compile time, N's last columns get a tile just wide enough for
 * them: the full one would spend whole vectors' loads and multiply-adds per k on zero columns
 * (Cortex-M55's 1 x 28 tile on N = 512: 20 of the last panel's 28 columns).
 */
export function edgeWidth(p: GemmPlan): number {
  const { nr, lanes, bVectorsInRegisters } = p.tiling;
  if (bVectorsInRegisters || !p.bPrepacked || p.n % nr === 0) return 0;
  const width = Math.ceil((p.n % nr) / lanes) * lanes;
  return width < nr ? width : 0;
}

/** B packed for the kernel: [batch][n panel][k][nr] f32, columns past N zero; the last panel, with
 * an edge tile (edgeWidth), [k][its width] in the same space. */
export function packB(p: GemmPlan, b: Tensor): Uint8Array {
  const { nr } = p.tiling;
  const np = panels(p);
  const edge = edgeWidth(p);
  const out = new Float32Array(p.batch * np * p.k * nr);
  // Real floats are stored as doubles: read them straight (ResNet-50 packs 25 M weights here).
  const doubles = storageElem(b.type.elem).kind === 'float' ? (b.data as Float64Array) : undefined;
  for (let bi = 0; bi < p.batch; bi++)
    for (let jp = 0; jp < np; jp++) {
      const width = edge && jp === np - 1 ? edge : nr;
      let o = (bi * np + jp) * p.k * nr;
      const cols = Math.min(width, p.n - jp * nr);
      for (let kk = 0; kk < p.k; kk++, o += width) {
        const at = bi * p.b.batchStride + kk * p.b.kStride + jp * nr * p.b.nStride;
        // A row of contiguous doubles converts in one native copy.
        if (doubles && p.b.nStride === 1) out.set(doubles.subarray(at, at + cols), o);
        else
          for (let j = 0; j < cols; j++) {
            const x = at + j * p.b.nStride;
            out[o + j] = doubles ? doubles[x]! : (getElem(b, x) as number);
          }
      }
    }
  return new Uint8Array(out.buffer);
}

/** The C of a GEMM kernel: micro-kernel, packing, blocked driver. Params: A, B, C, scratch. */
export function emitGemmKernel(
  p: GemmPlan,
  name: string,
  comment: string,
  params: readonly KernelParam[],
  epilogue?: Epilogue,
  parallel = false,
): string {
  const { mr, nr, nrv, kc: KC, mc: MC, lanes } = p.tiling;
  const np = panels(p);
  const direct = p.aMode === 'direct';
  const indirect = p.aMode === 'indirect';
  const [ae, be] = [cOf(p.elems.a), cOf(p.elems.b)];
  const aType = ae.storage;
  const bType = p.bPrepacked ? 'float' : be.storage;
  const w = new CodeWriter();
  const micro = `${name}_tile`;
  w.line(comment);
  w.line(
    `/* GEMM ${p.batch > 1 ? `${p.batch} x ` : ''}[${p.m} x ${p.k}] * [${p.k} x ${p.n}], ${p.elems.a.name === 'f32' && p.elems.b.name === 'f32' ? '' : `${p.elems.a.name} x ${p.elems.b.name} widened to f32, `}f32 FMA accumulation${f32Result(p) ? '' : ` in scratch, ${p.elems.c.name === 'f32' ? `output ${p.elems.out.name}` : `rounded to ${p.elems.c.name}`}`}; tile ${mr} x ${nr} (${mr} rows x ${nrv} vectors of ${lanes}), kc ${KC}, mc ${MC}; A ${direct ? 'read in place' : p.aMode === 'indirect' ? 'read through row pointers (indirect GEMM)' : 'packed'}, B ${p.bPrepacked ? 'packed at compile time' : 'packed at run time'}. */`,
  );
  // ---- micro-kernel: c[rows x cols] (+)= A[rows x kc] * bp[kc x nr] ------------------------------
  // A is either a packed panel (ap[p * mr + i]) or rows of the operand itself (lda apart; rows past
  // `rows` alias row 0, so every load stays in bounds and their results are never stored).
  const aParams = direct
    ? 'const float* restrict a, rl_index_t lda'
    : indirect
      ? 'const float* const* restrict arows'
      : 'const float* restrict ap';
  // In-order vector cores (Helium) take two k steps per pass where A's rows are read in place
  // with an even k count per row run (a convolution tap's channels, a whole K): see kLoop. For a
  // whole K only with a Q register to spare beside the accumulators and B (the MLP's 1 x 28
  // tiles, 7 + 1 of Helium's 8, spilled one per pass: 0.585 -> 0.598 instructions per MAC).

  const pairsOnHelium = !p.tiling.bVectorsInRegisters && lanes > 1;
  const emitMicro = (tileName: string, nrv: number): void => {
    const nr = nrv * lanes;
    w.block(
      `static ${p.tiling.inlineMicroKernel ? 'inline' : '__attribute__((noinline))'} void ${tileName}(rl_index_t kc, ${aParams}, const float* restrict bp, float* restrict c, rl_index_t rows, rl_index_t cols, int accumulate) {`,
      () => {
        const acc = (i: number, v: number): string => `c${i}_${v}`;
        if (direct && mr === 1) w.line('(void)lda;');
        if (direct)
          for (let i = 0; i < mr; i++)
            w.line(`const float* restrict a${i} = ${i === 0 ? 'a' : `rows > ${i} ? a + ${i} * lda : a`};`);
        for (let i = 0; i < mr; i++)
          w.line(`rl_vf ${Array.from({ length: nrv }, (_, v) => `${acc(i, v)} = rl_vf_zero()`).join(', ')};`);
        // Out of order: C's tile starts toward L1 before the k loop, which hides its latency (between
        // k blocks C falls out to L3). 1024^3 on a noisy 2-vCPU Xeon with 2 MiB of L2: 0.77-0.93x of
        // OpenBLAS without, 0.86-0.94x with, over several runs.
        if (p.tiling.bVectorsInRegisters)
          w.line(
            `for (rl_index_t i = 0; i < rows; ++i) { ${Array.from({ length: nrv }, (_, v) => `${v ? `if (cols > ${v * lanes}) ` : ''}RL_PREFETCH_WRITE(c + i * ${p.n} + ${v * lanes});`).join(' ')} }`,
          );
        const aAt = (i: number): string => (direct || indirect ? `a${i}[p]` : `ap[p * ${mr} + ${i}]`);
        // Per k step, in the order gemm-tiling.ts chooseTiling's register count assumes
        // (bVectorsInRegisters). The other order on AVX2 kept all six A broadcasts live beside
        // twelve accumulators: gcc spilled three of them to the stack in the inner loop (half of
        // OpenBLAS's speed).
        const kLoop = (count: string, bOffset: string, aPairs = false): void => {
          if (!p.tiling.bVectorsInRegisters) {
            // In order: B streams through one pointer each load advances (Helium: VLDRW with
            // writeback; with an offset per load gcc kept a second pointer and an add per k step:
            // 18 instead of 16 instructions per 28 MACs on Cortex-M55). With aPairs (Helium, an
            // even count of k: a convolution tap's channels, a GEMM's K) two k steps per pass, each
            // row's two A values by one LDRD that advances its pointer, the loop's end paid once
            // (Cortex-M55, 3 x 8 tiles: 20 instead of 24 instructions per 48 MACs; without the
            // barrier between the steps, 22).
            const steps = aPairs ? ['p', 'q'] : ['p'];
            w.line(`const float* restrict b = bp + (${bOffset}0) * ${nr};`);
            w.block(`for (rl_index_t p = 0; p < ${count}; ${aPairs ? 'p += 2' : '++p'}) {`, () => {
              if (aPairs) {
                w.line(`float ${Array.from({ length: mr }, (_, i) => `a${i}p, a${i}q`).join(', ')};`);
                w.line(Array.from({ length: mr }, (_, i) => `RL_F32_PAIR_NEXT(a${i}, a${i}p, a${i}q);`).join(' '));
              } else w.line(`const float ${Array.from({ length: mr }, (_, i) => `a${i}p = ${aAt(i)}`).join(', ')};`);
              steps.forEach((step, j) => {
                if (j > 0) w.line('RL_SCHEDULE_BARRIER();');
                for (let v = 0; v < nrv; v++)
                  w.line(
                    `{ rl_vf bv; RL_VF_LOAD_NEXT(b, bv); ${Array.from({ length: mr }, (_, i) => `${acc(i, v)} = rl_vf_fma_scalar(bv, a${i}${step}, ${acc(i, v)});`).join(' ')} }`,
                  );
              });
            });
            return;
          }
          w.block(`for (rl_index_t p = 0; p < ${count}; ++p) {`, () => {
            w.line(`const float* restrict b = bp + (${bOffset}p) * ${nr};`);
            w.line(
              `const rl_vf ${Array.from({ length: nrv }, (_, v) => `b${v} = rl_vf_load(b + ${v * lanes})`).join(', ')};`,
            );
            for (let i = 0; i < mr; i++)
              w.line(
                `{ const float ai = ${aAt(i)}; ${Array.from({ length: nrv }, (_, v) => `${acc(i, v)} = rl_vf_fma_scalar(b${v}, ai, ${acc(i, v)});`).join(' ')} }`,
              );
          });
        };
        if (indirect && p.a.kind === 'conv') {
          // One pass per kernel tap of this k block, each with the rows' pointers for that tap.
          const channels = p.a.channels;
          const aPairs = pairsOnHelium && channels % 2 === 0;
          w.block(`for (rl_index_t t = 0; t < kc / ${channels}; ++t) {`, () => {
            for (let i = 0; i < mr; i++) w.line(`const float* restrict a${i} = arows[t * ${mr} + ${i}];`);
            kLoop(String(channels), `t * ${channels} + `, aPairs);
          });
        } else kLoop('kc', '', direct && pairsOnHelium && KC === p.k && p.k % 2 === 0 && mr * nrv < 7);
        w.block(`if (rows == ${mr} && cols == ${nr}) {`, () => {
          for (let i = 0; i < mr; i++)
            for (let v = 0; v < nrv; v++) {
              const at = `c + ${i} * ${p.n} + ${v * lanes}`;
              w.line(`rl_vf_store(${at}, accumulate ? rl_vf_add(rl_vf_load(${at}), ${acc(i, v)}) : ${acc(i, v)});`);
            }
          w.line('return;');
        });
        w.line('/* Edge tile: spill to a local tile, then copy the valid part. */');
        w.line(`float tile[${mr * nr}];`);
        for (let i = 0; i < mr; i++)
          for (let v = 0; v < nrv; v++) w.line(`rl_vf_store(tile + ${i * nr + v * lanes}, ${acc(i, v)});`);
        w.block('for (rl_index_t i = 0; i < rows; ++i) {', () => {
          w.line(
            `for (rl_index_t j = 0; j < cols; ++j) c[i * ${p.n} + j] = accumulate ? c[i * ${p.n} + j] + tile[i * ${nr} + j] : tile[i * ${nr} + j];`,
          );
        });
      },
    );
  };
  emitMicro(micro, nrv);
  const edge = edgeWidth(p);
  if (edge) {
    w.line('');
    emitMicro(`${micro}_edge`, edge / lanes);
  }
  w.line('');
  // ---- the n-panel loop (inline, or the body of each thread's share) -----------------------------
  // Row pointers for a whole m block at once when they fit in a small table: computed once per m
  // tile instead of once per (n panel, m tile), where they cost as much as a Cortex-M55's 3 x 8
  // tiles of 16 channels (the CNN's second convolution: 75 K of 786 K instructions).
  const tapsPerBlock = p.a.kind === 'conv' ? KC / p.a.channels : 0;
  const hoistedRows = indirect && !parallel && Math.ceil(MC / mr) * tapsPerBlock * mr <= 1024;
  /** One micro-kernel call: panel jp of B, tile ip of the m block. */
  const tileCall = (): void => {
    w.line(
      p.bPrepacked
        ? `const float* restrict bpanel = in1 + (bi * ${np} + jp) * ${p.k * nr} + pc * ${edge ? `(jp == ${np - 1} ? ${edge} : ${nr})` : nr};`
        : `const float* restrict bpanel = bp + jp * kc * ${nr};`,
    );
    w.line(`const rl_index_t cols = ${p.n} - jp * ${nr} < ${nr} ? ${p.n} - jp * ${nr} : ${nr};`);
    w.line(`const rl_index_t rows = mc - ip * ${mr} < ${mr} ? mc - ip * ${mr} : ${mr};`);
    const a = p.a;
    if (p.aMode === 'indirect' && a.kind === 'conv' && !hoistedRows) emitRowPointers(w, a, mr, 'arows');
    const aArgs =
      direct && a.kind === 'matrix'
        ? `in0 + bi * ${a.batchStride} + (ic + ip * ${mr}) * ${a.mStride} + pc, ${a.mStride}`
        : indirect
          ? hoistedRows
            ? `arows + ip * ${tapsPerBlock * mr}`
            : 'arows'
          : `ap + ip * kc * ${mr}`;
    const tile = edge ? `(jp == ${np - 1} ? ${micro}_edge : ${micro})` : micro;
    w.line(`${tile}(kc, ${aArgs}, bpanel, C + (ic + ip * ${mr}) * ${p.n} + jp * ${nr}, rows, cols, pc > 0);`);
  };
  const rowPointers = (): void => {
    const a = p.a;
    if (!indirect || a.kind !== 'conv') return;
    if (!hoistedRows)
      return w.line(
        `const float* arows[${tapsPerBlock * mr}] = {0}; /* per tap of the k block, per tile row (zeroed: gcc cannot see that kc >= one tap) */`,
      );
    w.line(
      `const float* arows[${Math.ceil(MC / mr) * tapsPerBlock * mr}] = {0}; /* per m tile, per tap of the k block, per tile row (zeroed: gcc cannot see that kc >= one tap) */`,
    );
    w.block(`for (rl_index_t ip = 0; ip * ${mr} < mc; ++ip) {`, () => {
      w.line(`const rl_index_t rows = mc - ip * ${mr} < ${mr} ? mc - ip * ${mr} : ${mr};`);
      w.line(`const float** tile_rows = arows + ip * ${tapsPerBlock * mr};`);
      emitRowPointers(w, a, mr, 'tile_rows');
    });
  };
  const rowsEpilogue = parallel && epilogue ? rowsSplitEpilogue(p, epilogue, params) : undefined;
  if (parallel) {
    w.line(
      `/* One thread's share of the tiles (n panel, m tile) of a (k block, m block): everything the loop reads. */`,
    );
    w.line(
      `typedef struct { const ${aType}* in0; const ${bType}* in1; float* C; const float* a_or_zeros; const float* bp; rl_index_t bi, pc, kc, ic, mc; } ${name}_job_t;`,
    );
    w.block(`static void ${name}_tiles(void* job_, rl_index_t tile_begin, rl_index_t tile_end) {`, () => {
      w.line(`const ${name}_job_t* job = (const ${name}_job_t*)job_;`);
      w.line(`const ${aType}* restrict in0 = job->in0;`);
      w.line(`const ${bType}* restrict in1 = job->in1;`);
      w.line('float* restrict C = job->C;');
      if (p.aMode === 'packed') w.line('const float* restrict ap = job->a_or_zeros;');
      if (p.aMode === 'indirect') w.line('const float* zeros = job->a_or_zeros;');
      if (!p.bPrepacked) w.line('const float* restrict bp = job->bp;');
      w.line('const rl_index_t bi = job->bi, pc = job->pc, kc = job->kc, ic = job->ic, mc = job->mc;');
      w.line('(void)in0; (void)in1; (void)bi; (void)ic;');
      rowPointers();
      w.block('for (rl_index_t tile = tile_begin; tile < tile_end; ++tile) {', () => {
        w.line(`const rl_index_t jp = tile / ((mc + ${mr - 1}) / ${mr}), ip = tile % ((mc + ${mr - 1}) / ${mr});`);
        tileCall();
      });
    });
    w.line('');
    if (rowsEpilogue) {
      // The finished rows' fused ops, split by rows across the pool too: on the calling thread
      // alone they held a GELU after a 128 x 768 x 3072 GEMM to one core.
      const { text, used } = rowsEpilogue!;
      w.line('/* The epilogue of a finished m block, rows split across the pool: what it reads. */');
      w.line(`typedef struct { ${used.map((x) => `${x.cType} ${x.name};`).join(' ')} } ${name}_rows_t;`);
      w.block(`static void ${name}_rows(void* job_, rl_index_t row_begin, rl_index_t row_end) {`, () => {
        w.line(`const ${name}_rows_t* job = (const ${name}_rows_t*)job_;`);
        for (const x of used) w.line(`${x.cType} ${x.name} = job->${x.name};`);
        for (const line of text.split('\n')) w.line(line);
      });
      w.line('');
    }
  }
  // ---- driver ------------------------------------------------------------------------------------
  w.block(kernelOpening(name, params), () => {
    const aFloats = aScratchFloats(p);
    if (p.aMode === 'packed')
      w.line(`float* restrict ap = (float*)(void*)scratch; /* packed A block: ${MC} x ${KC} */`);
    if (p.aMode === 'indirect') {
      w.line(`float* restrict zeros = (float*)(void*)scratch; /* stands in for padding pixels */`);
      w.line(`for (rl_index_t q = 0; q < ${aFloats}; ++q) zeros[q] = 0.0f;`);
    }
    if (gemmScratchBytes(p) === 0) w.line('(void)scratch;');
    if (!p.bPrepacked)
      w.line(
        `float* restrict bp = (float*)(void*)(scratch + ${4 * aFloats}); /* packed B block: ${np} panels x ${KC} x ${nr} */`,
      );
    if (!f32Result(p))
      w.line(
        `float* restrict cacc = (float*)(void*)(scratch + ${4 * (aFloats + bScratchFloats(p))}); /* f32 result of one batch entry */`,
      );
    w.block(`for (rl_index_t bi = 0; bi < ${p.batch}; ++bi) {`, () => {
      w.line(f32Result(p) ? `float* restrict C = out0 + bi * ${p.m * p.n};` : 'float* restrict C = cacc;');
      w.block(`for (rl_index_t pc = 0; pc < ${p.k}; pc += ${KC}) {`, () => {
        w.line(`const rl_index_t kc = ${p.k} - pc < ${KC} ? ${p.k} - pc : ${KC};`);
        if (!p.bPrepacked) {
          w.line('/* pack B[pc:pc+kc][:] into nr-wide panels, zero past N */');
          w.line(`const ${bType}* restrict B = in1 + bi * ${p.b.batchStride};`);
          w.block(`for (rl_index_t jp = 0; jp < ${np}; ++jp) {`, () => {
            w.block('for (rl_index_t q = 0; q < kc; ++q) {', () => {
              w.line(
                `for (rl_index_t j = 0; j < ${nr}; ++j) bp[(jp * kc + q) * ${nr} + j] = jp * ${nr} + j < ${p.n} ? ${be.load(`B[(pc + q) * ${p.b.kStride} + (jp * ${nr} + j) * ${p.b.nStride}]`)} : 0.0f;`,
              );
            });
          });
        }
        w.block(`for (rl_index_t ic = 0; ic < ${p.m}; ic += ${MC}) {`, () => {
          w.line(`const rl_index_t mc = ${p.m} - ic < ${MC} ? ${p.m} - ic : ${MC};`);
          if (p.aMode === 'packed') emitPackA(w, p);
          if (parallel) {
            w.line(
              `${name}_job_t job = {in0, in1, C, ${p.aMode === 'packed' ? 'ap' : p.aMode === 'indirect' ? 'zeros' : '0'}, ${p.bPrepacked ? '0' : 'bp'}, bi, pc, kc, ic, mc};`,
            );
            w.line(
              `rl_pool_run(pool, ${np} * ((mc + ${mr - 1}) / ${mr}), ${name}_tiles, &job); /* tiles split across the pool's threads */`,
            );
          } else {
            rowPointers();
            w.block(`for (rl_index_t jp = 0; jp < ${np}; ++jp) {`, () =>
              w.block(`for (rl_index_t ip = 0; ip * ${mr} < mc; ++ip) {`, () => tileCall()),
            );
          }
          const headRow = finishedRow(p);
          if (rowsEpilogue) {
            w.line('/* epilogue: the fused elementwise ops, on these rows while they are in cache, split by rows */');
            w.block(`if (pc + kc == ${p.k}) {`, () => {
              w.line(`${name}_rows_t rows_job = {${rowsEpilogue.used.map((x) => x.name).join(', ')}};`);
              w.line(`rl_pool_run(pool, mc, ${name}_rows, &rows_job);`);
            });
          } else if (epilogue) {
            w.line('/* epilogue: the fused elementwise ops, on these rows while they are in cache */');
            w.block(`if (pc + kc == ${p.k}) {`, () =>
              emitEpilogue(w, epilogue, p.n, `bi * ${p.m} + ic`, 'mc', headRow),
            );
          } else if (headRow) {
            w.line(`/* round the finished rows to ${p.elems.c.name} */`);
            w.block(`if (pc + kc == ${p.k}) {`, () => {
              w.block(`for (rl_index_t r = bi * ${p.m} + ic; r < bi * ${p.m} + ic + mc; ++r) {`, () => {
                w.line(
                  `for (rl_index_t n = 0; n < ${p.n}; ++n) out0[r * ${p.n} + n] = ${cOf(p.elems.c).store(`(${headRow})[n]`)};`,
                );
              });
            });
          }
        });
      });
    });
  });
  return w.toString();
}

/** Indirect GEMM: the k block is a run of whole kernel taps; for each tap, each tile row points
 * at its input pixel, or at the zero row when the tap falls in the padding. Rows past the tile's
 * end repeat its last row (loaded, never stored). A row whose whole window lies inside the image
 * (most of them) takes each tap's pointer as its window origin plus the tap's constant offset. */
function emitRowPointers(w: CodeWriter, a: Extract<ASource, { kind: 'conv' }>, mr: number, arows: string): void {
  const pixels = a.outHeight * a.outWidth;
  const taps = a.kernelHeight * a.kernelWidth;
  const tapOffset = Array.from(
    { length: taps },
    (_, t) =>
      (Math.floor(t / a.kernelWidth) * a.dilation[0] * a.width + (t % a.kernelWidth) * a.dilation[1]) * a.channels,
  );
  w.line(`static const rl_index_t tap_offset[${taps}] = {${tapOffset.join(', ')}};`);
  // The tile's first pixel by division, the next ones by stepping along the output rows.
  w.line(
    `rl_index_t image = (ic + ip * ${mr}) / ${pixels}, oy = (ic + ip * ${mr}) % ${pixels} / ${a.outWidth}, ox = (ic + ip * ${mr}) % ${a.outWidth};`,
  );
  w.block(`for (rl_index_t i = 0; i < ${mr}; ++i) {`, () => {
    w.line(
      `if (i > 0 && i < rows && ++ox == ${a.outWidth}) { ox = 0; if (++oy == ${a.outHeight}) { oy = 0; ++image; } }`,
    );
    w.line(
      `const rl_index_t y0 = oy * ${a.stride[0]} - ${a.padBefore[0]}, x0 = ox * ${a.stride[1]} - ${a.padBefore[1]};`,
    );
    w.block(
      `if (y0 >= 0 && y0 + ${(a.kernelHeight - 1) * a.dilation[0]} < ${a.height} && x0 >= 0 && x0 + ${(a.kernelWidth - 1) * a.dilation[1]} < ${a.width}) {`,
      () => {
        w.line(`const rl_index_t origin = ((image * ${a.height} + y0) * ${a.width} + x0) * ${a.channels};`);
        w.line(
          `for (rl_index_t t = 0; t < kc / ${a.channels}; ++t) ${arows}[t * ${mr} + i] = in0 + origin + tap_offset[pc / ${a.channels} + t];`,
        );
        w.line('continue;');
      },
    );
    w.block(`for (rl_index_t t = 0; t < kc / ${a.channels}; ++t) {`, () => {
      w.line(
        `const rl_index_t tap = pc / ${a.channels} + t, iy = y0 + tap / ${a.kernelWidth} * ${a.dilation[0]}, ix = x0 + tap % ${a.kernelWidth} * ${a.dilation[1]};`,
      );
      w.line(
        `${arows}[t * ${mr} + i] = iy >= 0 && iy < ${a.height} && ix >= 0 && ix < ${a.width} ? in0 + ((image * ${a.height} + iy) * ${a.width} + ix) * ${a.channels} : zeros;`,
      );
    });
  });
}

/** Packs A[ic:ic+mc][pc:pc+kc] as mr-row panels, k-major: ap[(panel * kc + q) * mr + row]; rows past M are zero. */
function emitPackA(w: CodeWriter, p: GemmPlan): void {
  const { mr } = p.tiling;
  const ae = cOf(p.elems.a);
  const a = p.a;
  if (a.kind === 'matrix') {
    // A tile's rows at once, k outer: the stores run contiguous and the loads are mr sequential
    // streams (1024 x 1024 in blocks of 192: 0.4 ms, row by row with strided stores 0.9 ms).
    // Rows past mc are zeros.
    w.block(`for (rl_index_t r0 = 0; r0 < mc; r0 += ${mr}) {`, () => {
      w.line(`float* restrict dst = ap + (r0 / ${mr}) * kc * ${mr};`);
      w.line(`const ${ae.storage}* src[${mr}];`);
      w.line(
        `for (rl_index_t i = 0; i < ${mr}; ++i) src[i] = in0 + bi * ${a.batchStride} + (ic + (r0 + i < mc ? r0 + i : r0)) * ${a.mStride} + pc * ${a.kStride};`,
      );
      const copy = (value: string): void =>
        w.line(
          `for (rl_index_t q = 0; q < kc; ++q) for (rl_index_t i = 0; i < ${mr}; ++i) dst[q * ${mr} + i] = ${value};`,
        );
      const element = ae.load(`src[i][q * ${a.kStride}]`);
      w.block(`if (r0 + ${mr} <= mc) {`, () => copy(element), '} else {');
      w.block('} else {', () => copy(`r0 + i < mc ? ${element} : 0.0f`), '}', true);
    });
    return;
  }
  w.block(`for (rl_index_t r = 0; r < (mc + ${mr - 1}) / ${mr} * ${mr}; ++r) {`, () => {
    w.line(`float* restrict dst = ap + (r / ${mr}) * kc * ${mr} + r % ${mr};`);
    w.block('if (r >= mc) {', () => {
      w.line(`for (rl_index_t q = 0; q < kc; ++q) dst[q * ${mr}] = 0.0f;`);
      w.line('continue;');
    });
    // Implicit GEMM: row = output pixel (image, oy, ox); k = (ky, kx, channel) of the HWIO kernel.
    const pixels = a.outHeight * a.outWidth;
    w.line(
      `const rl_index_t row = ic + r, image = row / ${pixels}, oy = row % ${pixels} / ${a.outWidth}, ox = row % ${a.outWidth};`,
    );
    w.block(`for (rl_index_t ky = 0; ky < ${a.kernelHeight}; ++ky) {`, () => {
      w.line(`const rl_index_t iy = oy * ${a.stride[0]} + ky * ${a.dilation[0]} - ${a.padBefore[0]};`);
      w.block(`for (rl_index_t kx = 0; kx < ${a.kernelWidth}; ++kx) {`, () => {
        w.line(`const rl_index_t k0 = (ky * ${a.kernelWidth} + kx) * ${a.channels};`);
        w.line(`if (k0 + ${a.channels} <= pc || k0 >= pc + kc) continue;`);
        w.line(
          `const rl_index_t lo = k0 > pc ? k0 : pc, hi = k0 + ${a.channels} < pc + kc ? k0 + ${a.channels} : pc + kc;`,
        );
        w.line(`const rl_index_t ix = ox * ${a.stride[1]} + kx * ${a.dilation[1]} - ${a.padBefore[1]};`);
        w.block(`if (iy >= 0 && iy < ${a.height} && ix >= 0 && ix < ${a.width}) {`, () => {
          w.line(
            `const ${ae.storage}* restrict src = in0 + ((image * ${a.height} + iy) * ${a.width} + ix) * ${a.channels};`,
          );
          w.line(`for (rl_index_t q = lo; q < hi; ++q) dst[(q - pc) * ${mr}] = ${ae.load('src[q - k0]')};`);
        });
        w.line(`else for (rl_index_t q = lo; q < hi; ++q) dst[(q - pc) * ${mr}] = 0.0f;`);
      });
    });
  });
}
