/**
 * @fileoverview The integer GEMM's microcontroller kernels (planned in int-gemm.ts): the DSP
 * kernels of Cortex-M4/M7 (SMLAD on 16-bit pairs, four k per step; four columns in LDM steps,
 * rl.h rl_dsp_step4) and Helium's column dots of Cortex-M55 (VMLADAVA of a vector of k per A row
 * and column), each over A's rows in place or a convolution's gathered windows.
 */
import type { CodeWriter } from '../emit-common/code-writer.js';
import { kernelOpening, type KernelParam } from '../emit-common/kernel.js';
import type { IntGemmPlan } from '../kernel/ukernel.js';
import { forEachWindow, forEachWindowInPlace, windowTapOffsets } from './int-windows.js';
import {
  panelColumns,
  panels,
  paddedK,
  storeTile,
  words,
  zeroAccumulators,
  type Accumulator,
} from './int-gemm-parts.js';

/** A convolution on the DSP micro-kernel: each gathered window meets every panel of B. */
export function emitWindowDriver(
  w: CodeWriter,
  p: IntGemmPlan,
  name: string,
  params: readonly KernelParam[],
  aType: string,
  micro: string,
): void {
  w.block(kernelOpening(name, params), () =>
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
export function emitQuadTile(
  w: CodeWriter,
  p: IntGemmPlan,
  head: string,
  aType: string,
  pair: string,
  acc: Accumulator,
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

/** The four-column kernel's sums, as the rl_dsp_* steps take them. */
const fourSums = (acc: Accumulator): string => [0, 1, 2, 3].map((j) => acc(0, j)).join(', ');

/** The last k % 4 of the DSP kernels: whole pairs, then a single k (its pair's high half zero in A
 * and B). */
function quadRemainder(w: CodeWriter, p: IntGemmPlan, pair: string, acc: Accumulator): void {
  for (let k = 4 * Math.floor(p.k / 4); k < p.k; k += 2) {
    const x = k + 1 < p.k ? `${pair}(a0 + ${k})` : `(uint32_t)(uint16_t)(int16_t)a0[${k}]`;
    w.block('{', () => {
      w.line(`const uint32_t x0 = ${x};`);
      if (p.nr === 4) return w.line(`rl_dsp_pair4(x0, b, ${fourSums(acc)});`);
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
export function emitFourColumnRow(
  p: IntGemmPlan,
  name: string,
  params: readonly KernelParam[],
  w: CodeWriter,
  aType: string,
  pair: string,
  acc: Accumulator,
): string {
  const micro = `${name}_row`;
  const groups = Math.floor(p.k / 4);
  const stores = (j: number): string => `rl_vi_store(c + j + ${j}, ${acc(0, j)});`;
  w.block(
    `static __attribute__((noinline)) void ${micro}(const ${aType}* restrict a0, const uint32_t* restrict b, int32_t* restrict c) {`,
    () =>
      w.block(`for (rl_index_t j = 0; j < ${p.n}; j += 4) {`, () => {
        // The first step's SMUAD starts the sums (zeroed here only for K < 4).
        if (groups) w.line(`rl_vi ${fourSums(acc)};`);
        else zeroAccumulators(w, p, acc);
        if (groups) fourColumnSteps(w, p, groups, aType === 'int8_t', fourSums(acc));
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
 * one LDRD; a row in place: two loads; i8: one load split by SXTB16) and runs rl_dsp_step4 (the
 * first rl_dsp_first4, which starts the sums), with no loop control for a short K (the compare and
 * branch were three of 29 instructions per step).
 */
function fourColumnSteps(w: CodeWriter, p: IntGemmPlan, groups: number, i8: boolean, sums: string): void {
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
  const step = `{ ${load} rl_dsp_step4(x0, x1, b, ${sums}); }`;
  w.line(`{ ${load} rl_dsp_first4(x0, x1, b, ${sums}); }`);
  const rest = groups - 1;
  const unroll = rest <= UNROLLED_QUAD_STEPS ? rest : 4;
  const loops = unroll ? Math.floor(rest / unroll) : 0;
  if (loops > 1)
    w.block(`for (rl_index_t s = 0; s < ${loops}; ++s) {`, () => {
      for (let u = 0; u < unroll; u++) w.line(step);
    });
  else for (let u = 0; u < unroll; u++) w.line(step);
  for (let r = 0; r < (unroll ? rest % unroll : 0); r++) w.line(step);
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
  if (taps) w.block(kernelOpening(name, params), () => forEachWindowInPlace(w, p, t, () => row('0', 'row', 'src')));
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
  w.block(kernelOpening(name, params), () => {
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
export function emitColumnDotIntGemm(
  p: IntGemmPlan,
  name: string,
  params: readonly KernelParam[],
  w: CodeWriter,
): string {
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
