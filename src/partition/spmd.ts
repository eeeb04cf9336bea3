/**
 * @fileoverview The SPMD partitioner (`--devices N`): a program whose entry says how its
 * arguments and results are sharded (GSPMD `mhlo.sharding`, Shardy `sdy.sharding`) becomes the
 * program each of N partitions runs on its own tiles, with the collectives that move data between
 * them. Shardings are propagated forward through the ops:
 *   - elementwise ops take their first tiled operand's tiling (other operands resharded to it);
 *   - broadcast_in_dim, transpose and reshape carry a tiled dimension to where it goes (reshape
 *     where the tiles stay contiguous: a dimension kept, split or merged, reshapedDim);
 *   - dot_general: a tiled batch or free dimension stays tiled in the result; both operands tiled
 *     on the same contracting dimension (or one tiled, the other sliced to match: no data moves)
 *     give partial sums, all_reduce'd (Megatron's row-parallel layer);
 *   - reduce keeps a tiling of a dimension it does not reduce; over a tiled dimension each
 *     partition reduces its tile and the partial results are all_reduce'd with the same body;
 *   - convolution keeps a batch or output-feature tiling, reduce_window one it does not slide
 *     along; `@Sharding` constraints reshard; manual regions' boundaries are moves too;
 *   - every other op runs replicated: tiled operands are all_gather'ed first.
 * The entry's calls are inlined first, so tiles flow through them.
 * Resharding picks the cheapest move: replicated -> tiled is a local dynamic_slice (no bytes
 * moved), tiled -> replicated an all_gather, tiled on one dimension -> another an all_to_all.
 * Supported shardings (see Placement): replicated, or one dimension cut into k tiles over devices
 * 0..N-1 in order, each tile on N/k of them (N partitions, one replica); others get a located
 * E0301. Module to module; the interpreter runs
 * the unpartitioned program, so the two check each other.
 */
import { error } from '../diag/diagnostics.js';
import type { Loc } from '../diag/source.js';
import type { Attr } from '../ir/attrs.js';
import { newValue, type Func, type Module, type Op, type Value } from '../ir/core.js';
import { i64Array as ints, OpBuilder } from '../ir/builder.js';
import type { Sharding } from '../ir/sharding.js';
import { intElem, tensorType, type TensorType } from '../ir/types.js';
import { attrsOf, lookupOp } from '../ops/index.js';
import { everyPartition } from '../ops/collective.js';
import { moved, REPLICATED, tiled, type Placement, type Tiled } from './placement.js';
import { partitionGather, partitionScatter } from './spmd-indexing.js';
import { meshToTiles } from './shardy.js';
import { cloneOp, cloneRegion } from './unroll.js';
import { customCallTarget } from '../ir/core.js';
import { isIdentityCustomCall } from '../ops/control.js';
import {
  FULL_TO_SHARD,
  hasShardingBoundary,
  isShardingBoundary,
  SHARD_TO_FULL,
  shardingAttr,
} from '../ops/sharding-calls.js';

/** The attribute with which the partitioner says why it put a collective there (--report). */
export const WHY = 'xla_aot.why';

/** Marks the parameters and results of a partitioned entry: each device's tile of the value. */
export const DEVICE_TILE = 'xla_aot.device_tile';

export type { Placement } from './placement.js';

/** The partitions that hold different tiles of a value cut `ways` ways: one group per replica of the tiles. */
export function tileGroups(n: number, ways: number): number[][] {
  const copies = n / ways;
  return [...Array(copies).keys()].map((c) => [...Array(ways).keys()].map((t) => t * copies + c));
}

function unsupported(what: string, loc: Loc): never {
  throw error('E0301', { op: what, target: 'the SPMD partitioner' }, loc);
}

const tensorOf = (v: Value): TensorType => v.type as TensorType;

/** A sharding as a placement over n partitions (`rank`: the value's). */
export function placementOf(s: Sharding | undefined, m: Module, rank: number, n: number, loc: Loc): Placement {
  if (s?.kind === 'mesh') {
    const mesh = m.meshes?.get(s.mesh) ?? unsupported(`a sharding on the unknown mesh @${s.mesh}`, loc);
    s = meshToTiles(mesh, s, rank, loc);
  }
  // maximal (one device computes it): replicated computes the same values on every device.
  if (!s || s.kind === 'replicated' || s.kind === 'maximal') return REPLICATED;
  if (s.kind !== 'tiled') return unsupported(`a ${s.kind} sharding`, loc);
  const dims = s.tiles.slice(0, rank);
  const cut = dims.flatMap((t, d) => (t > 1 ? [d] : []));
  const copies = s.lastTileReplicated ? s.tiles[rank]! : 1;
  const ok =
    s.tiles.length === rank + (s.lastTileReplicated ? 1 : 0) &&
    cut.length <= 1 &&
    (cut.length ? dims[cut[0]!]! : 1) * copies === n &&
    s.devices.every((d, i) => d === i);
  if (!ok)
    unsupported(
      `the sharding tiles [${s.tiles.join(', ')}]${s.lastTileReplicated ? ' (last replicated)' : ''} over devices [${s.devices.join(', ')}] on ${n} devices (one dimension cut over devices 0..${n - 1} in order, each tile on ${n} / tiles of them, or replicated)`,
      loc,
    );
  return cut.length ? tiled(cut[0]!, dims[cut[0]!]!) : REPLICATED;
}

/** The sharding attribute written on a parameter or result (GSPMD or Shardy). */
export const shardingAnnotation = (attrs: Readonly<Record<string, Attr>> | undefined): Attr | undefined =>
  attrs?.['mhlo.sharding'] ?? attrs?.['sdy.sharding'];

function annotation(attrs: Readonly<Record<string, Attr>> | undefined): Sharding | undefined {
  const a = shardingAnnotation(attrs);
  return a?.kind === 'sharding' ? a.sharding : undefined;
}

/** The entry's parameter and result placements on n partitions. */
export function entryPlacements(m: Module, f: Func, n: number): { params: Placement[]; results: Placement[] } {
  const rank = (t: unknown): number => (t as TensorType).shape?.length ?? 0;
  return {
    params: f.params.map((p, i) => placementOf(annotation(f.paramAttrs?.[i]), m, rank(p.type), n, f.loc)),
    results: f.resultTypes.map((t, i) => placementOf(annotation(f.resultAttrs?.[i]), m, rank(t), n, f.loc)),
  };
}

/** Whether the entry states any tiling: a program to partition, not one to replicate. */
export function isSharded(m: Module, f: Func, n: number): boolean {
  const { params, results } = entryPlacements(m, f, n);
  return [...params, ...results].some((p) => p.kind === 'tiled');
}

const hasManualRegions = (m: Module): boolean => [...m.funcs.values()].some(hasShardingBoundary);

/**
 * How a program runs on n partitions: `tiles` (its entry's shardings are partitioned here: each
 * device holds tiles of the inputs and results), `manual` (manual regions, partition/manual.ts:
 * every device takes and returns the whole values; also where the entry's shardings are beyond
 * this partitioner but its regions say what each partition does), or `grid` (an SPMD program as
 * written, e.g. with collectives: every device runs it whole).
 */
export function partitionMode(m: Module, f: Func, n: number): 'tiles' | 'manual' | 'grid' {
  try {
    if (isSharded(m, f, n)) return 'tiles';
  } catch (e) {
    if (!hasManualRegions(m)) throw e;
  }
  return hasManualRegions(m) ? 'manual' : 'grid';
}

/** The tile of `t` placed by `p` on one of n partitions. */
export function localType(t: TensorType, p: Placement, loc: Loc): TensorType {
  if (p.kind === 'replicated') return t;
  const size = t.shape[p.dim]!;
  if (size % p.ways !== 0) unsupported(`dimension ${p.dim} of ${size} cut into ${p.ways} tiles (uneven tiles)`, loc);
  return tensorType(
    t.shape.map((s, d) => (d === p.dim ? s / p.ways : s)),
    t.elem,
  );
}

class SpmdBuilder extends OpBuilder {
  private pid: Value | undefined;
  constructor(
    loc: Loc,
    private readonly n: number,
    private readonly channel: { next: number },
  ) {
    super(loc, '%spmd');
  }

  /** The attributes of a collective among the partitions holding different tiles of a value cut
   * `ways` ways, with why the partitioner put it there (--report). */
  private groups(ways: number, why: string): Record<string, Attr> {
    return {
      ...everyPartition(this.n, this.channel.next++, tileGroups(this.n, ways)),
      [WHY]: { kind: 'string', value: why },
    };
  }

  /** This partition's tile of a replicated value, cut `ways` ways along `dim`. */
  slice(x: Value, dim: number, ways: number): Value {
    const t = tensorOf(x);
    const local = localType(t, tiled(dim, ways), this.loc);
    const i32 = tensorType([], intElem(32, true));
    this.pid ??= this.op('stablehlo.partition_id', [], [tensorType([], intElem(32, false))])[0]!;
    const pid = this.op('stablehlo.convert', [this.pid], [i32])[0]!;
    const copies = this.n / ways;
    const id = copies === 1 ? pid : this.op('stablehlo.divide', [pid, this.constant(i32, [copies])], [i32])[0]!;
    const start = this.op('stablehlo.multiply', [id, this.constant(i32, [local.shape[dim]!])], [i32])[0]!;
    const zero = this.constant(i32, [0]);
    const starts = t.shape.map((_, d) => (d === dim ? start : zero));
    return this.op('stablehlo.dynamic_slice', [x, ...starts], [local], { slice_sizes: ints(local.shape) })[0]!;
  }

  /** The whole value from the tiles along `dim` (cut `ways` ways). */
  gather(x: Value, dim: number, ways: number, full: TensorType, why: string): Value {
    return this.op('stablehlo.all_gather', [x], [full], {
      all_gather_dim: { kind: 'int', value: BigInt(dim) },
      ...this.groups(ways, why),
    })[0]!;
  }

  /** Tiled along `from` to tiled along `to` (both `ways` ways): each partition keeps its `to` tile
   * of every `from` tile. */
  allToAll(x: Value, from: number, to: number, ways: number, full: TensorType, why: string): Value {
    const result = localType(full, tiled(to, ways), this.loc);
    return this.op('stablehlo.all_to_all', [x], [result], {
      split_dimension: { kind: 'int', value: BigInt(to) },
      concat_dimension: { kind: 'int', value: BigInt(from) },
      split_count: { kind: 'int', value: BigInt(ways) },
      ...this.groups(ways, why),
    })[0]!;
  }

  /** The sum (or other `reducer`) of the partial values of the partitions holding different tiles. */
  allReduce(x: Value, reducer: Op['regions'][number], ways: number, why: string): Value {
    return this.op('stablehlo.all_reduce', [x], [tensorOf(x)], this.groups(ways, why), [reducer])[0]!;
  }
}

/** A reducer region `add` on scalars of `t`'s element type. */
function sumRegion(t: TensorType, loc: Loc): Op['regions'][number] {
  const s = tensorType([], t.elem);
  const [a, b] = [newValue(s, '%a'), newValue(s, '%b')];
  const sum = newValue(s, '%s');
  const op = (name: string, operands: Value[], results: Value[]): Op => ({
    name,
    operands,
    results,
    attrs: {},
    regions: [],
    successors: [],
    loc,
  });
  return {
    blocks: [
      { label: '^bb0', args: [a, b], ops: [op('stablehlo.add', [a, b], [sum]), op('stablehlo.return', [sum], [])] },
    ],
  };
}

/** The partition phase for `--devices`: the entry of a program with tiled shardings partitioned
 * over the grid's partitions (others unchanged: each device runs them whole). */
export function partitionSpmd(m: Module, entry: string, partitions: number): Module {
  const f = m.funcs.get(entry);
  if (!f || partitions < 2 || !isSharded(m, f, partitions)) return m;
  const funcs = new Map(m.funcs);
  funcs.set(entry, partitionFunc(m, f, partitions));
  return { ...m, funcs };
}

/**
 * The entry with its calls inlined (single-block callees, as JAX writes its private functions),
 * so that tiles flow through them instead of being gathered for a call that needs whole values.
 */
function inlineCalls(m: Module, f: Func, depth = 0): Func {
  const block = f.body!.blocks[0]!;
  if (!block.ops.some((op) => op.name === 'func.call') || depth > 64) return f;
  const map = new Map<Value, Value>();
  const ops: Op[] = [];
  for (const op of block.ops) {
    const callee = op.name === 'func.call' ? op.attrs['callee'] : undefined;
    const g = callee?.kind === 'symbol' ? m.funcs.get(callee.name) : undefined;
    const body = g?.body?.blocks.length === 1 ? g.body.blocks[0]! : undefined;
    if (!g || !body) {
      ops.push(cloneOp(op, map));
      continue;
    }
    const inner = new Map<Value, Value>(body.args.map((a, i) => [a, map.get(op.operands[i]!) ?? op.operands[i]!]));
    for (const o of body.ops) {
      if (o.name === 'func.return') o.operands.forEach((v, i) => map.set(op.results[i]!, inner.get(v) ?? v));
      else ops.push(cloneOp(o, inner));
    }
  }
  return inlineCalls(m, { ...f, body: { blocks: [{ ...block, ops }] } }, depth + 1);
}

/** Partitions the entry over n partitions (its calls inlined first; a call that cannot be, of a
 * function of several blocks, runs replicated like any other op). */
function partitionFunc(m: Module, entry: Func, n: number): Func {
  if (!entry.body || entry.body.blocks.length !== 1) return unsupported(`@${entry.name} of several blocks`, entry.loc);
  const f = inlineCalls(m, entry);
  const block = f.body!.blocks[0]!;
  const { params, results } = entryPlacements(m, f, n);
  const channel = { next: 1 };
  const map = new Map<Value, Value>();
  const place = new Map<Value, Placement>();
  const newParams = f.params.map((p, i) => {
    const v = newValue(localType(tensorOf(p), params[i]!, f.loc), p.name);
    map.set(p, v);
    place.set(p, params[i]!);
    return v;
  });
  const ops: Op[] = [];
  for (const op of block.ops) {
    const b = new SpmdBuilder(op.loc, n, channel);
    const placeOf = (v: Value): Placement => place.get(v) ?? REPLICATED;
    /** Operand v (an original value) resharded to `want`, as a value of the new program. */
    const as = (v: Value, want: Placement): Value => {
      const x = map.get(v) ?? v;
      const have = placeOf(v);
      const full = tensorOf(v);
      const same = (p: Placement, q: Placement): boolean =>
        p.kind === 'replicated' ? q.kind === 'replicated' : q.kind === 'tiled' && p.dim === q.dim && p.ways === q.ways;
      if (same(have, want)) return x;
      if (have.kind === 'replicated') return want.kind === 'tiled' ? b.slice(x, want.dim, want.ways) : x;
      const where = (p: Placement): string =>
        p.kind === 'replicated' ? 'whole' : `tiled ${p.ways} ways on dimension ${p.dim}`;
      const need = `${op.name} needs ${v.name} ${where(want)}, it is ${where(have)}`;
      if (want.kind === 'tiled' && want.ways === have.ways)
        return b.allToAll(x, have.dim, want.dim, have.ways, full, `${need}: an all_to_all moves less than gathering`);
      // Through the whole value: gathered, then (if it is wanted tiled) this partition's tile of it.
      const whole = b.gather(x, have.dim, have.ways, full, need);
      return want.kind === 'tiled' ? b.slice(whole, want.dim, want.ways) : whole;
    };
    // Values a region uses from outside it (StableHLO's implicit capture, as in jax's cond):
    // whole inside the region, under their new names.
    const outside = new Map(capturedBy(op).map((v) => [v, as(v, REPLICATED)] as const));
    const regions = outside.size ? op.regions.map((r) => cloneRegion(r, new Map(outside))) : op.regions;
    /** The op on `operands` (new values), its results placed `resultPlaces` (and `attrs` changed). */
    const emit = (operands: Value[], resultPlaces: Placement[], attrs: Record<string, Attr> = {}): Value[] => {
      const res = op.results.map((r, i) => newValue(localType(tensorOf(r), resultPlaces[i]!, op.loc), r.name));
      b.ops.push({ ...op, operands, results: res, regions, attrs: { ...op.attrs, ...attrs } });
      op.results.forEach((r, i) => {
        map.set(r, res[i]!);
        place.set(r, resultPlaces[i]!);
      });
      return res;
    };
    if (op.name === 'func.return') {
      b.ops.push({ ...op, operands: op.operands.map((v, i) => as(v, results[i]!)) });
      ops.push(...b.ops);
      continue;
    }
    if (op.results.some((r) => r.type.kind !== 'tensor') || op.operands.some((v) => v.type.kind !== 'tensor'))
      unsupported(`${op.name} on tokens or tuples`, op.loc);
    // Manual regions (shard_map): the full value's tiles are the region's per-partition values,
    // which the ops after run on as they are (placed "replicated": whole on each partition).
    const boundary = isShardingBoundary(op) ? customCallTarget(op) : undefined;
    if (isIdentityCustomCall(op)) {
      // A sharding constraint inside the program (`@Sharding` on an intermediate value): the
      // value is resharded to it; a manual one (before a full-to-shard step) keeps its place.
      const s = customCallTarget(op) === 'Sharding' ? shardingAttr(op) : undefined;
      const x = op.operands[0]!;
      const want = s && s.kind !== 'manual' ? placementOf(s, m, tensorOf(x).shape.length, n, op.loc) : placeOf(x);
      map.set(op.results[0]!, as(x, want));
      place.set(op.results[0]!, want);
      ops.push(...b.ops);
      continue;
    }
    if (boundary === FULL_TO_SHARD || boundary === SHARD_TO_FULL) {
      const toShard = boundary === FULL_TO_SHARD;
      const [full, local] = toShard ? [op.operands[0]!, op.results[0]!] : [op.results[0]!, op.operands[0]!];
      const s = toShard ? shardingAttr(op, 'operand_sharding') : shardingAttr(op);
      const p = placementOf(s, m, tensorOf(full).shape.length, n, op.loc);
      if (localType(tensorOf(full), p, op.loc).shape.join('x') !== tensorOf(local).shape.join('x'))
        unsupported(`@${boundary} whose shard shape is not the tile of its sharding`, op.loc);
      if (toShard) map.set(local, as(full, p));
      else {
        map.set(full, map.get(local) ?? local);
        place.set(full, p);
      }
      ops.push(...b.ops);
      continue;
    }
    const def = lookupOp(op.name);
    const first = op.operands.find((v) => placeOf(v).kind === 'tiled');
    const sameShapes = op.operands.every(
      (v) => tensorOf(v).shape.join('x') === tensorOf(op.results[0]!).shape.join('x'),
    );
    if (!first) {
      emit(
        op.operands.map((v) => map.get(v) ?? v),
        op.results.map(() => REPLICATED),
      );
    } else if (def?.category === 'elementwise' && sameShapes && op.results.length === 1) {
      const p = placeOf(first);
      emit(
        op.operands.map((v) => as(v, p)),
        [p],
      );
    } else if (op.name === 'stablehlo.broadcast_in_dim') {
      const { dims } = attrsOf('stablehlo.broadcast_in_dim', op);
      const pf = placeOf(first) as Tiled;
      const grows = tensorOf(first).shape[pf.dim] !== tensorOf(op.results[0]!).shape[dims[pf.dim]!];
      if (grows) emit([as(first, REPLICATED)], [REPLICATED]);
      else emit([map.get(first)!], [moved(pf, dims[pf.dim]!)]);
    } else if (op.name === 'stablehlo.transpose') {
      const { perm } = attrsOf('stablehlo.transpose', op);
      const pf = placeOf(first) as Tiled;
      emit([map.get(first)!], [moved(pf, perm.indexOf(pf.dim))]);
    } else if (op.name === 'stablehlo.reshape') {
      const pf = placeOf(first) as Tiled;
      const e = reshapedDim(tensorOf(first).shape, tensorOf(op.results[0]!).shape, pf.dim, pf.ways);
      if (e !== undefined) emit([map.get(first)!], [moved(pf, e)]);
      else emit([as(first, REPLICATED)], [REPLICATED]);
    } else if (op.name === 'stablehlo.convolution') {
      const c = attrsOf('stablehlo.convolution', op);
      const [x, k] = op.operands as [Value, Value];
      const [px, pk] = [placeOf(x), placeOf(k)];
      if (px.kind === 'tiled' && px.dim === c.inBatch && c.batchGroups === 1)
        emit([map.get(x)!, as(k, REPLICATED)], [moved(px, c.outBatch)]);
      else if (pk.kind === 'tiled' && pk.dim === c.kOut && c.featureGroups === 1 && c.batchGroups === 1)
        emit([as(x, REPLICATED), map.get(k)!], [moved(pk, c.outFeature)]);
      else emit([as(x, REPLICATED), as(k, REPLICATED)], [REPLICATED]);
    } else if (op.name === 'stablehlo.reduce_window' && op.results.length === 1) {
      const w = attrsOf('stablehlo.reduce_window', op);
      const [x, init] = op.operands as [Value, Value];
      const p = placeOf(x);
      // A dimension the window does not slide along (size 1, stride 1, no padding or dilation)
      // keeps its tiles; any other is gathered first.
      const d = p.kind === 'tiled' ? p.dim : -1;
      const untouched =
        d >= 0 &&
        w.dims[d] === 1 &&
        w.strides[d] === 1 &&
        w.baseDil[d] === 1 &&
        w.winDil[d] === 1 &&
        w.padding[d]!.every((q) => q === 0);
      if (untouched) emit([map.get(x)!, as(init, REPLICATED)], [p]);
      else emit([as(x, REPLICATED), as(init, REPLICATED)], [REPLICATED]);
    } else if (op.name === 'stablehlo.gather') {
      partitionGather(op, as, placeOf, emit);
    } else if (op.name === 'stablehlo.scatter' && op.results.length === 1) {
      partitionScatter(op, as, placeOf, emit);
    } else if (op.name === 'stablehlo.dot_general') {
      const sum = partitionDot(op, b, as, placeOf, emit);
      if (sum) map.set(op.results[0]!, sum); // later uses read the summed partial products
    } else if (op.name === 'stablehlo.reduce' && op.results.length === 1) {
      const { dims } = attrsOf('stablehlo.reduce', op);
      const [x, init] = op.operands as [Value, Value];
      const p = placeOf(x);
      if (p.kind === 'tiled' && !dims.includes(p.dim)) {
        emit([map.get(x)!, as(init, REPLICATED)], [moved(p, p.dim - dims.filter((r) => r < p.dim).length)]);
      } else if (p.kind === 'tiled') {
        // Each partition reduces its tile; the partial results combine with the same body (whose
        // init must be its identity, as XLA assumes too).
        const [partial] = emit([map.get(x)!, as(init, REPLICATED)], [REPLICATED]);
        map.set(
          op.results[0]!,
          b.allReduce(partial!, op.regions[0]!, p.ways, `partial results of a reduce over tiled dimension ${p.dim}`),
        );
      } else emit([map.get(x)!, as(init, REPLICATED)], [REPLICATED]);
    } else {
      emit(
        op.operands.map((v) => as(v, REPLICATED)),
        op.results.map(() => REPLICATED),
      );
    }
    ops.push(...b.ops);
  }
  // The entry now takes and returns each device's tiles: marked for the generated header.
  const marked = (attrs: readonly Readonly<Record<string, Attr>>[] | undefined, count: number) =>
    [...Array(count).keys()].map((i) => ({ ...(attrs?.[i] ?? {}), [DEVICE_TILE]: { kind: 'unit' } as Attr }));
  return {
    ...f,
    paramAttrs: marked(f.paramAttrs, f.params.length),
    resultAttrs: marked(f.resultAttrs, f.resultTypes.length),
    params: newParams,
    resultTypes: f.resultTypes.map((t, i) => localType(t as TensorType, results[i]!, f.loc)),
    body: { blocks: [{ ...block, args: newParams, ops }] },
  };
}

/**
 * Where a reshape puts tiled dimension d (undefined: the tiles would not stay contiguous). With
 * the dimensions before it holding the same elements before and after, partition p's tile is one
 * contiguous run of each such block, before as after: the result dimension that starts there
 * carries the tiling if it cuts into n tiles (a hidden dimension split into heads x head size,
 * or merged back).
 */
export function reshapedDim(from: readonly number[], to: readonly number[], d: number, n: number): number | undefined {
  const before = from.slice(0, d).reduce((a, x) => a * x, 1);
  let prefix = 1;
  for (let e = 0; e < to.length && prefix <= before; e++) {
    if (prefix === before && to[e] !== 1) return to[e]! % n === 0 ? e : undefined;
    prefix *= to[e]!;
  }
  return undefined;
}

/** The values an op's regions read that none of them defines (captured from the enclosing block). */
function capturedBy(op: Op): Value[] {
  const defined = new Set<Value>();
  const used = new Set<Value>();
  const walk = (o: Op): void =>
    o.regions.forEach((r) =>
      r.blocks.forEach((blk) => {
        blk.args.forEach((a) => defined.add(a));
        for (const inner of blk.ops) {
          inner.operands.forEach((v) => used.add(v));
          inner.results.forEach((v) => defined.add(v));
          walk(inner);
        }
      }),
    );
  walk(op);
  return [...used].filter((v) => !defined.has(v));
}

/** dot_general: a tiled batch/free dimension stays tiled; a tiled contracting one gives partial sums. */
function partitionDot(
  op: Op,
  b: SpmdBuilder,
  as: (v: Value, p: Placement) => Value,
  placeOf: (v: Value) => Placement,
  emit: (operands: Value[], places: Placement[]) => Value[],
): Value | undefined {
  const { lb, rb, lc, rc } = attrsOf('stablehlo.dot_general', op);
  const [l, r] = op.operands as [Value, Value];
  const [pl, pr] = [placeOf(l), placeOf(r)];
  const lRank = tensorOf(l).shape.length;
  const rRank = tensorOf(r).shape.length;
  const lFree = [...Array(lRank).keys()].filter((d) => !lb.includes(d) && !lc.includes(d));
  const rFree = [...Array(rRank).keys()].filter((d) => !rb.includes(d) && !rc.includes(d));
  // Result dimensions: batch, then lhs free, then rhs free.
  const lResult = (d: number): number => (lb.includes(d) ? lb.indexOf(d) : lb.length + lFree.indexOf(d));
  const rResult = (d: number): number => (rb.includes(d) ? rb.indexOf(d) : lb.length + lFree.length + rFree.indexOf(d));
  const tiledOn = (p: Placement): number | undefined => (p.kind === 'tiled' ? p.dim : undefined);
  const [dl, dr] = [tiledOn(pl), tiledOn(pr)];
  if (dl !== undefined && lc.includes(dl) && (dr === undefined || dr === rc[lc.indexOf(dl)])) {
    // Contracting dimension tiled: each partition's partial product, summed across partitions.
    const [partial] = emit([as(l, pl), as(r, moved(pl, rc[lc.indexOf(dl)]!))], [REPLICATED]);
    return b.allReduce(
      partial!,
      sumRegion(tensorOf(partial!), op.loc),
      (pl as Tiled).ways,
      `partial products of a dot_general contracting over tiled dimension ${dl}`,
    );
  }
  if (dr !== undefined && rc.includes(dr) && dl === undefined) {
    const [partial] = emit([as(l, moved(pr, lc[rc.indexOf(dr)]!)), as(r, pr)], [REPLICATED]);
    return b.allReduce(
      partial!,
      sumRegion(tensorOf(partial!), op.loc),
      (pr as Tiled).ways,
      `partial products of a dot_general contracting over tiled rhs dimension ${dr}`,
    );
  }
  if (dl !== undefined && !lc.includes(dl) && (!lb.includes(dl) || dr === rb[lb.indexOf(dl)] || dr === undefined)) {
    const rWant = lb.includes(dl) ? moved(pl, rb[lb.indexOf(dl)]!) : REPLICATED;
    emit([as(l, pl), as(r, rWant)], [moved(pl, lResult(dl))]);
    return undefined;
  }
  if (dr !== undefined && rFree.includes(dr)) {
    emit([as(l, REPLICATED), as(r, pr)], [moved(pr, rResult(dr))]);
    return undefined;
  }
  emit([as(l, REPLICATED), as(r, REPLICATED)], [REPLICATED]);
  return undefined;
}
