/**
 * @fileoverview Who is at the other end of each send and recv of a launch. StableHLO names a
 * point-to-point transfer by its channel only; the compiler sees every device's program (one SPMD
 * entry, or one entry per device: `DeviceGrid.programs`), so it finds, per channel, the devices
 * whose programs send on it and those that receive on it. A channel must have one sending and one
 * receiving device: the communicator (rl_comm.h) then gets each end's peer as a constant.
 */
import { error } from '../diag/diagnostics.js';
import type { Func, Module, Op } from '../ir/core.js';
import { COLLECTIVE_OPS } from '../ops/collective.js';
import { attrsOf } from '../ops/index.js';
import { deviceCount, type ChannelEnds, type DeviceGrid } from './devices.js';

/** Every op `f` runs, its calls' and composites' bodies included (each function once). */
function reachableOps(m: Module, f: Func, seen = new Set<Func>()): Op[] {
  if (seen.has(f) || !f.body) return [];
  seen.add(f);
  const ops: Op[] = [];
  const visit = (op: Op): void => {
    ops.push(op);
    op.regions.forEach((r) => r.blocks.forEach((b) => b.ops.forEach(visit)));
    const callee = op.attrs[op.name === 'stablehlo.composite' ? 'decomposition' : 'callee'];
    const g = callee?.kind === 'symbol' ? m.funcs.get(callee.name) : undefined;
    if (g && (op.name === 'func.call' || op.name === 'stablehlo.composite')) ops.push(...reachableOps(m, g, seen));
  };
  f.body.blocks.forEach((b) => b.ops.forEach(visit));
  return ops;
}

/** The entry each device runs (device = replica * partitions + partition). */
export const programsOf = (grid: DeviceGrid, entry: string): readonly string[] =>
  grid.programs ?? Array<string>(deviceCount(grid)).fill(entry);

/**
 * The ends of every channel of the launch. A launch whose devices run different programs may not
 * hold collectives (the communicator meets every device at each of them): a located E0301.
 */
export function channelEnds(m: Module, entry: string, grid: DeviceGrid): Map<number, ChannelEnds> {
  const programs = programsOf(grid, entry);
  const mixed = new Set(programs).size > 1;
  const ends = new Map<number, { senders: number[]; receivers: number[] }>();
  programs.forEach((name, d) => {
    const f = m.funcs.get(name);
    if (!f) throw error('E0107', { name }, undefined);
    for (const op of reachableOps(m, f)) {
      if (mixed && COLLECTIVE_OPS.has(op.name))
        throw error(
          'E0301',
          {
            op: `${op.name} in a launch whose devices run different programs`,
            target: 'the communicator (every device meets every collective)',
          },
          op.loc,
        );
      if (op.name !== 'stablehlo.send' && op.name !== 'stablehlo.recv') continue;
      const { channelId } = attrsOf(op.name, op);
      let e = ends.get(channelId);
      if (!e) ends.set(channelId, (e = { senders: [], receivers: [] }));
      const side = op.name === 'stablehlo.send' ? e.senders : e.receivers;
      if (!side.includes(d)) side.push(d);
    }
  });
  return ends;
}
