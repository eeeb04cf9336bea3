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
 * product, int8 x int8 tiles pack four k per word (byteQuads) for SDOT (rl_vi_dot4).
 */
import type { Target } from '../target/targets.js';
import { CodeWriter } from '../emit-common/code-writer.js';
import type { KernelParam } from '../emit-common/kernel.js';
import { getElem, type Tensor } from '../ir/tensor.js';
import { gemmShape, intWeightPacking, type IntGemmPlan } from '../kernel/ukernel.js';
import { intElem, type IntElem } from '../ir/types.js';
import type { FlatOp } from '../flat/program.js';
import { forEachTap, forEachWindow, forEachWindowInPlace, windowTapOffsets } from './int-windows.js';

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

/** Packed words per column (and per A row of a vector tile): pairs of k, or quads of int8 k. */
const words = (p: IntGemmPlan): number => Math.ceil(p.k / (p.byteQuads ? 4 : 2));
const panels = (p: IntGemmPlan): number => Math.ceil(p.n / p.nr);

/** Elements per column of the column-dot layout: K rounded up to whole vectors (128 bits). */
const paddedK = (p: IntGemmPlan): number => {
  const lanes = 128 / p.columnDot!;
  return Math.ceil(p.k / lanes) * lanes;
};

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
  w.block(`RL_KERNEL void ${name}(${params.map((x) => `${x.cType} ${x.name}`).join(', ')}) {`, () => {
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

/** A convolution on the DSP micro-kernel: each gathered window meets every panel of B. */
function emitWindowDriver(
  w: CodeWriter,
  p: IntGemmPlan,
  name: string,
  params: readonly KernelParam[],
  aType: string,
  micro: string,
): void {
  w.block(`RL_KERNEL void ${name}(${params.map((x) => `${x.cType} ${x.name}`).join(', ')}) {`, () =>
    forEachWindow(w, p, aType, () =>
      w.block(`for (rl_index_t jp = 0; jp < ${panels(p)}; ++jp) {`, () => {
        w.line(panelColumns(p));
        w.line(`${micro}(window, in1 + jp * ${words(p) * p.nr}, out0 + row * ${p.n} + jp * ${p.nr}, 1, cols);`);
      }),
    ),
  );
}

/**
 * The DSP micro-kernel (plan.quads): one row by nr columns, four k per step. A's four values are
 * one word (i8: SXTB16 splits it into the pairs (k0, k2), (k1, k3)) or two pair words (i16); each
 * column's two words come in one LDRD; the loop counts an index up to zero, so its add sets the
 * flags the branch reads. The last k % 4 values run as pairs.
 */
function emitQuadTile(
  w: CodeWriter,
  p: IntGemmPlan,
  head: string,
  aType: string,
  pair: string,
  acc: (i: number, j: number) => string,
): void {
  const groups = Math.floor(p.k / 4);
  const i8 = aType === 'int8_t';
  w.block(head, () => {
    zeroAccumulators(w, p, acc);
    if (groups > 0) {
      w.line(`const ${aType}* restrict a_end = a0 + ${4 * groups};`);
      w.block(`for (rl_index_t i = -${4 * groups}; i != 0; i += 4) {`, () => {
        if (i8) w.line('const uint32_t x = rl_word(a_end + i), x0 = rl_sxtb16(x), x1 = rl_sxtb16_ror8(x);');
        else w.line('const uint32_t x0 = rl_pair_i16(a_end + i), x1 = rl_pair_i16(a_end + i + 2);');
        for (let j = 0; j < p.nr; j++)
          w.line(
            `{ uint32_t y0, y1; rl_load2(b, y0, y1); ${acc(0, j)} = rl_smlad(x0, y0, ${acc(0, j)}); ${acc(0, j)} = rl_smlad(x1, y1, ${acc(0, j)}); }`,
          );
      });
    }
    quadRemainder(w, p, pair, acc);
    storeTile(w, p, acc);
  });
}

/** The last k % 4 of the DSP kernels: whole pairs, then a single k (its pair's high half zero in A
 * and B). */
function quadRemainder(w: CodeWriter, p: IntGemmPlan, pair: string, acc: (i: number, j: number) => string): void {
  for (let k = 4 * Math.floor(p.k / 4); k < p.k; k += 2) {
    const x = k + 1 < p.k ? `${pair}(a0 + ${k})` : `(uint32_t)(uint16_t)(int16_t)a0[${k}]`;
    w.block('{', () => {
      w.line(`const uint32_t x0 = ${x};`);
      for (let j = 0; j < p.nr; j++) w.line(`${acc(0, j)} = rl_smlad(x0, b[${j}], ${acc(0, j)});`);
      w.line(`b += ${p.nr};`);
    });
  }
}

/**
 * The DSP kernel of four columns (plan.quads, nr = 4): one call per A row (a gathered window or a
 * row in place), its panels in a loop inside (a call per panel cost its argument setup, register
 * saves and guarded stores: about 25 instructions each, a fifth of a K = 9 panel's), B's panels
 * read one after the other.
 */
function emitFourColumnRow(
  p: IntGemmPlan,
  name: string,
  params: readonly KernelParam[],
  w: CodeWriter,
  aType: string,
  pair: string,
  acc: (i: number, j: number) => string,
): string {
  const micro = `${name}_row`;
  const groups = Math.floor(p.k / 4);
  const stores = (j: number): string => `rl_vi_store(c + j + ${j}, ${acc(0, j)});`;
  w.block(
    `static __attribute__((noinline)) void ${micro}(const ${aType}* restrict a0, const uint32_t* restrict b, int32_t* restrict c) {`,
    () =>
      w.block(`for (rl_index_t j = 0; j < ${p.n}; j += 4) {`, () => {
        zeroAccumulators(w, p, acc);
        if (groups) fourColumnSteps(w, p, groups, aType === 'int8_t');
        quadRemainder(w, p, pair, acc);
        const all = [0, 1, 2, 3].map(stores).join(' ');
        if (p.n % 4 === 0) w.line(all);
        else
          w.line(
            `if (j + 4 <= ${p.n}) { ${all} } else { ${[0, 1, 2].map((q) => `${q ? `if (j + ${q} < ${p.n}) ` : ''}${stores(q)}`).join(' ')} }`,
          );
      }),
  );
  w.line('');
  columnDotDriver(w, p, name, params, aType, (bi, row, a) =>
    w.line(`${micro}(${a}, in1 + ${bi} * ${panels(p) * words(p) * 4}, out0 + (${bi} * ${p.m} + ${row}) * ${p.n});`),
  );
  return w.toString();
}

/** Steps of four k up to this many are unrolled whole (K = 144: 36 steps, 1.6 KB of code); more
 * run in a loop of four steps. */
const UNROLLED_QUAD_STEPS = 40;

/**
 * The four-column DSP steps: each loads A's four k (a gathered window, word-aligned in scratch:
 * one LDRD; a row in place: two loads; i8: one load split by SXTB16) and runs rl_dsp_step4, with
 * no loop control for a short K (the compare and branch were three of 29 instructions per step).
 */
function fourColumnSteps(w: CodeWriter, p: IntGemmPlan, groups: number, i8: boolean): void {
  const aligned = p.a.kind === 'conv' && !i8;
  w.line(
    aligned
      ? 'const uint32_t* restrict aw = (const uint32_t*)(const void*)a0;'
      : `const ${i8 ? 'int8_t' : 'int16_t'}* restrict a = a0;`,
  );
  const load = i8
    ? 'const uint32_t x = rl_word(a), x0 = rl_sxtb16(x), x1 = rl_sxtb16_ror8(x); a += 4;'
    : aligned
      ? 'uint32_t x0, x1; rl_load2(aw, x0, x1);'
      : 'const uint32_t x0 = rl_pair_i16(a), x1 = rl_pair_i16(a + 2); a += 4;';
  const step = `{ ${load} rl_dsp_step4(x0, x1, b, c0_0, c0_1, c0_2, c0_3); }`;
  const unroll = groups <= UNROLLED_QUAD_STEPS ? groups : 4;
  const loops = Math.floor(groups / unroll);
  if (loops > 1)
    w.block(`for (rl_index_t s = 0; s < ${loops}; ++s) {`, () => {
      for (let u = 0; u < unroll; u++) w.line(step);
    });
  else for (let u = 0; u < unroll; u++) w.line(step);
  for (let r = 0; r < groups % unroll; r++) w.line(step);
}

/** The tile's accumulators, zeroed. */
function zeroAccumulators(w: CodeWriter, p: IntGemmPlan, acc: (i: number, j: number) => string): void {
  for (let i = 0; i < p.mr; i++)
    w.line(`rl_vi ${Array.from({ length: p.nr / p.lanes }, (_, j) => `${acc(i, j)} = rl_vi_zero()`).join(', ')};`);
}

/** `cols`: how many of panel jp's nr columns exist. */
const panelColumns = (p: IntGemmPlan): string =>
  `const rl_index_t cols = ${p.n} - jp * ${p.nr} < ${p.nr} ? ${p.n} - jp * ${p.nr} : ${p.nr};`;

/** The loop over B's panels of nr columns, in batch entry `bi`: `bp` the panel's packed words,
 * `cols` how many of its columns exist. */
function panelLoop(w: CodeWriter, p: IntGemmPlan, body: () => void): void {
  w.block(`for (rl_index_t jp = 0; jp < ${panels(p)}; ++jp) {`, () => {
    w.line(`const uint32_t* restrict bp = in1 + (bi * ${panels(p)} + jp) * ${words(p) * p.nr};`);
    w.line(panelColumns(p));
    body();
  });
}

/** The micro-kernel's stores: rows and columns past the end are computed (on aliased or zero rows
 * and zero weights) and not stored. */
function storeTile(w: CodeWriter, p: IntGemmPlan, acc: (i: number, j: number) => string): void {
  for (let i = 0; i < p.mr; i++)
    for (let j = 0; j < p.nr / p.lanes; j++) {
      const at = `c + ${i * p.n + j * p.lanes}`;
      if (p.lanes === 1) w.line(`if (rows > ${i} && cols > ${j}) rl_vi_store(${at}, ${acc(i, j)});`);
      else
        w.line(
          `if (rows > ${i} && cols > ${j * p.lanes}) { if (cols >= ${(j + 1) * p.lanes}) rl_vi_store(${at}, ${acc(i, j)}); else rl_vi_store_n(${at}, ${acc(i, j)}, (int)cols - ${j * p.lanes}); }`,
        );
    }
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
  acc: (i: number, j: number) => string,
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
  w.block(`RL_KERNEL void ${name}(${params.map((x) => `${x.cType} ${x.name}`).join(', ')}) {`, () => {
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

/**
 * The column-dot variant for K within one vector (a few-channel convolution's windows: 9 taps of
 * a one-channel image): each A row is one (predicated) load, and every column of B one load and
 * one VMLADAV (no accumulator to add to) into its output, all N columns in one call with one base
 * pointer (the columns lie a vector apart), no k loop and no accumulators to carry. A window that
 * can be read in place (windowTapOffsets) is one gather load from the image, with no copy; its
 * lanes past K read the first tap again, which meets the columns' zero padding.
 */
function emitOneVectorColumnDot(p: IntGemmPlan, name: string, params: readonly KernelParam[], w: CodeWriter): string {
  const bits = p.columnDot!;
  const [t, lanes, s] = [`int${bits}_t`, 128 / bits, `s${bits}`];
  const micro = `${name}_row`;
  const taps = p.a.kind === 'conv' ? windowTapOffsets(p, bits) : undefined;
  if (taps) {
    const offsets = Array.from({ length: lanes }, (_, i) => taps[i] ?? 0);
    w.line(
      `static const uint${bits}_t ${name}_taps[${lanes}] = {${offsets.join(', ')}}; /* each k's element offset */`,
    );
  }
  w.block(
    `static __attribute__((noinline)) void ${micro}(const ${t}* restrict a, const ${t}* restrict b, int32_t* restrict c) {`,
    () => {
      const x = taps
        ? `rl_vd_gather_${s}(a, vld1q_u${bits}(${name}_taps))`
        : p.k === lanes
          ? `rl_vd_load_${s}(a)`
          : `rl_vd_tail_${s}(a, ${p.k})`;
      w.line(`const ${bits === 8 ? 'int8x16_t' : 'int16x8_t'} x = ${x};`);
      // Unrolled (up to 32 columns): each column is then a load with an immediate offset, a
      // VMLADAV and a store; the loop's counter and branch would be two more per column.
      if (p.n <= 32) w.line(`#pragma GCC unroll ${p.n}`);
      w.line(`for (rl_index_t j = 0; j < ${p.n}; ++j) c[j] = rl_vd_dot0_${s}(x, rl_vd_load_${s}(b + j * ${lanes}));`);
    },
  );
  w.line('');
  const np = panels(p) * p.nr;
  const row = (bi: string, index: string, a: string): void =>
    w.line(`${micro}(${a}, in1 + ${bi} * ${np * lanes}, out0 + (${bi} * ${p.m} + ${index}) * ${p.n});`);
  if (taps)
    w.block(`RL_KERNEL void ${name}(${params.map((x) => `${x.cType} ${x.name}`).join(', ')}) {`, () =>
      forEachWindowInPlace(w, p, t, () => row('0', 'row', 'src')),
    );
  else columnDotDriver(w, p, name, params, t, row);
  return w.toString();
}

/** The kernel around a column-dot row function: `row` runs for each A row (a gathered window of
 * a convolution, or a row of A read in place) with its batch entry, row index and pointer. */
function columnDotDriver(
  w: CodeWriter,
  p: IntGemmPlan,
  name: string,
  params: readonly KernelParam[],
  t: string,
  row: (bi: string, index: string, a: string) => void,
): void {
  w.block(`RL_KERNEL void ${name}(${params.map((x) => `${x.cType} ${x.name}`).join(', ')}) {`, () => {
    if (p.a.kind === 'conv') return forEachWindow(w, p, t, () => row('0', 'row', 'window'));
    const a = p.a;
    w.line('(void)scratch;');
    w.block(`for (rl_index_t bi = 0; bi < ${p.batch}; ++bi) {`, () => {
      w.block(`for (rl_index_t i = 0; i < ${p.m}; ++i) {`, () =>
        row('bi', 'i', `in0 + bi * ${a.batchStride} + i * ${a.mStride}`),
      );
    });
  });
}

/**
 * Helium's column-dot variant: one A row (read in place) against every weight column in one
 * call, nr columns at a time, each a run of K integers of A's width: per vector of k, one A load,
 * nr column loads and nr VMLADAVAs into general-register accumulators. Each column comes as a
 * pointer of its own, advanced with its loads (post-increment addressing; given one base, gcc
 * recomputed base + offset per load, the columns lying further apart than a vector load's offset
 * reaches); the last partial vector loads A predicated (lanes past K zero; the columns are
 * zero-padded there). Columns past N are zero and not stored.
 */
function emitColumnDotIntGemm(p: IntGemmPlan, name: string, params: readonly KernelParam[], w: CodeWriter): string {
  const bits = p.columnDot!;
  const [t, lanes, kp, nr] = [`int${bits}_t`, 128 / bits, paddedK(p), p.nr];
  const s = `s${bits}`;
  const full = Math.floor(p.k / lanes) * lanes;
  const micro = `${name}_row`;
  if (kp === lanes) return emitOneVectorColumnDot(p, name, params, w);
  const cols = Array.from({ length: nr }, (_, j) => j);
  // One call per A row, its panels of nr columns in a loop inside (a call per panel cost its
  // argument setup and register saves each time).
  w.block(
    `static __attribute__((noinline)) void ${micro}(const ${t}* restrict a0, const ${t}* restrict b, int32_t* restrict c) {`,
    () =>
      w.block(`for (rl_index_t j = 0; j < ${p.n}; j += ${nr}) {`, () => {
        w.line(`const ${t}* restrict a = a0;`);
        for (const c of cols) w.line(`const ${t}* restrict b${c} = b + (j + ${c}) * ${kp};`);
        w.line(`int32_t ${cols.map((c) => `c${c} = 0`).join(', ')};`);
        const step = (load: string): void =>
          w.line(
            `{ const ${s === 's8' ? 'int8x16_t' : 'int16x8_t'} x = ${load}; ${cols.map((c) => `c${c} = rl_vd_dot_${s}(c${c}, x, rl_vd_load_${s}(b${c})); b${c} += ${lanes};`).join(' ')} }`,
          );
        if (full)
          w.block(`for (rl_index_t k = 0; k < ${full}; k += ${lanes}) {`, () => {
            step(`rl_vd_load_${s}(a)`);
            w.line(`a += ${lanes};`);
          });
        if (p.k > full) step(`rl_vd_tail_${s}(a, ${p.k - full})`);
        for (const c of cols) w.line(c === 0 ? `c[j] = c0;` : `if (j + ${c} < ${p.n}) c[j + ${c}] = c${c};`);
      }),
  );
  w.line('');
  const columns = (bi: string, row: string, a: string): void =>
    w.line(`${micro}(${a}, in1 + ${bi} * ${panels(p) * nr * kp}, out0 + (${bi} * ${p.m} + ${row}) * ${p.n});`);
  columnDotDriver(w, p, name, params, t, columns);
  return w.toString();
}
