/**
 * @fileoverview Shardy's shard_map (`sdy.manual_computation`) in the GSPMD form the rest of the
 * partition phase reads (manual.ts): each operand goes through `@Sharding` + `@SPMDFullToShardShape`
 * with the tiling its mesh sharding names, the body becomes a private function called on the
 * tiles, and each result comes back through `@SPMDShardToFullShape`. Import step, module to module.
 */
import { error } from '../diag/diagnostics.js';
import type { Loc } from '../diag/source.js';
import type { Attr } from '../ir/attrs.js';
import { newValue, type Func, type Module, type Op, type Region, type Value } from '../ir/core.js';
import type { Mesh, Sharding } from '../ir/sharding.js';
import { FULL_TO_SHARD, SHARD_TO_FULL } from '../ops/sharding-calls.js';

function unsupported(what: string, loc: Loc): never {
  throw error('E0301', { op: what, target: 'the partition phase' }, loc);
}

/**
 * A mesh sharding as GSPMD tiles: dimension d is cut into the product of its axes' sizes (major
 * axis first); the mesh axes no dimension uses replicate, as a trailing tile dimension. Devices
 * are numbered row-major over the mesh's axes (or by its device_ids).
 */
export function meshToTiles(mesh: Mesh, s: Sharding, rank: number, loc: Loc): Sharding {
  if (s.kind !== 'mesh') return s;
  if (s.dims.length !== rank) unsupported(`a sharding of ${s.dims.length} dimensions for a rank-${rank} value`, loc);
  const size = new Map(mesh.axes.map((a) => [a.name, a.size]));
  for (const d of s.dims)
    for (const a of d.axes) if (!size.has(a)) unsupported(`mesh axis "${a}" (sub-axes and unknown axes)`, loc);
  const used = new Set(s.dims.flatMap((d) => d.axes));
  const unused = mesh.axes.filter((a) => !used.has(a.name) && a.size > 1).map((a) => a.name);
  const tiles = s.dims.map((d) => d.axes.reduce((n, a) => n * size.get(a)!, 1));
  const rep = unused.reduce((n, a) => n * size.get(a)!, 1);
  if (tiles.every((t) => t === 1)) return { kind: 'replicated' };
  const n = mesh.axes.reduce((k, a) => k * a.size, 1);
  const devices = new Array<number>(n);
  for (let p = 0; p < n; p++) {
    const coord = new Map<string, number>();
    let rest = p;
    for (let i = mesh.axes.length - 1; i >= 0; i--) {
      coord.set(mesh.axes[i]!.name, rest % mesh.axes[i]!.size);
      rest = Math.floor(rest / mesh.axes[i]!.size);
    }
    const index = (axes: readonly string[]): number => axes.reduce((t, a) => t * size.get(a)! + coord.get(a)!, 0);
    const flat = [...s.dims.map((d) => index(d.axes)), index(unused)].reduce(
      (f, c, i) => f * (i < tiles.length ? tiles[i]! : rep) + c,
      0,
    );
    devices[flat] = mesh.deviceIds?.[p] ?? p;
  }
  return { kind: 'tiled', tiles: rep > 1 ? [...tiles, rep] : tiles, devices, lastTileReplicated: rep > 1 };
}

const shardingAttrOf = (s: Sharding): Attr => ({ kind: 'sharding', sharding: s });

function customCall(target: string, operand: Value, result: Value, attrs: Record<string, Attr>, loc: Loc): Op {
  return {
    name: 'stablehlo.custom_call',
    operands: [operand],
    results: [result],
    attrs: { call_target_name: { kind: 'string', value: target }, ...attrs },
    regions: [],
    successors: [],
    loc,
  };
}

/** Rewrites every sdy.manual_computation of `m` (see the file comment). */
export function shardyToGspmd(m: Module): Module {
  const outlined = new Map<string, Func>();
  const rewriteRegion = (r: Region): Region => ({
    blocks: r.blocks.map((b) => ({ ...b, ops: b.ops.flatMap(rewriteOp) })),
  });
  const rewriteOp = (op: Op): Op[] => {
    if (op.name !== 'sdy.manual_computation')
      return op.regions.length ? [{ ...op, regions: op.regions.map(rewriteRegion) }] : [op];
    const list = (name: string): Sharding[] => {
      const a = op.attrs[name];
      return a?.kind === 'array'
        ? a.elems.map((e) => (e.kind === 'sharding' ? e.sharding : unsupported(`${name} holding ${e.kind}`, op.loc)))
        : unsupported(`sdy.manual_computation without ${name}`, op.loc);
    };
    const [ins, outs] = [list('in_shardings'), list('out_shardings')];
    if (ins.length !== op.operands.length || outs.length !== op.results.length)
      unsupported('sdy.manual_computation whose shardings do not match its operands and results', op.loc);
    const meshName = [...ins, ...outs].flatMap((s) => (s.kind === 'mesh' ? [s.mesh] : []))[0] ?? '';
    const mesh =
      m.meshes?.get(meshName) ?? unsupported(`sdy.manual_computation on an unknown mesh @${meshName}`, op.loc);
    const manual = op.attrs['manual_axes'];
    const manualAxes = new Set(
      manual?.kind === 'array' ? manual.elems.map((e) => (e.kind === 'string' ? e.value : '')) : [],
    );
    const free = mesh.axes.filter((a) => a.size > 1 && !manualAxes.has(a.name));
    if (free.length)
      unsupported(
        `sdy.manual_computation manual over some mesh axes only (free: ${free.map((a) => a.name).join(', ')})`,
        op.loc,
      );
    const body = op.regions[0]!;
    const block = body.blocks[0]!;
    const name = `sdy_manual_computation_${outlined.size}`;
    const ret = block.ops[block.ops.length - 1];
    if (!ret || ret.name !== 'stablehlo.return')
      unsupported('sdy.manual_computation whose body does not end in sdy.return', op.loc);
    const fnBody: Region = rewriteRegion({
      blocks: [
        { ...block, ops: [...block.ops.slice(0, -1), { ...ret, name: 'func.return' }] },
        ...body.blocks.slice(1),
      ],
    });
    outlined.set(name, {
      name,
      visibility: 'private',
      params: block.args,
      resultTypes: ret.operands.map((v) => v.type),
      loc: op.loc,
      body: fnBody,
    });
    const out: Op[] = [];
    const locals = op.operands.map((x, i) => {
      const rank = x.type.kind === 'tensor' ? x.type.shape.length : 0;
      const tiles = meshToTiles(mesh, ins[i]!, rank, op.loc);
      const annotated = newValue(x.type, '%sharded');
      const local = newValue(block.args[i]!.type, '%local');
      out.push(customCall('Sharding', x, annotated, { 'mhlo.sharding': shardingAttrOf(tiles) }, op.loc));
      out.push(
        customCall(
          FULL_TO_SHARD,
          annotated,
          local,
          { 'mhlo.sharding': shardingAttrOf({ kind: 'manual' }), operand_sharding: shardingAttrOf(tiles) },
          op.loc,
        ),
      );
      return local;
    });
    const results = ret.operands.map((v) => newValue(v.type, '%local_result'));
    out.push({
      name: 'func.call',
      operands: locals,
      results,
      attrs: { callee: { kind: 'symbol', name } },
      regions: [],
      successors: [],
      loc: op.loc,
    });
    op.results.forEach((r, j) => {
      const rank = r.type.kind === 'tensor' ? r.type.shape.length : 0;
      out.push(
        customCall(
          SHARD_TO_FULL,
          results[j]!,
          r,
          { 'mhlo.sharding': shardingAttrOf(meshToTiles(mesh, outs[j]!, rank, op.loc)) },
          op.loc,
        ),
      );
    });
    return out;
  };
  const funcs = new Map<string, Func>();
  for (const [name, f] of m.funcs) funcs.set(name, f.body ? { ...f, body: rewriteRegion(f.body) } : f);
  if (!outlined.size) return m;
  for (const [name, f] of outlined) funcs.set(name, f);
  return { ...m, funcs };
}
