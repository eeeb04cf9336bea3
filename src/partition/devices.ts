/**
 * @fileoverview `--devices N`: the process grid of an SPMD build. A module that states its grid
 * (`mhlo.num_replicas`, `mhlo.num_partitions`, as JAX's exports do) must state N devices in all;
 * one that does not is N partitions of one replica (GSPMD's numbering).
 */
import { error } from '../diag/diagnostics.js';
import type { Loc } from '../diag/source.js';
import type { Module } from '../ir/core.js';

/** Where a module attribute is written (its name's first occurrence), for a located error. */
function attrLoc(m: Module, name: string): Loc {
  const at = m.source.text.indexOf(name);
  return m.source.locAt(Math.max(0, at));
}

/** The devices whose programs send on a channel, and those that receive on it. */
export interface ChannelEnds {
  readonly senders: readonly number[];
  readonly receivers: readonly number[];
}

/** The devices of an SPMD build: replicas x partitions (StableHLO's process grid, device =
 * replica * partitions + partition), and the communicator it links. */
export interface DeviceGrid {
  readonly replicas: number;
  readonly partitions: number;
  readonly comm: 'threads' | 'mpi';
  /** MPMD: the entry each device runs (absent: the compiled entry on every device). */
  readonly programs?: readonly string[];
  /** The launch's send / recv channels and their ends (set by the pipeline: partition/channels.ts). */
  readonly channels?: ReadonlyMap<number, ChannelEnds>;
}

export const deviceCount = (g: DeviceGrid): number => g.replicas * g.partitions;

export function deviceGrid(m: Module, devices: number, comm: DeviceGrid['comm']): DeviceGrid {
  const read = (name: string): number | undefined => {
    const a = m.attrs[name];
    if (a === undefined) return undefined;
    if (a.kind !== 'int' || a.value < 1n)
      throw error('E0204', { op: name, detail: 'must be a positive integer' }, attrLoc(m, name));
    return Number(a.value);
  };
  const replicas = read('mhlo.num_replicas');
  const partitions = read('mhlo.num_partitions');
  if (replicas === undefined && partitions === undefined) return { replicas: 1, partitions: devices, comm };
  const grid = { replicas: replicas ?? 1, partitions: partitions ?? 1, comm };
  if (deviceCount(grid) !== devices)
    throw error(
      'E0204',
      {
        op: '--devices',
        detail: `the module runs on mhlo.num_replicas x mhlo.num_partitions = ${grid.replicas} x ${grid.partitions} = ${deviceCount(grid)} devices, not ${devices}`,
      },
      attrLoc(m, partitions !== undefined ? 'mhlo.num_partitions' : 'mhlo.num_replicas'),
    );
  return grid;
}
