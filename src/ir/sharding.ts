/**
 * @fileoverview How a program says where its tensors live, in the two spellings exporters write:
 * Shardy (`sdy.mesh` + `#sdy.sharding<@mesh, [{"x"}, {}]>`, current jax.export) and GSPMD
 * (`mhlo.sharding = "{devices=[8,1]<=[8]}"` strings, older JAX, torch_xla, TF). The importer turns
 * both into these records; the partitioner reads them. On one device every sharding is a layout
 * hint with no effect on values.
 */

/** `sdy.mesh @name = <["x"=2, "y"=4], device_ids=[...]>`. */
export interface Mesh {
  readonly name: string;
  readonly axes: readonly { readonly name: string; readonly size: number }[];
  /** Explicit device order; absent means iota. */
  readonly deviceIds?: readonly number[];
}

/** One tensor dimension of a Shardy sharding: the mesh axes it is split over, major first. */
export interface DimSharding {
  readonly axes: readonly string[];
  /** `?`: the partitioner may add axes. */
  readonly open: boolean;
}

export type Sharding =
  /** Shardy: per-dimension mesh axes, plus axes the value is explicitly replicated over. */
  | {
      readonly kind: 'mesh';
      readonly mesh: string;
      readonly dims: readonly DimSharding[];
      readonly replicated: readonly string[];
    }
  /** GSPMD tiles: the tensor is cut into `tiles` (one count per dim, plus one trailing replication dim
   * when `lastTileReplicated`), tile i going to `devices[i]`. */
  | {
      readonly kind: 'tiled';
      readonly tiles: readonly number[];
      readonly devices: readonly number[];
      readonly lastTileReplicated: boolean;
    }
  | { readonly kind: 'replicated' }
  /** Each partition holds its own local value (inside shard_map / manual regions). */
  | { readonly kind: 'manual' }
  | { readonly kind: 'maximal'; readonly device: number }
  /** `{{...}, {...}}`: one sharding per tuple element. */
  | { readonly kind: 'tuple'; readonly elems: readonly Sharding[] };
