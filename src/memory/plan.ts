/**
 * @fileoverview Static memory planning: every intermediate gets an arena offset. Liveness is
 * computed over the flat op order; buffers are packed best-fit (smallest free gap that fits,
 * largest buffers placed first at each step's allocation), so buffers whose lifetimes do not
 * overlap share memory. Reports the peak, the liveness lower bound and the no-reuse sum.
 */
import { numElements } from '../ir/types.js';
import type { FlatOp, Sym } from '../flat/program.js';

export interface MemoryPlan {
  readonly offsets: ReadonlyMap<Sym, number>;
  readonly arenaBytes: number;
  /** Max over steps of the bytes live at once: no plan can use less. */
  readonly lowerBound: number;
  /** Sum of all intermediate buffer sizes (what no reuse would need). */
  readonly noReuseBytes: number;
  readonly alignment: number;
  /** Ops whose output was placed in the buffer of an input that dies there (in-place). */
  readonly inPlace: ReadonlySet<FlatOp>;
}

const ALIGNMENT = 64;
const align = (n: number): number => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

export function bytesOf(s: Sym, elemBytes: (s: Sym) => number): number {
  return s.type.kind === 'tensor' ? numElements(s.type.shape) * elemBytes(s) : 0;
}

/** A buffer's lifetime in steps of the program, both ends included. */
export interface LiveRange {
  start: number;
  end: number;
}

/** Plans the arena for `ops`; `external` symbols (inputs, weights) live elsewhere. */
export function planMemory(
  ops: readonly FlatOp[],
  external: ReadonlySet<Sym>,
  outputs: readonly Sym[],
  elemBytes: (s: Sym) => number,
  canWriteInPlace: (f: FlatOp) => boolean = () => false,
): MemoryPlan {
  const ranges = new Map<Sym, LiveRange>();
  ops.forEach((f, i) => {
    for (const s of f.outs) ranges.set(s, { start: i, end: i });
  });
  ops.forEach((f, i) => {
    for (const s of f.ins) {
      const r = ranges.get(s);
      if (r) r.end = i;
    }
  });
  // Outputs stay live to the end (they are copied to the caller's buffers after the last kernel).
  for (const s of outputs) {
    const r = ranges.get(s);
    if (r) r.end = ops.length;
  }
  for (const s of external) ranges.delete(s);
  // In place: an elementwise op may write over an input of the same size whose last use it is.
  const inPlaceVictim = (s: Sym, blockOf: ReadonlyMap<Sym, unknown>): { victim: Sym; op: FlatOp } | undefined => {
    const start = ranges.get(s)!.start;
    const f = ops[start]!;
    if (f.outs.length !== 1 || !canWriteInPlace(f)) return undefined;
    // Same element size and count: element i of the result lands exactly on element i of the input.
    const sameLayout = (x: Sym): boolean =>
      elemBytes(x) === elemBytes(s) && bytesOf(x, elemBytes) === bytesOf(s, elemBytes);
    const victim = f.ins.find(
      (x) =>
        blockOf.has(x) && ranges.get(x)?.end === start && sameLayout(x) && f.ins.indexOf(x) === f.ins.lastIndexOf(x),
    );
    return victim ? { victim, op: f } : undefined;
  };
  return packBestFit(ranges, ops.length, elemBytes, inPlaceVictim);
}

/** One step of a program with jumps, for planWithJumps: what it writes and reads, the label it
 * is, and the labels it may jump to. */
export interface PlanStep {
  readonly defs: readonly Sym[];
  readonly uses: readonly Sym[];
  readonly label?: string;
  readonly jumpsTo?: readonly string[];
}

/**
 * Live ranges over a program with jumps, laid out in program order: first def to last use, then
 * widened for every loop (a jump back to an earlier label spans [label, jump]): a buffer live
 * anywhere in a loop and also before or after it stays live through the whole loop, since the
 * next iteration (or the code after the loop) may still read it. Forward jumps skip code, which a
 * straight-line range already covers. Repeats until no range grows (nested loops).
 */
export function liveRangesWithJumps(steps: readonly PlanStep[], outputs: readonly Sym[]): Map<Sym, LiveRange> {
  const ranges = new Map<Sym, LiveRange>();
  const touch = (s: Sym, i: number): void => {
    const r = ranges.get(s);
    if (!r) ranges.set(s, { start: i, end: i });
    else {
      r.start = Math.min(r.start, i);
      r.end = Math.max(r.end, i);
    }
  };
  steps.forEach((st, i) => [...st.defs, ...st.uses].forEach((s) => touch(s, i)));
  for (const s of outputs) touch(s, steps.length);
  const labelAt = new Map<string, number>();
  steps.forEach((st, i) => st.label !== undefined && labelAt.set(st.label, i));
  const loops: LiveRange[] = [];
  steps.forEach((st, i) =>
    (st.jumpsTo ?? []).forEach(
      (l) => (labelAt.get(l) ?? Infinity) <= i && loops.push({ start: labelAt.get(l)!, end: i }),
    ),
  );
  for (let changed = true; changed;) {
    changed = false;
    for (const r of ranges.values())
      for (const loop of loops) {
        const overlaps = r.start <= loop.end && loop.start <= r.end;
        if (overlaps && (r.start < loop.start || r.end > loop.end) && (r.start > loop.start || r.end < loop.end)) {
          r.start = Math.min(r.start, loop.start);
          r.end = Math.max(r.end, loop.end);
          changed = true;
        }
      }
  }
  return ranges;
}

/**
 * What is wrong with `plan` for `steps` (empty: nothing): two buffers live at the same step that
 * overlap in the arena (except a result written in place over an input that dies at that step),
 * or a value the steps use that has no place. The pipeline tests check every plan with this.
 */
export function planProblems(
  steps: readonly PlanStep[],
  plan: MemoryPlan,
  external: ReadonlySet<Sym>,
  outputs: readonly Sym[],
  elemBytes: (s: Sym) => number,
): string[] {
  const ranges = liveRangesWithJumps(steps, outputs);
  for (const s of external) ranges.delete(s);
  const problems: string[] = [];
  for (const [s] of ranges)
    if (!plan.offsets.has(s) && bytesOf(s, elemBytes) > 0) problems.push(`value ${s.id} has no place in the arena`);
  const placed = [...ranges].filter(([s]) => plan.offsets.has(s));
  const inPlaceOuts = new Set([...plan.inPlace].flatMap((f) => f.outs));
  for (let i = 0; i < placed.length; i++)
    for (let j = i + 1; j < placed.length; j++) {
      const [[a, ra], [b, rb]] = [placed[i]!, placed[j]!];
      if (ra.end < rb.start || rb.end < ra.start) continue;
      const [oa, ob] = [plan.offsets.get(a)!, plan.offsets.get(b)!];
      const [na, nb] = [bytesOf(a, elemBytes), bytesOf(b, elemBytes)];
      if (oa + na <= ob || ob + nb <= oa || na === 0 || nb === 0) continue;
      // In place: one is written, at the step where the other dies, over the other's buffer.
      const handOver = (x: Sym, rx: LiveRange, y: Sym, ry: LiveRange): boolean =>
        inPlaceOuts.has(y) && rx.end === ry.start && plan.offsets.get(x) === plan.offsets.get(y);
      if (handOver(a, ra, b, rb) || handOver(b, rb, a, ra)) continue;
      problems.push(
        `values ${a.id} [${oa}, ${oa + na}) and ${b.id} [${ob}, ${ob + nb}) overlap while both are live (steps ${ra.start}-${ra.end} and ${rb.start}-${rb.end})`,
      );
    }
  for (const [s] of placed)
    if (plan.offsets.get(s)! + bytesOf(s, elemBytes) > plan.arenaBytes)
      problems.push(`value ${s.id} ends past the arena (${plan.arenaBytes} bytes)`);
  return problems;
}

/** Plans a program with jumps (loops, branches): best fit over liveRangesWithJumps, no in-place. */
export function planWithJumps(
  steps: readonly PlanStep[],
  external: ReadonlySet<Sym>,
  outputs: readonly Sym[],
  elemBytes: (s: Sym) => number,
): MemoryPlan {
  const ranges = liveRangesWithJumps(steps, outputs);
  for (const s of external) ranges.delete(s);
  return packBestFit(ranges, steps.length, elemBytes, () => undefined);
}

/**
 * Places every buffer of `ranges` in definition order at the smallest free gap that fits among
 * the buffers live at the same time, or over the
 * input `inPlace` names for it (which then stays live as long as either).
 */
function packBestFit(
  ranges: ReadonlyMap<Sym, LiveRange>,
  steps: number,
  elemBytes: (s: Sym) => number,
  inPlace: (s: Sym, blockOf: ReadonlyMap<Sym, unknown>) => { victim: Sym; op: FlatOp } | undefined,
): MemoryPlan {
  const size = (s: Sym): number => align(Math.max(1, bytesOf(s, elemBytes)));
  const live: { start: number; end: number; off: number; size: number }[] = [];
  const blockOf = new Map<Sym, (typeof live)[number]>();
  const offsets = new Map<Sym, number>();
  const inPlaceOps = new Set<FlatOp>();
  let arena = 0;
  let noReuse = 0;
  const syms = [...ranges.keys()].sort((a, b) => ranges.get(a)!.start - ranges.get(b)!.start);
  for (const s of syms) {
    const { start, end } = ranges.get(s)!;
    const sz = size(s);
    noReuse += sz;
    const shared = inPlace(s, blockOf);
    if (shared) {
      const b = blockOf.get(shared.victim)!;
      b.end = Math.max(b.end, end);
      blockOf.set(s, b);
      offsets.set(s, b.off);
      inPlaceOps.add(shared.op);
      continue;
    }
    const busy = live.filter((b) => b.start <= end && start <= b.end).sort((a, b) => a.off - b.off);
    let best = -1;
    let bestGap = Infinity;
    let cursor = 0;
    for (const b of busy) {
      const gap = b.off - cursor;
      if (gap >= sz && gap < bestGap) {
        best = cursor;
        bestGap = gap;
      }
      cursor = Math.max(cursor, b.off + b.size);
    }
    if (best < 0) best = cursor;
    offsets.set(s, best);
    const block = { start, end, off: best, size: sz };
    live.push(block);
    blockOf.set(s, block);
    arena = Math.max(arena, best + sz);
  }
  // Lower bound: the most bytes live at once (buffers shared in place count once).
  let lowerBound = 0;
  for (let i = 0; i <= steps; i++)
    lowerBound = Math.max(
      lowerBound,
      live.filter((b) => b.start <= i && i <= b.end).reduce((n, b) => n + b.size, 0),
    );
  return { offsets, arenaBytes: arena, lowerBound, noReuseBytes: noReuse, alignment: ALIGNMENT, inPlace: inPlaceOps };
}
