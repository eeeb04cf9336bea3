/**
 * @fileoverview Which reduction kernels the CUDA renderer runs as block reductions: one block per
 * output element, its threads striding the reduced elements, their partial results combined
 * through warp shuffles and shared memory. A kernel qualifies when its body is the shape the
 * reduce lowerings build (kernel/lower-reduce.ts reduce, kernel/fused.ts fusedReduceBody): a nest
 * of parallel loops over the kept dimensions (or none) around one output's statements: an
 * accumulator starting at the init value, a nest of sequential loops over the reduced dimensions
 * ending in `acc = round(combiner(acc, x))`, and the store of the accumulator. The combiner must
 * be associative and commutative with an identity (add, multiply, maximum, minimum, and, or) on a
 * real, integer or boolean type: the threads' order differs from the interpreter's, which for
 * floating-point sums is within the reductions' stated tolerance, and exact for the others.
 */
import type { ElemType } from '../ir/types.js';
import { div, mod, type Idx } from '../ir/index-expr.js';
import type { Stmt, Val } from '../kernel/ir.js';
import { localsUsed } from '../kernel/analysis.js';

type Loop = Extract<Stmt, { k: 'loop' }>;
type Op = Extract<Val, { k: 'op' }>;

/** The fewest reduced elements per output worth a block (a warp at least); below, one thread
 * reduces each output (the grid-stride nest). */
export const BLOCK_REDUCE_MIN = 32;
/** Threads of a reduction block: about one per ELEMENTS_PER_THREAD reduced elements, a power of
 * two from 32 (one warp: shuffles only) to MAX_THREADS. Several elements per thread keep the
 * combining steps (and barriers) few against the loads. */
const MAX_THREADS = 256;
const ELEMENTS_PER_THREAD = 8;

export interface BlockReduction {
  /** The parallel loops over the kept dimensions, outermost first (none: a single output). */
  readonly kept: readonly Loop[];
  readonly outputs: number;
  /** Statements of one output before the accumulator (index declarations). */
  readonly before: readonly Stmt[];
  readonly acc: Extract<Stmt, { k: 'local' }>;
  /** The sequential loops over the reduced dimensions, outermost first. */
  readonly reduced: readonly Loop[];
  readonly extent: number;
  /** `round(combiner(acc, x))`, as the accumulation sets it. */
  readonly step: Op;
  readonly combiner: string;
  readonly store: Extract<Stmt, { k: 'store' }>;
  /** Threads per block (a multiple of 32). */
  readonly threads: number;
  /** The statement list holding the per-output statements (the innermost kept loop's body, or
   * the kernel's): the renderer replaces it. */
  readonly perOutput: readonly Stmt[];
}

const IDENTITY_COMBINERS = new Set(['add', 'multiply', 'maximum', 'minimum', 'and', 'or']);

const extentOf = (l: Loop): number | undefined =>
  l.from.k === 'int' && l.from.value === 0 && l.to.k === 'int' && (l.step ?? 1) === 1 ? l.to.value : undefined;

const shuffles = (e: ElemType): boolean =>
  e.kind === 'bool' || (e.kind === 'int' && e.bits >= 8) || (e.kind === 'float' && e.format.bits <= 64);

/** The outermost parallel loops of a body, when it is a nest of them (after index declarations
 * every thread computes, such as dynamic starts, and comments; inside, nothing but the next
 * loop), each from 0 to a constant in steps of 1; and the statements in the innermost (the body
 * itself when there are none). The renderer turns such loops into one flat index. */
export function parallelNest(body: readonly Stmt[]): { loops: Loop[]; inner: readonly Stmt[] } {
  const loops: Loop[] = [];
  let level: readonly Stmt[] = body.filter((s) => s.k !== 'index' && s.k !== 'comment');
  for (;;) {
    const s = level[0];
    if (level.length !== 1 || s?.k !== 'loop' || !s.parallel || extentOf(s) === undefined) break;
    loops.push(s);
    level = s.body;
  }
  return { loops, inner: loops.length ? loops[loops.length - 1]!.body : body };
}

/** The product of the extents of `loops` (each from 0 to a constant, see parallelNest). */
export const flatExtent = (loops: readonly Loop[]): number => loops.reduce((n, l) => n * extentOf(l)!, 1);

export function blockReduction(body: readonly Stmt[]): BlockReduction | undefined {
  const { loops: kept, inner: perOutput } = parallelNest(body);
  const at = perOutput.findIndex((s) => s.k === 'local');
  const [acc, nest, store] = perOutput.slice(at);
  const before = perOutput.slice(0, at);
  if (at < 0 || perOutput.length !== at + 3 || before.some((s) => s.k !== 'index' && s.k !== 'comment')) return;
  if (acc?.k !== 'local' || acc.lanes || nest?.k !== 'loop' || store?.k !== 'store') return;
  if (store.value.k !== 'local' || store.value.name !== acc.name || !shuffles(acc.elem)) return;
  const reduced: Loop[] = [];
  let inner: Stmt = nest;
  while (inner.k === 'loop' && !inner.parallel && extentOf(inner) !== undefined) {
    reduced.push(inner);
    const last: Stmt | undefined = inner.body[inner.body.length - 1];
    if (inner.body.length === 1 && last?.k === 'loop') inner = last;
    else break;
  }
  const innermost = reduced[reduced.length - 1];
  const set = innermost?.body[innermost.body.length - 1];
  if (!innermost || inner !== innermost || set?.k !== 'set' || set.name !== acc.name) return;
  const step = set.value;
  const combine = step.k === 'op' && step.name === 'round' ? step.args[0] : undefined;
  if (step.k !== 'op' || combine?.k !== 'op' || !IDENTITY_COMBINERS.has(combine.name)) return;
  const [first, x] = combine.args;
  if (first?.k !== 'local' || first.name !== acc.name || !x) return;
  const accumulate = innermost.body.slice(0, -1);
  if (localsUsed([...accumulate, { k: 'let', name: '_', elem: acc.elem, value: x }]).has(acc.name)) return;
  const extent = flatExtent(reduced);
  const outputs = flatExtent(kept);
  if (extent < BLOCK_REDUCE_MIN || outputs === 0) return;
  const threads = Math.min(MAX_THREADS, Math.max(32, 2 ** Math.ceil(Math.log2(extent / ELEMENTS_PER_THREAD))));
  return {
    kept,
    outputs,
    before,
    acc,
    reduced,
    extent,
    step,
    combiner: combine.name,
    store,
    threads,
    perOutput,
  };
}

/** The combiner's identity as a C expression of type `cType`: where every thread's partial
 * result starts (-0 for float sums: x + -0 is x, -0 included). */
export function identity(combiner: string, elem: ElemType, cType: string): string {
  const of = (x: string): string => `(${cType})(${x})`;
  if (elem.kind === 'bool')
    return of(combiner === 'multiply' || combiner === 'minimum' || combiner === 'and' ? '1' : '0');
  if (elem.kind === 'float') {
    const byCombiner: Record<string, string> = {
      add: '-0.0',
      multiply: '1',
      maximum: '-INFINITY',
      minimum: 'INFINITY',
    };
    return of(byCombiner[combiner] ?? '0');
  }
  if (elem.kind !== 'int') throw new Error(`no identity on ${elem.name}`);
  const b = elem.bits;
  const max = elem.signed ? `INT${b}_MAX` : `UINT${b}_MAX`;
  const min = elem.signed ? `INT${b}_MIN` : '0';
  const byCombiner: Record<string, string> = { multiply: '1', maximum: min, minimum: max, and: '~(uint64_t)0' };
  return of(byCombiner[combiner] ?? '0');
}

/** The flat index `flat` over `extents` split into one index per extent, outermost first. */
export function unflatten(flat: Idx, extents: readonly number[]): Idx[] {
  const index: Idx[] = [];
  let inner = 1;
  for (let d = extents.length - 1; d >= 0; d--) {
    index[d] = d === 0 ? div(flat, inner) : mod(div(flat, inner), extents[d]!);
    inner *= extents[d]!;
  }
  return index;
}
