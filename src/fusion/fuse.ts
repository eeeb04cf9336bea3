/**
 * @fileoverview Loop fusion on the flat program: chains of elementwise ops (clamp included), with
 * the broadcast_in_dim, transpose and reshape ops and splat constants that feed them, become one
 * kernel that computes every element of the chain's last result in one pass (intermediates live
 * in registers; broadcasts, transposes and reshapes are index maps, splats are literals). A chain
 * whose first operand is a dot or convolution taking the GEMM or direct-convolution path fuses
 * into it as an epilogue (bias, activation) that runs on each block of output rows while they are
 * still in cache; a chain feeding a reduction is computed inside the reduction's loop (no
 * intermediate tensor).
 *
 * Rules that keep it exact: a value is fused into its consumer only when that consumer is its
 * only user and it is not a program output; every member rounds to its own result type, as the
 * unfused kernels do. With control flow, each straight-line run between jumps is fused on its own
 * (emit.ts), with the values that cross runs or feed a jump passed as outputs.
 */
import type { Op } from '../ir/core.js';
import { numElements } from '../ir/types.js';
import { strides } from '../ir/tensor.js';
import { add, idxEqual, int, linear, mul, v, type Idx } from '../ir/index-expr.js';
import { attrsOf } from '../ops/index.js';
import type { FlatOp, FusionGroup, IndexMap, Sym } from '../flat/program.js';

export interface FuseContext {
  /** Generic elementwise ops the C backend can inline per element (same shapes in and out). */
  readonly isElementwise: (f: FlatOp) => boolean;
  /** Splat constants become literals inside the fused loop. */
  readonly isSplat: (s: Sym) => boolean;
  /** Ops that take the GEMM path and may carry an epilogue. */
  readonly canHead: (f: FlatOp) => boolean;
  /** Reductions (one input, one init value) whose kernel can compute its input from a chain. */
  readonly isReducible: (f: FlatOp) => boolean;
  readonly outputs: readonly Sym[];
}

const shapeOf = (s: Sym): readonly number[] => (s.type.kind === 'tensor' ? s.type.shape : []);
const sameShape = (a: readonly number[], b: readonly number[]): boolean =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/** Root loop variables i0..i{r-1}. */
export const loopVars = (rank: number): Idx[] => Array.from({ length: rank }, (_, d) => v(`i${d}`));

/** Row-major linear index of a dims map over `shape` (a size-1 dim contributes nothing). */
export function linearIndex(m: IndexMap, shape: readonly number[]): Idx {
  if (m.kind === 'flat') return m.index;
  return linear(
    m.dims.map((e, d) => (shape[d] === 1 ? int(0) : e)),
    strides(shape),
  );
}

function mapsEqual(a: IndexMap, b: IndexMap): boolean {
  if (a.kind === 'flat') return b.kind === 'flat' && idxEqual(a.index, b.index);
  return b.kind === 'dims' && a.dims.length === b.dims.length && a.dims.every((x, i) => idxEqual(x, b.dims[i]!));
}

/**
 * Groups `ops` (straight-line kernels in program order). Returns the kernels to emit, in order:
 * unfused ops as they are, and for each group one FlatOp at its root's position whose `ins` are
 * the group's non-splat leaves and whose `group` describes the members.
 */
export function fuse(ops: readonly FlatOp[], ctx: FuseContext): FlatOp[] {
  const producer = new Map<Sym, FlatOp>();
  const users = new Map<Sym, Set<FlatOp>>();
  for (const f of ops) {
    for (const s of f.outs) producer.set(s, f);
    for (const s of f.ins) (users.get(s) ?? users.set(s, new Set()).get(s)!).add(f);
  }
  const outputs = new Set(ctx.outputs);
  const soleUse = (s: Sym): boolean => !outputs.has(s) && users.get(s)?.size === 1;
  const isBroadcast = (f: FlatOp): boolean => f.op.name === 'stablehlo.broadcast_in_dim';
  const isReshape = (f: FlatOp): boolean => f.op.name === 'stablehlo.reshape';
  const isTranspose = (f: FlatOp): boolean => f.op.name === 'stablehlo.transpose';
  // An LSTM step's gates are slices of one product: read in place, not copied out first.
  const isSlice = (f: FlatOp): boolean => f.op.name === 'stablehlo.slice';
  const assigned = new Set<FlatOp>();
  const groupAt = new Map<FlatOp, FlatOp>();

  for (let idx = ops.length - 1; idx >= 0; idx--) {
    const root = ops[idx]!;
    if (assigned.has(root) || root.outs.length !== 1) continue;
    // A reduction roots a group through its input: the chain producing it is computed inside the
    // reduction's loop, at the input element being accumulated.
    const reduce = ctx.isReducible(root) ? root : undefined;
    if (!reduce && !ctx.isElementwise(root)) continue;
    const start = reduce ? producer.get(reduce.ins[0]!) : root;
    if (!start || (reduce && (assigned.has(start) || !soleUse(reduce.ins[0]!) || !ctx.isElementwise(start)))) continue;
    const rootShape = shapeOf(start.outs[0]!);
    const identity: IndexMap = { kind: 'dims', dims: loopVars(rootShape.length) };
    const maps = new Map<number, IndexMap>([[start.outs[0]!.id, identity]]);
    /** Whether `s`, read through `m`, is read at exactly the root element being computed. */
    const readsRootElement = (s: Sym, m: IndexMap): boolean =>
      m.kind === 'dims'
        ? sameShape(shapeOf(s), rootShape) && m.dims.every((e, d) => idxEqual(e, identity.dims[d]!))
        : idxEqual(m.index, linearIndex(identity, rootShape));
    const members = new Set<FlatOp>([start]);
    const operandMaps = new Map<FlatOp, IndexMap[]>();
    // Values read through two different maps (x and broadcast(x), two slices of x): fine for a
    // leaf, which is loaded through each; a computed value would have to be computed twice (not
    // fused: rare).
    const readTwice = new Set<number>();
    let head: FlatOp | undefined;
    const work = [start];
    const fusible = (p: FlatOp, om: IndexMap): boolean =>
      p.outs.length === 1 &&
      (ctx.isElementwise(p) ||
        ((isBroadcast(p) || isTranspose(p) || isSlice(p)) && om.kind === 'dims') ||
        isReshape(p));
    // Values with several users wait until every user has joined the group (then they are
    // computed once per element and read by each, as the requantization's product and shift are).
    const shared = new Set<Sym>();
    const walk = (): void => {
      while (work.length) {
        const g = work.pop()!;
        const m = maps.get(g.outs[0]!.id)!;
        const reads = mapsOfOperands(g, m);
        operandMaps.set(g, reads);
        g.ins.forEach((s, i) => {
          const om = reads[i]!;
          const previous = maps.get(s.id);
          if (previous && !mapsEqual(previous, om)) {
            readTwice.add(s.id);
            return;
          }
          maps.set(s.id, om);
          const p = producer.get(s);
          if (!p || assigned.has(p) || members.has(p)) return;
          if (!soleUse(s)) {
            if (!outputs.has(s) && fusible(p, om)) shared.add(s);
            return;
          }
          if (fusible(p, om)) {
            members.add(p);
            work.push(p);
            return;
          }
          if (!reduce && !head && om.kind === 'dims' && readsRootElement(s, om) && ctx.canHead(p)) head = p;
        });
      }
    };
    walk();
    for (let joined = true; joined;) {
      joined = false;
      for (const s of shared) {
        const p = producer.get(s)!;
        // Read through two maps (two slices of it): read from memory, as a leaf, not computed twice.
        if (members.has(p) || readTwice.has(s.id) || ![...users.get(s)!].every((u) => members.has(u))) continue;
        members.add(p);
        work.push(p);
        joined = true;
      }
      walk();
    }
    const ordered = ops.filter((f) => members.has(f));
    const computed = [...ordered, ...(head ? [head] : [])].flatMap((f) => f.outs.map((o) => o.id));
    if (computed.some((id) => readTwice.has(id))) continue;
    const leaves = unique(ordered.flatMap((f) => f.ins).filter((s) => !ordered.some((g) => g.outs.includes(s))));
    const usesSplat = leaves.some((s) => ctx.isSplat(s));
    if (!reduce && ordered.length < 2 && !head && !usesSplat) continue;
    for (const f of ordered) assigned.add(f);
    if (head) assigned.add(head);
    if (reduce) assigned.add(reduce);
    const outElements = numElements(rootShape);
    const inPlaceSafe =
      !head &&
      !reduce &&
      leaves.every((s) => {
        const sameSize = numElements(shapeOf(s)) === outElements;
        return !sameSize || readMaps(operandMaps, s).every((m) => readsRootElement(s, m));
      });
    const chainLeaves = leaves.filter((s) => !ctx.isSplat(s) && !(head && head.outs.includes(s)));
    const ins = [...(head ? head.ins : []), ...chainLeaves, ...(reduce ? [reduce.ins[1]!] : [])];
    const group: FusionGroup = {
      members: ordered,
      ...(head ? { head } : {}),
      ...(reduce ? { reduce } : {}),
      maps,
      operandMaps,
      inPlaceSafe,
    };
    groupAt.set(root, { op: root.op, ins, outs: root.outs, group });
  }
  return ops.filter((f) => !assigned.has(f) || groupAt.has(f)).map((f) => groupAt.get(f) ?? f);
}

/** Every distinct map `s` is read through by members with these operand maps. */
function readMaps(operandMaps: ReadonlyMap<FlatOp, readonly IndexMap[]>, s: Sym): IndexMap[] {
  const all = [...operandMaps].flatMap(([f, ms]) => ms.filter((_, i) => f.ins[i] === s));
  return all.filter((m, i) => all.findIndex((x) => mapsEqual(x, m)) === i);
}

/** Every map group `g` reads `s` through (one, unless `s` is a leaf read through several). */
export function mapsOf(g: FusionGroup, s: Sym): IndexMap[] {
  const all = g.operandMaps ? readMaps(g.operandMaps, s) : [];
  return all.length ? all : [g.maps.get(s.id)!];
}

/** Index maps of g's operands, given the map of g's result. */
function mapsOfOperands(g: FlatOp, m: IndexMap): IndexMap[] {
  if (g.op.name === 'stablehlo.reshape') {
    const resultShape = shapeOf(g.outs[0]!);
    return [{ kind: 'flat', index: linearIndex(m, resultShape) }];
  }
  if (g.op.name === 'stablehlo.transpose') {
    if (m.kind !== 'dims') throw new Error('fusion: transpose under a flat map');
    // result dim d is operand dim perm[d]
    const perm = attrsOf('stablehlo.transpose', g.op).perm;
    return [{ kind: 'dims', dims: perm.map((_, j) => m.dims[perm.indexOf(j)]!) }];
  }
  if (g.op.name === 'stablehlo.slice') {
    if (m.kind !== 'dims') throw new Error('fusion: slice under a flat map');
    // result element i along d is operand element start + i * stride
    const { start, strides: step } = attrsOf('stablehlo.slice', g.op);
    return [{ kind: 'dims', dims: start.map((s0, d) => add(int(s0), mul(m.dims[d]!, step[d] ?? 1))) }];
  }
  if (g.op.name === 'stablehlo.broadcast_in_dim') {
    if (m.kind !== 'dims') throw new Error('fusion: broadcast under a flat map');
    const dims = broadcastDims(g.op);
    const operand = shapeOf(g.ins[0]!);
    const result = shapeOf(g.outs[0]!);
    return [
      {
        kind: 'dims',
        dims: operand.map((size, j) => (size === 1 && result[dims[j]!] !== 1 ? int(0) : m.dims[dims[j]!]!)),
      },
    ];
  }
  // Elementwise: every operand at the result's element; a rank-0 operand (clamp's bounds) at its only one.
  const rank = shapeOf(g.outs[0]!).length;
  return g.ins.map((s) => (shapeOf(s).length === 0 && rank > 0 ? { kind: 'dims', dims: [] } : m));
}

function broadcastDims(op: Op): readonly number[] {
  return attrsOf('stablehlo.broadcast_in_dim', op).dims;
}

function unique<T>(xs: readonly T[]): T[] {
  return [...new Set(xs)];
}

/** A group of one elementwise op (every operand read at the result's element), for kernels that
 * use the fused-loop code generator on an op fusion left alone (vector loops). */
export function singleOpGroup(f: FlatOp): FusionGroup {
  const identity: IndexMap = { kind: 'dims', dims: loopVars(shapeOf(f.outs[0]!).length) };
  return { members: [f], maps: new Map([...f.ins, ...f.outs].map((s) => [s.id, identity])), inPlaceSafe: true };
}
