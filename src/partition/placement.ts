/**
 * @fileoverview The SPMD partitioner's vocabulary for where a value lives (partition/spmd.ts and
 * its per-op rules).
 */

/**
 * Where a value lives: whole on every partition, or cut along `dim` into `ways` tiles. With fewer
 * tiles than partitions each tile is replicated on n / ways of them (GSPMD's
 * last_tile_dim_replicate, a Shardy axis the value does not use): partition p holds tile
 * floor(p / (n / ways)).
 */
export type Placement =
  { readonly kind: 'replicated' } | { readonly kind: 'tiled'; readonly dim: number; readonly ways: number };
export const REPLICATED: Placement = { kind: 'replicated' };
export const tiled = (dim: number, ways: number): Placement => ({ kind: 'tiled', dim, ways });
export type Tiled = Extract<Placement, { kind: 'tiled' }>;
/** The same tiling, on another dimension. */
export const moved = (p: Placement, dim: number): Placement => ({ ...(p as Tiled), dim });
