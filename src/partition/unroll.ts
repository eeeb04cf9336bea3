/**
 * @fileoverview The partition phase for one device: a GSPMD program's manual regions (see
 * manual.ts) become plain single-device code. Each partition's tile is a slice of the full value;
 * the body of a call on tiles is inlined once per partition, in lockstep, so that at a collective
 * every partition's operand exists and the collective becomes the ops that compute what each
 * partition would receive (all_reduce: the group's values combined by the reducer, as a `map`;
 * reduce_scatter: that, sliced; all_gather: a concatenate; all_to_all: slices and concatenates;
 * collective_permute: the source's value or zeros); partition_id and replica_id become
 * constants; the tiles of a result are concatenated back. Module to module; the interpreter does
 * not use it (it runs the body on a simulated process grid), so the two check each other.
 */
import { error } from '../diag/diagnostics.js';
import type { Loc } from '../diag/source.js';
import type { Attr } from '../ir/attrs.js';
import { newValue, type Func, type Module, type Op, type Region, type Value } from '../ir/core.js';
import { i64Array as ints, OpBuilder } from '../ir/builder.js';
import { tensorType, type TensorType } from '../ir/types.js';
import { COLLECTIVE_OPS, permuteMode, processGroup, reduceMode, type GroupAttrs } from '../ops/collective.js';
import { isIdentityCustomCall } from '../ops/control.js';
import { attrsOf } from '../ops/index.js';
import {
  distinctTiles,
  FULL_TO_SHARD,
  isShardingBoundary,
  SHARD_TO_FULL,
  shardingAttr,
  tileStarts,
} from '../ops/sharding-calls.js';
import { customCallTarget } from '../ir/core.js';

function unsupported(what: string, loc: Loc): never {
  throw error('E0301', { op: what, target: 'one device (partition phase)' }, loc);
}

const tensorOf = (v: Value, loc: Loc): TensorType =>
  v.type.kind === 'tensor' ? v.type : unsupported(`a per-partition ${v.type.kind} value`, loc);

const int = (x: number): Attr => ({ kind: 'int', value: BigInt(x) });

/** Ops into a list, with the slices, concatenations and folds that reassemble tiles. */
export class Builder extends OpBuilder {
  constructor(loc: Loc) {
    super(loc, '%spmd');
  }

  slice(x: Value, start: readonly number[], shape: readonly number[]): Value {
    const t = tensorOf(x, this.loc);
    if (start.every((s) => s === 0) && shape.join('x') === t.shape.join('x')) return x;
    const limit = start.map((s, i) => s + shape[i]!);
    return this.op('stablehlo.slice', [x], [tensorType(shape, t.elem)], {
      start_indices: ints(start),
      limit_indices: ints(limit),
      strides: ints(shape.map(() => 1)),
    })[0]!;
  }

  concatenate(xs: readonly Value[], dim: number): Value {
    if (xs.length === 1) return xs[0]!;
    const t = tensorOf(xs[0]!, this.loc);
    const shape = t.shape.map((d, i) => (i === dim ? xs.reduce((n, x) => n + tensorOf(x, this.loc).shape[i]!, 0) : d));
    return this.op('stablehlo.concatenate', xs, [tensorType(shape, t.elem)], { dimension: int(dim) })[0]!;
  }

  /** `combine` (a collective's reducer region) applied elementwise across `xs`, in order. */
  fold(xs: readonly Value[], combine: Region): Value {
    const t = tensorOf(xs[0]!, this.loc);
    return xs
      .slice(1)
      .reduce(
        (acc, x) =>
          this.op('stablehlo.map', [acc, x], [t], { dimensions: ints(t.shape.map((_, i) => i)) }, [
            cloneRegion(combine, new Map()),
          ])[0]!,
        xs[0]!,
      );
  }
}

/** Deep copy of a region with fresh values; uses of values outside it go through `map`. */
export function cloneRegion(r: Region, map: Map<Value, Value>): Region {
  const inner = new Map(map);
  return {
    blocks: r.blocks.map((b) => {
      const args = b.args.map((a) => {
        const v = newValue(a.type, a.name);
        inner.set(a, v);
        return v;
      });
      return { label: b.label, args, ops: b.ops.map((op) => cloneOp(op, inner)) };
    }),
  };
}

export function cloneOp(op: Op, map: Map<Value, Value>): Op {
  const results = op.results.map((r) => newValue(r.type, r.name));
  const clone: Op = {
    ...op,
    operands: op.operands.map((v) => map.get(v) ?? v),
    results,
    regions: op.regions.map((r) => cloneRegion(r, map)),
    successors: op.successors.map((s) => ({ label: s.label, args: s.args.map((v) => map.get(v) ?? v) })),
  };
  op.results.forEach((r, i) => map.set(r, results[i]!));
  return clone;
}

function mentions(r: Region, names: ReadonlySet<string>): boolean {
  return r.blocks.some((b) =>
    b.ops.some((op) => names.has(op.name) || op.regions.some((inner) => mentions(inner, names))),
  );
}

/** Collectives whose attributes include replica groups (GroupAttrs). */
const GROUPED = [
  'stablehlo.all_reduce',
  'stablehlo.reduce_scatter',
  'stablehlo.all_gather',
  'stablehlo.all_to_all',
  'stablehlo.collective_permute',
] as const;

/** The group (partition ids in group order) of each partition for a collective. */
function groupsOf(op: Op, n: number, permute: boolean): number[][] {
  const g: GroupAttrs = attrsOf(op.name as (typeof GROUPED)[number], op);
  return Array.from({ length: n }, (_, p) =>
    processGroup(
      { replicaId: 0, partitionId: p, numReplicas: 1, numPartitions: n },
      g,
      permute ? permuteMode(g) : reduceMode(g),
    ),
  );
}

/** What each partition receives from a collective, given every partition's operands. */
function lowerCollective(b: Builder, op: Op, ins: readonly (readonly Value[])[], n: number): Value[][] {
  const out: Value[][] = Array.from({ length: n }, () => []);
  const operandCount = ins[0]!.length;
  for (let k = 0; k < operandCount; k++) {
    const of = (p: number): Value => ins[p]![k]!;
    for (let p = 0; p < n; p++) {
      const resultType = op.results[k]!.type as TensorType;
      switch (op.name) {
        case 'stablehlo.all_reduce':
          out[p]!.push(b.fold(groupsOf(op, n, false)[p]!.map(of), op.regions[0]!));
          break;
        case 'stablehlo.reduce_scatter': {
          const group = groupsOf(op, n, false)[p]!;
          const reduced = b.fold(group.map(of), op.regions[0]!);
          const { dim } = attrsOf('stablehlo.reduce_scatter', op);
          const len = resultType.shape[dim]!;
          const start = resultType.shape.map((_, d) => (d === dim ? group.indexOf(p) * len : 0));
          out[p]!.push(b.slice(reduced, start, resultType.shape));
          break;
        }
        case 'stablehlo.all_gather':
          out[p]!.push(b.concatenate(groupsOf(op, n, false)[p]!.map(of), attrsOf('stablehlo.all_gather', op).dim));
          break;
        case 'stablehlo.all_to_all': {
          const a = attrsOf('stablehlo.all_to_all', op);
          const group = groupsOf(op, n, true)[p]!;
          const pieces = group.map((q) => {
            const t = tensorOf(of(q), op.loc);
            const len = t.shape[a.split]! / a.count;
            return b.slice(
              of(q),
              t.shape.map((_, d) => (d === a.split ? group.indexOf(p) * len : 0)),
              t.shape.map((s, d) => (d === a.split ? len : s)),
            );
          });
          out[p]!.push(b.concatenate(pieces, a.concat));
          break;
        }
        case 'stablehlo.collective_permute': {
          const src = attrsOf('stablehlo.collective_permute', op).pairs.find((pr) => pr[1] === p)?.[0];
          out[p]!.push(src === undefined ? b.constant(resultType, [0]) : of(src));
          break;
        }
        default:
          unsupported(`${op.name} in a manual region`, op.loc);
      }
    }
  }
  return out;
}

/** Inlines `g` once per partition, in lockstep; returns each partition's results. */
function inlinePerPartition(
  m: Module,
  b: Builder,
  g: Func,
  args: readonly (readonly Value[])[],
  n: number,
  depth: number,
): Value[][] {
  if (depth > 64) unsupported('calls nested over 64 deep in a manual region', g.loc);
  const block =
    g.body?.blocks.length === 1
      ? g.body.blocks[0]!
      : unsupported(`@${g.name} (a manual-region body of ${g.body?.blocks.length ?? 0} blocks)`, g.loc);
  const maps = args.map((a) => new Map(block.args.map((arg, i) => [arg, a[i]!] as const)));
  const special = new Set([...COLLECTIVE_OPS, 'stablehlo.partition_id', 'stablehlo.replica_id', 'func.call']);
  for (const op of block.ops) {
    if (op.name === 'func.return') return maps.map((map) => op.operands.map((v) => map.get(v) ?? v));
    const ins = maps.map((map) => op.operands.map((v) => map.get(v) ?? v));
    let outs: Value[][];
    if (COLLECTIVE_OPS.has(op.name)) outs = lowerCollective(b, op, ins, n);
    else if (op.name === 'stablehlo.partition_id' || op.name === 'stablehlo.replica_id')
      outs = ins.map((_, p) => [
        b.constant(op.results[0]!.type as TensorType, [op.name === 'stablehlo.partition_id' ? p : 0]),
      ]);
    else if (op.name === 'func.call') {
      const callee = op.attrs['callee'];
      const h = callee?.kind === 'symbol' ? m.funcs.get(callee.name) : undefined;
      if (!h) unsupported(`a call of an unknown function`, op.loc);
      outs = inlinePerPartition(m, b, h, ins, n, depth + 1);
    } else {
      if (op.regions.some((r) => mentions(r, special)))
        unsupported(`${op.name} holding collectives, partition ids or calls in a manual region`, op.loc);
      outs = maps.map((map) => {
        const clone = cloneOp(op, map);
        b.ops.push(clone);
        return [...clone.results];
      });
    }
    op.results.forEach((r, i) => maps.forEach((map, p) => map.set(r, outs[p]![i]!)));
  }
  return unsupported(`@${g.name} without a return`, g.loc);
}

/** Rewrites one function whose top-level block holds sharding boundaries. */
function unrollFunc(m: Module, f: Func): Func {
  const block = f.body!.blocks[0]!;
  const ops: Op[] = [];
  const map = new Map<Value, Value>();
  const parts = new Map<Value, Value[]>();
  for (const op of block.ops) {
    // Ops built for `op` carry its location (diagnostics and kernel comments point at the source).
    const at = new Builder(op.loc);
    const perPartition = op.operands.some((v) => parts.has(v));
    if (isShardingBoundary(op) && customCallTarget(op) === FULL_TO_SHARD) {
      const x = map.get(op.operands[0]!) ?? op.operands[0]!;
      const s = shardingAttr(op, 'operand_sharding');
      const full = tensorOf(op.operands[0]!, op.loc);
      const local = tensorOf(op.results[0]!, op.loc);
      if (s?.kind !== 'tiled') unsupported(`@${FULL_TO_SHARD} of a value without a tiled @Sharding`, op.loc);
      const starts = tileStarts(s, full, local, s.devices.length, op.loc);
      parts.set(
        op.results[0]!,
        starts.map((st) => at.slice(x, st ?? local.shape.map(() => 0), local.shape)),
      );
    } else if (customCallTarget(op) === SHARD_TO_FULL && (perPartition || isShardingBoundary(op))) {
      const tiles =
        parts.get(op.operands[0]!) ?? unsupported(`@${SHARD_TO_FULL} of a value that is not per-partition`, op.loc);
      const full = tensorOf(op.results[0]!, op.loc);
      const local = tensorOf(op.operands[0]!, op.loc);
      const starts = tileStarts(shardingAttr(op), full, local, tiles.length, op.loc);
      const placed = distinctTiles(starts).map((t) => ({ value: tiles[t.partition]!, start: t.start }));
      map.set(op.results[0]!, placed.length ? assemble(at, placed, 0) : tiles[0]!);
    } else if (perPartition && isIdentityCustomCall(op)) {
      parts.set(op.results[0]!, parts.get(op.operands[0]!)!);
    } else if (perPartition && op.name === 'func.call') {
      const callee = op.attrs['callee'];
      const g = callee?.kind === 'symbol' ? m.funcs.get(callee.name) : undefined;
      if (!g) unsupported('a call of an unknown function', op.loc);
      const n = op.operands.map((v) => parts.get(v)?.length ?? 0).find((k) => k > 0)!;
      const args = Array.from({ length: n }, (_, p) => op.operands.map((v) => parts.get(v)?.[p] ?? map.get(v) ?? v));
      const outs = inlinePerPartition(m, at, g, args, n, 0);
      op.results.forEach((r, i) =>
        parts.set(
          r,
          outs.map((o) => o[i]!),
        ),
      );
    } else if (perPartition) {
      unsupported(`${op.name} on per-partition values outside a call`, op.loc);
    } else {
      at.ops.push(cloneOp(op, map));
    }
    ops.push(...at.ops);
  }
  const body: Region = { blocks: [{ label: block.label, args: block.args, ops }] };
  return { ...f, body };
}

/** Tiles (value, origin) into one tensor: grouped by origin along each dimension in turn, concatenated. */
export function assemble(b: Builder, tiles: readonly { value: Value; start: readonly number[] }[], dim: number): Value {
  if (dim === tiles[0]!.start.length) return tiles[0]!.value;
  const origins = [...new Set(tiles.map((t) => t.start[dim]!))].sort((x, y) => x - y);
  return b.concatenate(
    origins.map((o) =>
      assemble(
        b,
        tiles.filter((t) => t.start[dim] === o),
        dim + 1,
      ),
    ),
    dim,
  );
}

/** The partition phase on one device: every function with manual regions rewritten, others kept. */
export function unrollManualRegions(m: Module): Module {
  const hasBoundary = (f: Func): boolean =>
    !!f.body?.blocks.some((blk) =>
      blk.ops.some((op) => isShardingBoundary(op) && customCallTarget(op) === FULL_TO_SHARD),
    );
  if (![...m.funcs.values()].some(hasBoundary)) return m;
  const funcs = new Map<string, Func>();
  for (const [name, f] of m.funcs) {
    if (hasBoundary(f) && f.body!.blocks.length !== 1)
      unsupported(`@${name}: manual regions in a function of several blocks`, f.loc);
    funcs.set(name, hasBoundary(f) ? unrollFunc(m, f) : f);
  }
  return { ...m, funcs };
}
