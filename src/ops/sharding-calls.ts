/**
 * @fileoverview Manual (shard_map) regions of GSPMD programs on one device. JAX writes a sharded
 * computation as: `@Sharding` (annotate the full value) -> `@SPMDFullToShardShape` (each of N
 * partitions takes its tile) -> `call @body` (runs once per partition, collectives between them)
 * -> `@SPMDShardToFullShape` (the tiles, reassembled by the result's sharding). These helpers say
 * which tile each partition holds; the interpreter runs the body on a simulated process grid
 * (ops/control.ts), the compiler unrolls it (partition/unroll.ts).
 */
import { error } from '../diag/diagnostics.js';
import type { Loc } from '../diag/source.js';
import type { Func, Module, Op, Region, Value } from '../ir/core.js';
import type { Sharding } from '../ir/sharding.js';
import type { TensorType } from '../ir/types.js';
import { customCallTarget } from '../ir/core.js';

export const FULL_TO_SHARD = 'SPMDFullToShardShape';
export const SHARD_TO_FULL = 'SPMDShardToFullShape';

/** The sharding an op carries in `mhlo.sharding` (or `operand_sharding`, see attachOperandShardings). */
export function shardingAttr(op: Op, name = 'mhlo.sharding'): Sharding | undefined {
  const a = op.attrs[name];
  return a?.kind === 'sharding' ? a.sharding : undefined;
}

/** Whether `op` is a full-to-shard or shard-to-full call that changes shape (a real partitioning step). */
export function isShardingBoundary(op: Op): boolean {
  const target = customCallTarget(op);
  if (target !== FULL_TO_SHARD && target !== SHARD_TO_FULL) return false;
  const [a, b] = [op.operands[0]?.type, op.results[0]?.type];
  return a?.kind === 'tensor' && b?.kind === 'tensor' && a.shape.join('x') !== b.shape.join('x');
}

/** Whether a function's top-level blocks hold a sharding boundary (a manual region starts or ends there). */
export const hasShardingBoundary = (f: Func): boolean =>
  !!f.body?.blocks.some((blk) => blk.ops.some(isShardingBoundary));

/**
 * The full-to-shard step needs the full value's sharding, which JAX writes on the `@Sharding` call
 * that feeds it: copy it onto the step as `operand_sharding`, so each backend reads it from the op.
 */
export function attachOperandShardings(m: Module): void {
  const walk = (r: Region, defs: Map<Value, Op>): void =>
    r.blocks.forEach((b) =>
      b.ops.forEach((op) => {
        op.results.forEach((v) => defs.set(v, op));
        if (customCallTarget(op) === FULL_TO_SHARD) {
          const from = defs.get(op.operands[0]!);
          const s = from && customCallTarget(from) === 'Sharding' ? from.attrs['mhlo.sharding'] : undefined;
          if (s) (op.attrs as Record<string, unknown>)['operand_sharding'] = s;
        }
        op.regions.forEach((inner) => walk(inner, defs));
      }),
    );
  for (const f of m.funcs.values()) if (f.body) walk(f.body, new Map());
}

/** Where partition p's tile starts in each dimension (undefined: it holds the whole value). */
export type TileStarts = readonly number[] | undefined;

/**
 * The tile origin of every partition 0..n-1 of a tensor `full` cut into tiles of shape `local` by
 * `s`. Tiles must divide the tensor evenly (what GSPMD's shard_map requires); partitions that
 * replicate a tile get the same origin.
 */
export function tileStarts(
  s: Sharding | undefined,
  full: TensorType,
  local: TensorType,
  n: number,
  loc: Loc,
): TileStarts[] {
  const bad = (detail: string): never => {
    throw error('E0301', { op: `a manual sharding step (${detail})`, target: 'one device' }, loc);
  };
  if (!s || s.kind === 'replicated' || s.kind === 'manual') {
    if (full.shape.join('x') !== local.shape.join('x')) bad('a replicated value whose shard shape differs');
    return Array.from({ length: n }, () => undefined);
  }
  if (s.kind !== 'tiled') return bad(`a ${s.kind} sharding`);
  const rank = full.shape.length;
  const tiles = s.tiles.slice(0, rank);
  if (tiles.length !== rank || s.tiles.length !== rank + (s.lastTileReplicated ? 1 : 0))
    bad(`sharding of rank ${s.tiles.length} for a rank-${rank} value`);
  full.shape.forEach((d, i) => {
    if (d !== local.shape[i]! * tiles[i]!) bad(`dimension ${i}: ${d} is not ${tiles[i]} tiles of ${local.shape[i]}`);
  });
  const starts: TileStarts[] = new Array(n).fill(null);
  const all = s.tiles;
  s.devices.forEach((device, k) => {
    // Tile k's coordinates, row-major over all tile dimensions (the replication one last).
    const coords: number[] = [];
    let rest = k;
    for (let i = all.length - 1; i >= 0; i--) {
      coords[i] = rest % all[i]!;
      rest = Math.floor(rest / all[i]!);
    }
    if (device >= n) bad(`device ${device} of ${n}`);
    starts[device] = coords.slice(0, rank).map((c, i) => c * local.shape[i]!);
  });
  if (starts.some((x) => x === null)) bad(`not every one of ${n} partitions holds a tile`);
  return starts;
}

/** For reassembly: the partition holding each distinct tile, with the tile's origin (first replica wins). */
export function distinctTiles(starts: readonly TileStarts[]): { partition: number; start: readonly number[] }[] {
  const seen = new Set<string>();
  const out: { partition: number; start: readonly number[] }[] = [];
  starts.forEach((st, p) => {
    if (!st) return;
    const key = st.join(',');
    if (!seen.has(key)) {
      seen.add(key);
      out.push({ partition: p, start: st });
    }
  });
  return out;
}
