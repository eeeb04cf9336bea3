/**
 * @fileoverview The f32 GEMM path's schedule (emit-c/gemm.ts generates the code): the register
 * tile from a cost model (cycles on out-of-order cores, instructions on microcontrollers), the k
 * and m blocks from the target's caches, whether A is read in place, packed or through row
 * pointers, and the candidates `--autotune` times.
 */
import type { Target } from '../target/targets.js';
import type { GemmPlan, GemmTiling, TileChoice } from '../kernel/ukernel.js';

/** f32 lanes of the micro-kernels' rl_vf (1: scalar micro-kernels). */
export const ukernelLanes = (target: Target): number => Math.max(1, target.vectorBits / 32);

/** A GEMM's plan with tile `choice` (the cost model's where there is none, or where it does not fit
 * this target: a tuning file from another machine). */
export function tiledPlan(base: Omit<GemmPlan, 'aMode' | 'tiling'>, target: Target, choice?: TileChoice): GemmPlan {
  const a = base.a;
  const f32A = base.elems.a.kind === 'float' && base.elems.a.name === 'f32';
  // Indirect GEMM when a tap's channels make a worthwhile k block (few channels: pack instead).
  const indirect = a.kind === 'conv' && a.channels >= 16 && a.channels <= 512 && f32A;
  const maxRows = maxTileRows(indirect, target);
  const tiling =
    choice && tileFits(choice, target, maxRows)
      ? blockedTiling(base.m, target, choice.mr, choice.nrv, Math.min(base.k, choice.kc))
      : chooseTiling(base.m, base.n, base.k, target, maxRows);
  // A is read in place unless its rows lie a multiple of 4 KiB apart: then a tile's rows share one
  // L1 set and evict each other (1024^3: 0.80x of OpenBLAS in place, 1.02x packed); packing costs
  // the small shapes more than it saves them.
  const rowsAlias = a.kind === 'matrix' && (a.mStride * 4) % 4096 === 0 && base.m > tiling.mr;
  const aMode =
    a.kind === 'matrix' && a.kStride === 1 && f32A && !rowsAlias ? 'direct' : indirect ? 'indirect' : 'packed';
  // Indirect k blocks hold whole taps: as many as fit the L1-sized block (at least one).
  const kc = indirect
    ? a.channels * Math.max(1, Math.min(a.kernelHeight * a.kernelWidth, Math.floor(tiling.kc / a.channels)))
    : tiling.kc;
  return { ...base, aMode, tiling: { ...tiling, kc } };
}

/** The most rows a tile may have: an indirect GEMM's micro-kernel keeps one row pointer per tile
 * row in a general register (plus the B pointer, the k index and its bound): more rows would spill
 * pointers inside the k loop. */
const maxTileRows = (indirect: boolean, target: Target): number => (indirect ? target.generalRegisters - 4 : 16);

/** The tiles `--autotune` times for a GEMM: the cost model's best few, and its first with half and
 * twice its k block. */
export function tileCandidates(p: GemmPlan, target: Target, count = 4): TileChoice[] {
  const choices = rankedTiles(p.m, p.n, target, maxTileRows(p.aMode === 'indirect', target))
    .slice(0, count)
    .map(({ mr, nrv }) => ({ mr, nrv, kc: defaultKc(p.m, p.k, target, mr, nrv) }));
  const first = choices[0]!;
  for (const kc of [Math.max(16, first.kc >> 1), Math.min(p.k, first.kc * 2)])
    if (!choices.some((c) => c.mr === first.mr && c.nrv === first.nrv && c.kc === kc)) choices.push({ ...first, kc });
  return choices;
}

/**
 * Register tile from a cost model: cycles per k step are bounded by FMA throughput (2 per cycle),
 * loads (nrv B vectors + mr A broadcasts, 2 per cycle) and FMA latency (each accumulator takes one
 * FMA per step; 4 cycles, plus slack for the loads: 6), times the tiles needed to cover the padded
 * M x N. Ties go to more accumulators. Registers must hold mr x nrv accumulators, nrv B vectors
 * and one A broadcast.
 * Microcontroller cores (in order, about one instruction per cycle, no load latency worth hiding
 * from tightly coupled memory) count instructions instead: per k step mr x nrv FMAs, nrv B loads,
 * mr A loads and the loop's 3 (not unrolled: gcc's unrolled loops measured longer); B vectors are
 * loaded one at a time, A scalars stay in general registers (Helium's VFMA by a scalar) or, without
 * SIMD, in FPU registers.
 */
function chooseTiling(m: number, n: number, k: number, target: Target, maxRows = 16): GemmTiling {
  const { mr, nrv } = rankedTiles(m, n, target, maxRows)[0]!;
  return blockedTiling(m, target, mr, nrv, defaultKc(m, k, target, mr, nrv));
}

/** Registers a tile takes: its accumulators, then (out of order) its B vectors, one A broadcast
 * and one register left to gcc (all 16 of AVX2's taken, a 4 x 3 tile ran at 0.73x of 6 x 2); in
 * order, one B vector and (without SIMD) the A scalars. */
function tileRegisters(mr: number, nrv: number, target: Target): number {
  const lanes = ukernelLanes(target);
  return target.os === 'bare-metal' ? mr * nrv + 1 + (lanes === 1 ? mr : 0) : mr * nrv + nrv + 2;
}

const tileFits = (t: TileChoice, target: Target, maxRows: number): boolean =>
  t.mr >= 1 &&
  t.mr <= maxRows &&
  t.nrv >= 1 &&
  t.kc >= 1 &&
  tileRegisters(t.mr, t.nrv, target) <= target.vectorRegisters;

/** Every tile that fits the registers, cheapest first by the cost model above (ties: more accumulators). */
export function rankedTiles(m: number, n: number, target: Target, maxRows = 16): { mr: number; nrv: number }[] {
  const lanes = ukernelLanes(target);
  const inOrder = target.os === 'bare-metal';
  const tiles: { cost: number; mr: number; nrv: number }[] = [];
  for (let nrv = 1; nrv <= (lanes === 1 ? 16 : 8); nrv++)
    for (let mr = 1; mr <= maxRows; mr++) {
      if (tileRegisters(mr, nrv, target) > target.vectorRegisters) continue;
      const perStep = inOrder ? mr * nrv + mr + nrv + 3 : Math.max((mr * nrv) / 2, (mr + nrv) / 2, 6);
      tiles.push({ cost: Math.ceil(m / mr) * Math.ceil(n / (nrv * lanes)) * perStep, mr, nrv });
    }
  return tiles.sort((x, y) => (Math.abs(x.cost - y.cost) < 1e-9 ? y.mr * y.nrv - x.mr * x.nrv : x.cost - y.cost));
}

/** The k block: all of k for one A panel (small M: B is not reused across rows, so blocking K would
 * only add C traffic) and on microcontrollers (no cache to block for); else B's micro-panel in
 * half the L1. */
export function defaultKc(m: number, k: number, target: Target, mr: number, nrv: number): number {
  const nr = nrv * ukernelLanes(target);
  return m <= mr || target.os === 'bare-metal'
    ? k
    : Math.min(k, Math.max(16, Math.floor(target.cache.l1 / 2 / (nr * 4))));
}

/** The full tiling of a tile and k block: the m block holds A's block in half the L2. */
function blockedTiling(m: number, target: Target, mr: number, nrv: number, kc: number): GemmTiling {
  const lanes = ukernelLanes(target);
  const inOrder = target.os === 'bare-metal';
  const mc = Math.min(Math.ceil(m / mr) * mr, Math.max(mr, Math.floor(target.cache.l2 / 2 / (kc * 4) / mr) * mr));
  return { lanes, mr, nrv, nr: nrv * lanes, kc, mc, inlineMicroKernel: !inOrder, bVectorsInRegisters: !inOrder };
}
