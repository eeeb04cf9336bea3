/**
 * @fileoverview Static memory planning: every intermediate gets an arena offset. Liveness is
 * computed over the flat op order; buffers are packed best-fit (smallest free gap that fits,
 * largest buffers placed first at each step's allocation), so buffers whose lifetimes do not
 * overlap share memory. Reports the peak, the liveness lower bound and the no-reuse sum.
 */
import { numElements } from '../ir/types.js';
import type { FlatOp, Sym } from '../emit-c/kernels.js';

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

export const ALIGNMENT = 64;
const align = (n: number): number => Math.ceil(n / ALIGNMENT) * ALIGNMENT;

export function bytesOf(s: Sym, elemBytes: (s: Sym) => number): number {
  return s.type.kind === 'tensor' ? numElements(s.type.shape) * elemBytes(s) : 0;
}

/** Plans the arena for `ops`; `external` symbols (inputs, weights) live elsewhere. */
export function planMemory(
  ops: readonly FlatOp[],
  external: ReadonlySet<Sym>,
  outputs: readonly Sym[],
  elemBytes: (s: Sym) => number,
  canWriteInPlace: (f: FlatOp) => boolean = () => false,
): MemoryPlan {
  const def = new Map<Sym, number>();
  const lastUse = new Map<Sym, number>();
  ops.forEach((f, i) => {
    for (const s of f.outs) def.set(s, i);
    for (const s of f.ins) lastUse.set(s, i);
  });
  // Outputs stay live to the end (they are copied to the caller's buffers after the last kernel).
  for (const s of outputs) lastUse.set(s, ops.length);
  const syms = [...def.keys()].filter((s) => !external.has(s));
  const size = (s: Sym): number => align(Math.max(1, bytesOf(s, elemBytes)));
  const live: { start: number; end: number; off: number; size: number }[] = [];
  const blockOf = new Map<Sym, (typeof live)[number]>();
  const offsets = new Map<Sym, number>();
  const inPlace = new Set<FlatOp>();
  let arena = 0;
  let noReuse = 0;
  // Allocate in definition order; a buffer is live from its def to its last use (inclusive), so
  // an op's inputs and outputs share memory only through the in-place rule below.
  for (const s of syms.sort((a, b) => def.get(a)! - def.get(b)!)) {
    const start = def.get(s)!;
    const end = lastUse.get(s) ?? start;
    const sz = size(s);
    noReuse += sz;
    // In place: an elementwise op may write over an input of the same size whose last use it is.
    const f = ops[start]!;
    if (f.outs.length === 1 && canWriteInPlace(f)) {
      // Same element size and count: element i of the result lands exactly on element i of the input.
      const sameLayout = (x: Sym): boolean => elemBytes(x) === elemBytes(s) && bytesOf(x, elemBytes) === bytesOf(s, elemBytes);
      const victim = f.ins.find((x) => blockOf.has(x) && lastUse.get(x) === start && sameLayout(x) && f.ins.indexOf(x) === f.ins.lastIndexOf(x));
      if (victim) {
        const b = blockOf.get(victim)!;
        b.end = Math.max(b.end, end);
        blockOf.set(s, b);
        offsets.set(s, b.off);
        inPlace.add(f);
        continue;
      }
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
  for (let i = 0; i <= ops.length; i++) lowerBound = Math.max(lowerBound, live.filter((b) => b.start <= i && i <= b.end).reduce((n, b) => n + b.size, 0));
  return { offsets, arenaBytes: arena, lowerBound, noReuseBytes: noReuse, alignment: ALIGNMENT, inPlace };
}

/** Plan for programs with control flow (loops through gotos): every buffer gets its own place,
 * since linear liveness does not hold across back edges. */
export function planWithoutReuse(syms: readonly Sym[], elemBytes: (s: Sym) => number): MemoryPlan {
  const offsets = new Map<Sym, number>();
  let arena = 0;
  for (const s of syms) {
    if (offsets.has(s)) continue;
    offsets.set(s, arena);
    arena += align(Math.max(1, bytesOf(s, elemBytes)));
  }
  return { offsets, arenaBytes: arena, lowerBound: arena, noReuseBytes: arena, alignment: ALIGNMENT, inPlace: new Set() };
}
