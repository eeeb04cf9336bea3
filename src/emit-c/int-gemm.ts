/**
 * @fileoverview The integer GEMM path of the C backend: the quantize phase's contractions (i8 or
 * i16 x i8 or i16 -> i32, constant weights) as C[b][m][n] = sum_k A[b][m][k] * B[b][k][n] with B
 * packed at compile time as 16-bit pairs along k (one 32-bit word per column and pair), so each
 * word meets a pair of A values in one dual multiply-accumulate: rl_simd.h's rl_vi_dot2, a vector
 * of columns on x86 (vpmaddwd + vpaddd, or VNNI's vpdpwssd: 2 x 8 or 2 x 16 products per
 * instruction), one column on microcontrollers (SMLAD on cores with the DSP extension:
 * Cortex-M4/M7/M33/M55; two 16-bit products otherwise). A tile of mr rows x nr columns of i32
 * accumulators stays in registers; the tile is chosen by counting instructions per k pair: mr A
 * pair loads (and splats), nr / lanes B loads, mr x nr / lanes dual multiply-adds and the loop's
 * 3. CMSIS-NN's q7/q15 kernels work the same way on Cortex-M. Hosted Arm targets take the vector
 * tiles with NEON's widening products added in pairs (4 columns per vector); with Armv8.2's dot
 * product, int8 x int8 tiles pack four k per word (byteQuads) for SDOT (rl_vi_dot4). The
 * microcontrollers' kernels (DSP steps, Helium column dots) are in int-gemm-mcu.ts.
 */
import type { Target } from '../target/targets.js';
import { CodeWriter } from '../emit-common/code-writer.js';
import { kernelOpening, type KernelParam } from '../emit-common/kernel.js';
import { getElem, type Tensor } from '../ir/tensor.js';
import { gemmShape, intWeightPacking, type IntGemmPlan } from '../kernel/ukernel.js';
import { intElem, type IntElem } from '../ir/types.js';
import type { FlatOp } from '../flat/program.js';
import { forEachTap } from './int-windows.js';
import {
  paddedK,
  panelColumns,
  panels,
  storeTile,
  words,
  zeroAccumulators,
  type Accumulator,
} from './int-gemm-parts.js';
import { emitColumnDotIntGemm, emitFourColumnRow, emitQuadTile, emitWindowDriver } from './int-gemm-mcu.js';

const narrowInt = (e: { kind: string; name: string }): boolean => e.name === 'i8' || e.name === 'i16';

/** Lanes of rl_simd.h's rl_vi on `target` (0: the target does not take this path). */
function intLanes(target: Target): number {
  if (target.simd === 'avx512') return 16;
  if (target.simd === 'avx2') return 8;
  if (target.simd === 'neon') return 4;
  return target.os === 'bare-metal' ? 1 : 0;
}

/** A plan for `f` when it is an integer contraction this path takes (undefined: loop nest). */
export function planIntGemm(
  f: FlatOp,
  target: Target,
  isConstant: (operand: number) => boolean,
): IntGemmPlan | undefined {
  const lanes = intLanes(target);
  if (!lanes || f.ins.length !== 2 || f.outs.length !== 1 || !isConstant(1)) return undefined;
  const [lt, rt, ot] = [f.ins[0]!.type, f.ins[1]!.type, f.outs[0]!.type];
  if (lt.kind !== 'tensor' || rt.kind !== 'tensor' || ot.kind !== 'tensor') return undefined;
  if (!narrowInt(lt.elem) || !narrowInt(rt.elem) || ot.elem.name !== 'i32') return undefined;
  const shape = gemmShape(f);
  if (!shape || [shape.m, shape.n, shape.k].includes(0)) return undefined;
  // Helium: A rows (read in place) against columns of B at A's width (i8 x i16 stays on pairs).
  const columnDot = target.simd === 'helium' ? (lt.elem.name === 'i16' ? 16 : rt.elem.name === 'i8' ? 8 : 0) : 0;
  const rowsInPlace = shape.a.kind === 'matrix' && shape.a.kStride === 1;
  const elems = { a: lt.elem, b: rt.elem };
  if (columnDot && (rowsInPlace || shape.a.kind === 'conv')) {
    return { kind: 'int-gemm', op: f.op, ...shape, elems, mr: 1, nr: 4, lanes: 1, mc: 0, columnDot };
  }
  if (lanes === 1 && target.armDsp && (rowsInPlace || shape.a.kind === 'conv')) {
    // Instructions per step of four k, one row by nr columns: A's load (and two SXTB16 for i8), one
    // LDRD and two SMLAD per column, the loop's add and branch; past 6 columns gcc keeps one value
    // on the stack (Cortex-M4, gcc 12: 17, 23 and 30 for 4, 6 and 8 columns). Widths that leave
    // the last panel part empty compute its missing columns for nothing.
    // Four columns take the asm step (rl.h rl_dsp_step4): B's eight words in two LDMs, A's in one
    // LDRD (a gathered window) or two loads (i8: one and two SXTB16), eight SMLAD.
    const aLoads = lt.elem.name === 'i8' ? 3 : shape.a.kind === 'conv' ? 1 : 2;
    const step = (nr: number): number =>
      nr === 4 ? aLoads + 10 : 3 * nr + (lt.elem.name === 'i8' ? 5 : 4) + (nr > 6 ? 1 : 0);
    let nr = 1;
    for (let w = 2; w <= 8; w++) if (Math.ceil(shape.n / w) * step(w) < Math.ceil(shape.n / nr) * step(nr)) nr = w;
    return { kind: 'int-gemm', op: f.op, ...shape, elems, mr: 1, nr, lanes: 1, mc: 0, quads: true };
  }
  // A's rows contiguous along k; or, where A is packed anyway (vector tiles), a convolution's
  // image gathered per output pixel while packing (an implicit GEMM).
  if (shape.a.kind === 'matrix' ? shape.a.kStride !== 1 : lanes === 1) return undefined;
  let best = { cost: Infinity, mr: 1, nv: 1 };
  for (let mr = 1; mr <= (lanes === 1 ? 4 : 16); mr++)
    for (let nv = 1; nv <= 8; nv++) {
      let cost: number;
      if (lanes === 1) {
        // General registers: mr x nr accumulators, mr A pairs and mr A pointers, a B word, the B
        // pointer and the pair count; an in-order core: instructions per pair.
        if (mr * nv + 2 * mr + 3 > target.generalRegisters) continue;
        cost = Math.ceil(shape.m / mr) * Math.ceil(shape.n / nv) * (mr + nv + mr * nv + 3);
      } else {
        // Vector registers: mr x nv accumulators, the pair's nv B vectors and the rows' splat A
        // pairs (gcc hoists all mr splats). Past 26 gcc 12 spilled accumulators inside the loop
        // even with 32 registers (AVX-512: 6 x 3, 5 x 4, 10 x 2 ran at 0.5-0.85x of 8 x 2), and
        // past 16 with AVX2's 16 (5 x 2: 0.55x of 3 x 3). Cycles per pair as for the f32 GEMM's
        // tiles (gemm-tiling.ts chooseTiling: two dual multiply-adds and two loads per cycle, 6 for the
        // accumulators' latency) and the bytes of B and A it reads at 32 per cycle (no k
        // blocking: a B panel streams from L2; 4 x 4 ran at 0.75x of 8 x 2).
        if (mr * nv + nv + mr > Math.min(target.vectorRegisters, 26)) continue;
        const perPair = Math.max((mr * nv) / 2, (mr + nv) / 2, (4 * (nv * lanes + mr)) / 32, 6);
        cost = Math.ceil(shape.m / mr) * Math.ceil(shape.n / (nv * lanes)) * perPair;
        // Ties: more accumulators.
        if (Math.abs(cost - best.cost) < 1e-9 && mr * nv > best.mr * best.nv) cost -= 1e-6;
      }
      if (cost < best.cost) best = { cost, mr, nv };
    }
  const mr = best.mr;
  // Armv8.2's SDOT multiplies int8 lanes in fours: int8 x int8 tiles pack four k per word.
  const byteQuads = !!target.dotProduct && lanes === 4 && lt.elem.name === 'i8' && rt.elem.name === 'i8';
  // Vector tiles read A from a block of mc rows packed as words (half of L2), built once per
  // block and read by every panel; one-lane tiles (microcontrollers: RAM) read A in place.
  const pairWords = Math.ceil(shape.k / (byteQuads ? 4 : 2));
  const rowTiles = Math.ceil(shape.m / mr);
  const mc =
    lanes === 1 ? 0 : mr * Math.max(1, Math.min(rowTiles, Math.floor(target.cache.l2 / 2 / (4 * pairWords * mr))));
  return {
    kind: 'int-gemm',
    op: f.op,
    ...shape,
    elems,
    mr,
    nr: best.nv * lanes,
    lanes,
    mc,
    ...(byteQuads ? { byteQuads } : {}),
  };
}

/** The element type of the packed weights the kernel reads: pair words, or columns at A's width. */
export const packedIntWeightElem = (p: IntGemmPlan): IntElem => intElem(p.columnDot ?? 32, !!p.columnDot);

/** Bytes of arena scratch: the packed A block of vector tiles. */
export const intGemmScratchBytes = (p: IntGemmPlan): number =>
  p.a.kind === 'conv' && (p.quads || p.columnDot)
    ? 4 * Math.ceil((p.k * (p.elems.a.name === 'i8' ? 1 : 2)) / 4)
    : 4 * p.mc * words(p);

/** B packed for the kernel. Pairs: [batch][n panel][k pair][nr] words of (B[2q][n] low, B[2q+1][n]
 * high), zero past K and N; with quads, each panel's groups of four k first ([group][nr][2]
 * words), then its last k % 4 as pairs. Column dot: [batch][n rounded up to nr][K padded] integers of A's
 * width, zero past K and N. */
export function packIntB(p: IntGemmPlan, b: Tensor): Uint8Array {
  if (p.columnDot) {
    const [kp, np] = [paddedK(p), panels(p) * p.nr];
    const out = p.columnDot === 8 ? new Int8Array(p.batch * np * kp) : new Int16Array(p.batch * np * kp);
    for (let bi = 0; bi < p.batch; bi++)
      for (let n = 0; n < p.n; n++)
        for (let k = 0; k < p.k; k++)
          out[(bi * np + n) * kp + k] = Number(getElem(b, bi * p.b.batchStride + k * p.b.kStride + n * p.b.nStride));
    return new Uint8Array(out.buffer);
  }
  const out = new Uint32Array(p.batch * panels(p) * words(p) * p.nr);
  const at = (bi: number, k: number, n: number): number =>
    k < p.k && n < p.n ? Number(getElem(b, bi * p.b.batchStride + k * p.b.kStride + n * p.b.nStride)) : 0;
  if (p.byteQuads) {
    // [batch][n panel][k quad][nr] words of B[4q..4q+3][n] as bytes, k ascending (little-endian).
    let o = 0;
    for (let bi = 0; bi < p.batch; bi++)
      for (let jp = 0; jp < panels(p); jp++)
        for (let q = 0; q < words(p); q++)
          for (let j = 0; j < p.nr; j++)
            out[o++] =
              [0, 1, 2, 3].reduce((word, i) => word | ((at(bi, 4 * q + i, jp * p.nr + j) & 0xff) << (8 * i)), 0) >>> 0;
    return new Uint8Array(out.buffer);
  }
  const word = (bi: number, k0: number, k1: number, n: number): number =>
    ((at(bi, k0, n) & 0xffff) | ((at(bi, k1, n) & 0xffff) << 16)) >>> 0;
  // Four k per step: each column's two words of a group adjacent, pairs as A's load splits them.
  const groups = p.quads ? Math.floor(p.k / 4) : 0;
  const spread = p.elems.a.name === 'i8' ? 2 : 1; // i8 A: (k0, k2), (k1, k3); i16 A: (k0, k1), (k2, k3)
  let o = 0;
  for (let bi = 0; bi < p.batch; bi++)
    for (let jp = 0; jp < panels(p); jp++) {
      for (let g = 0; g < groups; g++)
        for (let j = 0; j < p.nr; j++) {
          const [k, n] = [4 * g, jp * p.nr + j];
          out[o++] = word(bi, k, k + spread, n);
          out[o++] = word(bi, k + 3 - spread, k + 3, n);
        }
      for (let q = 2 * groups; q < words(p); q++)
        for (let j = 0; j < p.nr; j++) out[o++] = word(bi, 2 * q, 2 * q + 1, jp * p.nr + j);
    }
  return new Uint8Array(out.buffer);
}

/** The C of an integer GEMM kernel. Params: in0 (A), in1 (packed B words), out0 (i32 C), scratch (unused). */
export function emitIntGemmKernel(
  p: IntGemmPlan,
  name: string,
  comment: string,
  params: readonly KernelParam[],
): string {
  const { mr, nr, lanes } = p;
  const nv = nr / lanes;
  const a = p.a as Extract<IntGemmPlan['a'], { kind: 'matrix' }>;
  const aType = p.elems.a.name === 'i8' ? 'int8_t' : 'int16_t';
  const pair = p.elems.a.name === 'i8' ? 'rl_pair_i8' : 'rl_pair_i16';
  const full = Math.floor(p.k / 2);
  const w = new CodeWriter();
  const acc = (i: number, j: number): string => `c${i}_${j}`;
  const how = p.columnDot
    ? `one VMLADAVA (${128 / p.columnDot} products into a general register) per vector of k and column`
    : p.quads
      ? `four k per step: one A load${p.elems.a.name === 'i8' ? ' and two SXTB16' : ''}, then ${p.nr === 4 ? "two LDM (the columns' eight words) and eight SMLAD, one call per row" : 'one LDRD and two SMLAD per column'}`
      : `${
          lanes === 1
            ? 'one dual multiply-accumulate (SMLAD) per pair'
            : p.byteQuads
              ? `${nv} vector(s) of ${lanes} columns, one SDOT (four int8 products per lane) per quad of k and vector; A packed as quads in blocks of ${p.mc} rows`
              : `${nv} vector(s) of ${lanes} columns, one dual multiply-add (${lanes === 4 ? 'NEON: SMULL, SMULL2, ADDP, ADD' : 'vpmaddwd + vpaddd, or vpdpwssd'}) per pair and vector; A packed as pairs in blocks of ${p.mc} rows`
        }`;
  w.line(comment);
  w.line(
    `/* Integer GEMM ${p.batch > 1 ? `${p.batch} x ` : ''}[${p.m} x ${p.k}] * [${p.k} x ${p.n}] ${p.elems.a.name} x ${p.elems.b.name} -> i32: tile ${mr} x ${nr} of i32 accumulators, B packed at compile time as ${intWeightPacking(p)}, ${how}. */`,
  );
  const micro = `${name}_tile`;
  if (p.mc) return emitPackedIntGemm(p, name, params, w, aType, pair, acc);
  if (p.columnDot) return emitColumnDotIntGemm(p, name, params, w);
  if (p.quads && p.nr === 4) return emitFourColumnRow(p, name, params, w, aType, pair, acc);
  const rowParams = Array.from({ length: mr }, (_, i) => `const ${aType}* restrict a${i}`).join(', ');
  const head = `static __attribute__((noinline)) void ${micro}(${rowParams}, const uint32_t* restrict b, int32_t* restrict c, rl_index_t rows, rl_index_t cols) {`;
  if (p.quads) emitQuadTile(w, p, head, aType, pair, acc);
  else
    w.block(head, () => {
      zeroAccumulators(w, p, acc);
      // One pair's step: the rows' A pairs, then each B word meets them.
      const step = (x: (i: number) => string): void => {
        for (let i = 0; i < mr; i++) w.line(`const rl_vi x${i} = rl_vi_splat(${x(i)});`);
        for (let j = 0; j < nv; j++)
          w.line(
            `{ const rl_vi y = rl_vi_load(b + ${j}); ${Array.from({ length: mr }, (_, i) => `${acc(i, j)} = rl_vi_dot2(${acc(i, j)}, x${i}, y);`).join(' ')} }`,
          );
        w.line(`b += ${nr};`);
      };
      // Two pairs per iteration: the loop's compare and branch count once per four k (Cortex-M4 int8
      // MLP: 1.52 -> 1.45 instructions per MAC, M55 1.74 -> 1.40).
      if (full >= 2)
        w.block(`for (rl_index_t q = 0; q + 1 < ${full}; q += 2) {`, () => {
          w.block('{', () => step((i) => `${pair}(a${i} + 2 * q)`));
          w.block('{', () => step((i) => `${pair}(a${i} + 2 * q + 2)`));
        });
      if (full % 2) w.block('{', () => step((i) => `${pair}(a${i} + ${2 * (full - 1)})`));
      if (p.k % 2) w.block('{', () => step((i) => `(uint32_t)(uint16_t)(int16_t)a${i}[${p.k - 1}]`));
      storeTile(w, p, acc);
    });
  w.line('');
  if (p.a.kind === 'conv') {
    emitWindowDriver(w, p, name, params, aType, micro);
    return w.toString();
  }
  w.block(kernelOpening(name, params), () => {
    w.line('(void)scratch;');
    w.block(`for (rl_index_t bi = 0; bi < ${p.batch}; ++bi) {`, () => {
      panelLoop(w, p, () => {
        w.block(`for (rl_index_t i = 0; i < ${p.m}; i += ${mr}) {`, () => {
          w.line(`const ${aType}* restrict a0 = in0 + bi * ${a.batchStride} + i * ${a.mStride};`);
          // Rows past the end alias row 0: their loads stay in bounds and their results are not stored.
          for (let r = 1; r < mr; r++)
            w.line(`const ${aType}* restrict a${r} = i + ${r} < ${p.m} ? a0 + ${r * a.mStride} : a0;`);
          w.line(
            `${micro}(${Array.from({ length: mr }, (_, r) => `a${r}`).join(', ')}, bp, out0 + (bi * ${p.m} + i) * ${p.n} + jp * ${nr}, ${p.m} - i, cols);`,
          );
        });
      });
    });
  });
  return w.toString();
}

/** The loop over B's panels of nr columns, in batch entry `bi`: `bp` the panel's packed words,
 * `cols` how many of its columns exist. */
function panelLoop(w: CodeWriter, p: IntGemmPlan, body: () => void): void {
  w.block(`for (rl_index_t jp = 0; jp < ${panels(p)}; ++jp) {`, () => {
    w.line(`const uint32_t* restrict bp = in1 + (bi * ${panels(p)} + jp) * ${words(p) * p.nr};`);
    w.line(panelColumns(p));
    body();
  });
}

/**
 * The vector variant: A's rows packed per block of mc rows into scratch as pair words, mr rows
 * interleaved per pair (zero past the last row and the last k), so the micro-kernel splats one
 * word per row and pair; blocks outer, B panels inner (a block is reused by every panel).
 */
function emitPackedIntGemm(
  p: IntGemmPlan,
  name: string,
  params: readonly KernelParam[],
  w: CodeWriter,
  aType: string,
  pair: string,
  acc: Accumulator,
): string {
  const { mr, nr, lanes, mc } = p;
  const nv = nr / lanes;
  const q = words(p);
  const full = Math.floor(p.k / 2);
  const micro = `${name}_tile`;
  const dot = p.byteQuads ? 'rl_vi_dot4' : 'rl_vi_dot2';
  w.block(
    `static __attribute__((noinline)) void ${micro}(const uint32_t* restrict a, const uint32_t* restrict b, int32_t* restrict c, rl_index_t rows, rl_index_t cols) {`,
    () => {
      zeroAccumulators(w, p, acc);
      w.block(`for (rl_index_t q = 0; q < ${q}; ++q) {`, () => {
        // The pair's B vectors, then each row's splat meets them (mr x nv + nv + 1 registers live).
        for (let j = 0; j < nv; j++) w.line(`const rl_vi y${j} = rl_vi_load(b + ${j * lanes});`);
        for (let i = 0; i < mr; i++)
          w.line(
            `{ const rl_vi x = rl_vi_splat(a[${i}]); ${Array.from({ length: nv }, (_, j) => `${acc(i, j)} = ${dot}(${acc(i, j)}, x, y${j});`).join(' ')} }`,
          );
        w.line(`a += ${mr};`);
        w.line(`b += ${nr};`);
      });
      storeTile(w, p, acc);
    },
  );
  w.line('');
  w.block(kernelOpening(name, params), () => {
    w.line(
      `uint32_t* restrict ap = (uint32_t*)(void*)scratch; /* A block: ${mc / mr} tiles x ${q} pairs x ${mr} rows */`,
    );
    w.block(`for (rl_index_t bi = 0; bi < ${p.batch}; ++bi) {`, () => {
      w.block(`for (rl_index_t i0 = 0; i0 < ${p.m}; i0 += ${mc}) {`, () => {
        w.line(
          `const rl_index_t tiles = (${p.m} - i0 < ${mc} ? ${p.m} - i0 : ${mc}) / ${mr} + ((${p.m} - i0 < ${mc} ? ${p.m} - i0 : ${mc}) % ${mr} != 0);`,
        );
        w.block('for (rl_index_t t = 0; t < tiles; ++t) {', () => {
          w.block(`for (rl_index_t r = 0; r < ${mr}; ++r) {`, () => {
            w.line(`uint32_t* restrict dst = ap + t * ${q * mr} + r;`);
            w.line(`const rl_index_t row = i0 + t * ${mr} + r;`);
            w.line(`if (row >= ${p.m}) { for (rl_index_t k = 0; k < ${q}; ++k) dst[k * ${mr}] = 0; continue; }`);
            if (p.a.kind === 'conv') gatherConvRow(w, p, aType);
            else if (p.byteQuads) {
              // Four int8 k per word as they lie in the row (one unaligned load), the last zero-filled.
              const [whole, rest] = [Math.floor(p.k / 4), p.k % 4];
              w.line(`const int8_t* restrict src = in0 + bi * ${p.a.batchStride} + row * ${p.a.mStride};`);
              if (whole)
                w.line(
                  `for (rl_index_t k = 0; k < ${whole}; ++k) { uint32_t v; memcpy(&v, src + 4 * k, 4); dst[k * ${mr}] = v; }`,
                );
              if (rest) w.line(`{ uint32_t v = 0; memcpy(&v, src + ${4 * whole}, ${rest}); dst[${whole * mr}] = v; }`);
            } else {
              const a = p.a;
              w.line(`const ${aType}* restrict src = in0 + bi * ${a.batchStride} + row * ${a.mStride};`);
              if (full) w.line(`for (rl_index_t k = 0; k < ${full}; ++k) dst[k * ${mr}] = ${pair}(src + 2 * k);`);
              if (p.k % 2) w.line(`dst[${full * mr}] = (uint32_t)(uint16_t)(int16_t)src[${p.k - 1}];`);
            }
          });
        });
        panelLoop(w, p, () =>
          w.line(
            `for (rl_index_t t = 0; t < tiles; ++t) ${micro}(ap + t * ${q * mr}, bp, out0 + (bi * ${p.m} + i0 + t * ${mr}) * ${p.n} + jp * ${nr}, ${p.m} - i0 - t * ${mr}, cols);`,
          ),
        );
      });
    });
  });
  return w.toString();
}

/**
 * One output pixel's row of the implicit GEMM packed as pair words: k runs over the kernel's taps
 * (row, column) and the input channels, as HWIO's rows do; taps in the padding are zeros. Each
 * value is stored into its half of the pair's word (little-endian x86: k even low, odd high), the
 * last word zeroed first when K is odd.
 */
function gatherConvRow(w: CodeWriter, p: IntGemmPlan, aType: string): void {
  const g = p.a as Extract<IntGemmPlan['a'], { kind: 'conv' }>;
  // Values per word: pairs of 16 bits, or (SDOT) quads of int8.
  const [per, shift] = p.byteQuads ? [4, 2] : [2, 1];
  if (p.k % per) w.line(`dst[${Math.floor(p.k / per) * p.mr}] = 0;`);
  w.line('rl_index_t k = 0;');
  forEachTap(w, p, aType, () =>
    w.block(`for (rl_index_t c = 0; c < ${g.channels}; ++c, ++k) {`, () => {
      if (p.byteQuads) {
        w.line('const int8_t v = inside ? src[c] : 0;');
        w.line(`memcpy((char*)(dst + (k >> ${shift}) * ${p.mr}) + (k & 3), &v, 1);`);
      } else {
        w.line('const uint16_t v = inside ? (uint16_t)(int16_t)src[c] : 0;');
        w.line(`memcpy((char*)(dst + (k >> ${shift}) * ${p.mr}) + 2 * (k & 1), &v, 2);`);
      }
    }),
  );
}
