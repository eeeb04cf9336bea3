/**
 * @fileoverview Manual regions (shard_map) on N devices (`--devices N`): the program already says
 * what each partition computes, so it passes through as it is, its collectives now real. Only the
 * two boundaries change: `@SPMDFullToShardShape` becomes this partition's tile of the full value
 * (a dynamic_slice at the tile origin its sharding gives the partition, looked up by
 * partition_id: no data moves), and `@SPMDShardToFullShape` gathers every partition's tile
 * (all_gather) and puts the full value together by the result's sharding (a replicated result is
 * the partition's own value: nothing moves). On one device, unroll.ts runs the same program
 * unrolled instead.
 */
import { error } from '../diag/diagnostics.js';
import type { Loc } from '../diag/source.js';
import { customCallTarget, type Func, type Module, type Op, type Value } from '../ir/core.js';
import { i64Array as ints, OpBuilder } from '../ir/builder.js';
import { intElem, tensorType, type TensorType } from '../ir/types.js';
import {
  distinctTiles,
  FULL_TO_SHARD,
  hasShardingBoundary,
  isShardingBoundary,
  SHARD_TO_FULL,
  shardingAttr,
  tileStarts,
} from '../ops/sharding-calls.js';
import { assemble, Builder } from './unroll.js';
import { everyPartition } from '../ops/collective.js';

const tensorOf = (v: Value): TensorType => v.type as TensorType;

function unsupported(what: string, loc: Loc): never {
  throw error('E0301', { op: what, target: 'manual regions on several devices' }, loc);
}

/** This partition's tile of `x`, from a table of every partition's tile origin. */
function localTile(
  b: OpBuilder,
  x: Value,
  starts: readonly (readonly number[] | undefined)[],
  local: TensorType,
): Value {
  const full = tensorOf(x);
  const rank = full.shape.length;
  if (starts.every((s) => !s || s.every((v) => v === 0)) && full.shape.join('x') === local.shape.join('x')) return x;
  const i32 = intElem(32, true);
  const table = b.constant(
    tensorType([starts.length, rank], i32),
    starts.flatMap((s) => s ?? Array<number>(rank).fill(0)),
  );
  const pid = b.op('stablehlo.partition_id', [], [tensorType([], intElem(32, false))])[0]!;
  const row = b.op('stablehlo.convert', [pid], [tensorType([], i32)])[0]!;
  const zero = b.constant(tensorType([], i32), [0]);
  const mine = b.op('stablehlo.dynamic_slice', [table, row, zero], [tensorType([1, rank], i32)], {
    slice_sizes: ints([1, rank]),
  })[0]!;
  const origin = [...Array(rank).keys()].map((d) => {
    const one = b.op('stablehlo.slice', [mine], [tensorType([1, 1], i32)], {
      start_indices: ints([0, d]),
      limit_indices: ints([1, d + 1]),
      strides: ints([1, 1]),
    })[0]!;
    return b.op('stablehlo.reshape', [one], [tensorType([], i32)])[0]!;
  });
  return b.op('stablehlo.dynamic_slice', [x, ...origin], [local], { slice_sizes: ints(local.shape) })[0]!;
}

function rewriteFunc(f: Func, n: number, channel: { next: number }): Func {
  const block = f.body!.blocks[0]!;
  const map = new Map<Value, Value>();
  const ops: Op[] = [];
  for (const op of block.ops) {
    const use = (v: Value): Value => map.get(v) ?? v;
    const target = customCallTarget(op);
    if (isShardingBoundary(op) && target === FULL_TO_SHARD) {
      const b = new Builder(op.loc);
      const s = shardingAttr(op, 'operand_sharding');
      const full = tensorOf(op.operands[0]!);
      const local = tensorOf(op.results[0]!);
      map.set(op.results[0]!, localTile(b, use(op.operands[0]!), tileStarts(s, full, local, n, op.loc), local));
      ops.push(...b.ops);
    } else if (isShardingBoundary(op) && target === SHARD_TO_FULL) {
      const b = new Builder(op.loc);
      const y = use(op.operands[0]!);
      const local = tensorOf(op.operands[0]!);
      const full = tensorOf(op.results[0]!);
      const tiles = distinctTiles(tileStarts(shardingAttr(op), full, local, n, op.loc));
      if (tiles.length === 0) unsupported(`@${SHARD_TO_FULL} to a value no partition holds a tile of`, op.loc);
      const lifted = b.op('stablehlo.reshape', [y], [tensorType([1, ...local.shape], local.elem)])[0]!;
      const gathered = b.op('stablehlo.all_gather', [lifted], [tensorType([n, ...local.shape], local.elem)], {
        all_gather_dim: { kind: 'int', value: 0n },
        ...everyPartition(n, channel.next++),
      })[0]!;
      const placed = tiles.map((t) => {
        const one = b.slice(gathered, [t.partition, ...local.shape.map(() => 0)], [1, ...local.shape]);
        return { value: b.op('stablehlo.reshape', [one], [local])[0]!, start: t.start };
      });
      map.set(op.results[0]!, assemble(b, placed, 0));
      ops.push(...b.ops);
    } else if (isShardingBoundary(op)) {
      unsupported(`${target} of an unexpected shape`, op.loc);
    } else {
      ops.push({
        ...op,
        operands: op.operands.map(use),
        successors: op.successors.map((s) => ({ label: s.label, args: s.args.map(use) })),
      });
    }
  }
  return { ...f, body: { blocks: [{ ...block, ops }] } };
}

/** The partition phase for manual regions on n devices (functions without boundaries kept). */
export function manualRegionsOnDevices(m: Module, n: number): Module {
  if (![...m.funcs.values()].some(hasShardingBoundary)) return m;
  const funcs = new Map<string, Func>();
  const channel = { next: 1000 };
  for (const [name, f] of m.funcs) {
    if (hasShardingBoundary(f) && f.body!.blocks.length !== 1)
      unsupported(`@${name}: manual regions in a function of several blocks`, f.loc);
    funcs.set(name, hasShardingBoundary(f) ? rewriteFunc(f, n, channel) : f);
  }
  return { ...m, funcs };
}
