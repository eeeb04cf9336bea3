/**
 * @fileoverview Pieces the integer GEMM's kernels share (int-gemm.ts: the plan, packing and
 * vector tiles; int-gemm-mcu.ts: the microcontrollers' kernels): the packed layout's sizes, a
 * tile's accumulators and guarded stores.
 */
import type { CodeWriter } from '../emit-common/code-writer.js';
import type { IntGemmPlan } from '../kernel/ukernel.js';

/** A tile's accumulator name for row i, column (or vector) j. */
export type Accumulator = (i: number, j: number) => string;

/** Packed words per column (and per A row of a vector tile): pairs of k, or quads of int8 k. */
export const words = (p: IntGemmPlan): number => Math.ceil(p.k / (p.byteQuads ? 4 : 2));
export const panels = (p: IntGemmPlan): number => Math.ceil(p.n / p.nr);

/** Elements per column of the column-dot layout: K rounded up to whole vectors (128 bits). */
export const paddedK = (p: IntGemmPlan): number => {
  const lanes = 128 / p.columnDot!;
  return Math.ceil(p.k / lanes) * lanes;
};

/** The tile's accumulators, zeroed. */
export function zeroAccumulators(w: CodeWriter, p: IntGemmPlan, acc: Accumulator): void {
  for (let i = 0; i < p.mr; i++)
    w.line(`rl_vi ${Array.from({ length: p.nr / p.lanes }, (_, j) => `${acc(i, j)} = rl_vi_zero()`).join(', ')};`);
}

/** `cols`: how many of panel jp's nr columns exist. */
export const panelColumns = (p: IntGemmPlan): string =>
  `const rl_index_t cols = ${p.n} - jp * ${p.nr} < ${p.nr} ? ${p.n} - jp * ${p.nr} : ${p.nr};`;

/** The micro-kernel's stores: rows and columns past the end are computed (on aliased or zero rows
 * and zero weights) and not stored. */
export function storeTile(w: CodeWriter, p: IntGemmPlan, acc: Accumulator): void {
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
