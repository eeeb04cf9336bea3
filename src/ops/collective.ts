/**
 * @fileoverview Collectives and process ops, evaluated on the simulated process grid
 * (interpret/process-grid.ts): all_reduce, all_gather, reduce_scatter, all_to_all,
 * collective_permute, collective_broadcast, replica_id, partition_id, send, recv, infeed,
 * outfeed, and interpreter.run_parallel itself.
 */
import type { Attr, AttrReader } from '../ir/attrs.js';
import type { Op } from '../ir/core.js';
import { intElem, tensorType, type TensorType, type Type } from '../ir/types.js';
import {
  expectTensor,
  getElem,
  makeTensor,
  setElem,
  size,
  type Elem,
  type RtValue,
  type Tensor,
} from '../ir/tensor.js';
import { constraint, defineOp, tensorOperands, type OpDef, type OpEvalCtx, type ProcessInfo } from './def.js';
import { resultTensorType } from './elementwise.js';
import { concatTensors, sliceEval } from './movement.js';
import { combiner } from './reduction.js';
import { RuntimeError } from '../diag/diagnostics.js';

/** The collectives that move data between processes (not the id ops, send/recv or the feeds). */
export const COLLECTIVE_OPS: ReadonlySet<string> = new Set([
  'stablehlo.all_reduce',
  'stablehlo.all_gather',
  'stablehlo.reduce_scatter',
  'stablehlo.all_to_all',
  'stablehlo.collective_permute',
  'stablehlo.collective_broadcast',
  'stablehlo.collective_reduce',
]);

/** The attributes of a collective among partitions of one replica (global device ids): by default
 * all n in one group, else the `groups` given (of equal sizes). */
export function everyPartition(
  n: number,
  channel: number,
  groups: readonly (readonly number[])[] = [[...Array(n).keys()]],
): Record<string, Attr> {
  const size = groups[0]!.length;
  return {
    replica_groups: {
      kind: 'dense',
      literal: {
        elems: groups.flat().map((i) => ({ kind: 'int', value: BigInt(i), hex: false })),
        listShape: [groups.length, size],
      },
      type: tensorType([groups.length, size], intElem(64, true)),
    },
    channel_handle: {
      kind: 'struct',
      name: 'channel_handle',
      fields: { handle: { kind: 'int', value: BigInt(channel) }, type: { kind: 'int', value: 1n } },
    },
    use_global_device_ids: { kind: 'unit' },
  };
}

export interface GroupAttrs {
  groups: number[][];
  channelId: number;
  globalIds: boolean;
}

function readGroups(r: AttrReader, name = 'replica_groups'): GroupAttrs {
  const groups = r.has(name) ? r.intMatrix(name).map((g) => g.filter((x) => x >= 0)) : [];
  const ch = r.raw('channel_handle');
  const channelId =
    ch && (ch.kind === 'struct' || ch.kind === 'dict') && ch.fields['handle']?.kind === 'int'
      ? Number(ch.fields['handle'].value)
      : 0;
  return { groups, channelId, globalIds: r.bool('use_global_device_ids', false) };
}

/**
 * Replica groups: every id at most once, none negative (`id`: the op's constraint). Returns the
 * number of processes in each group when the groups alone give it (equal sizes, and a mode whose
 * groups are the processes themselves: with a channel and no global ids each group spans every
 * partition too, a count known only at run time).
 */
function checkGroups(op: Op, id: string, g: GroupAttrs): number | undefined {
  const all = g.groups.flat();
  if (new Set(all).size !== all.length)
    constraint(op, id, `replica_groups lists a process twice: ${JSON.stringify(g.groups)}`);
  const n = g.groups[0]?.length;
  if (n === undefined || g.groups.some((x) => x.length !== n)) return undefined;
  return reduceMode(g) === 'cross_replica_and_partition' ? undefined : n;
}

/** Token-threaded ops: `data` tensor operands, then one token (send, outfeed); the token result. */
function inferTokenSink(types: readonly Type[], op: Op): Type[] {
  if (types[types.length - 1]?.kind !== 'token')
    constraint(op, `${op.name.slice(10)}_i2`, 'the last operand must be a token');
  tensorOperands(op, types.slice(0, -1), `${op.name.slice(10)}_i1`);
  return [{ kind: 'token' }];
}

/** recv and infeed: a token operand; results are tensors, then a token. */
function inferTokenSource(types: readonly Type[], op: Op): Type[] {
  if (types.length !== 1 || types[0]!.kind !== 'token')
    constraint(op, `${op.name.slice(10)}_i1`, 'the operand must be a token');
  const results = op.results.map((r) => r.type);
  if (results[results.length - 1]?.kind !== 'token')
    constraint(op, `${op.name.slice(10)}_c3`, 'the last result must be a token');
  results.slice(0, -1).forEach((t, i) => {
    if (t.kind === 'token') constraint(op, `${op.name.slice(10)}_c3`, `result #${i} must not be a token`);
  });
  return results;
}

/** Result types: the operands' shapes, dimension `dim` mapped through `f` when given, with the
 * declared results' element types (a reduction body may promote them). */
function resultsLike(op: Op, ts: readonly TensorType[], dim?: number, f?: (n: number) => number): Type[] {
  return ts.map((t, i) => {
    const r = op.results[i]?.type;
    const shape = t.shape.map((n, d) => (d === dim && f && n >= 0 ? f(n) : n));
    return tensorType(shape, r?.kind === 'tensor' ? r.elem : t.elem);
  });
}

function proc(ctx: OpEvalCtx): ProcessInfo {
  if (!ctx.process)
    throw new RuntimeError(
      'runs only on a process grid (interpreter.run_parallel): outside one the reference interpreter has no other devices and no host queue',
    );
  return ctx.process;
}

export type Mode = 'cross_replica' | 'cross_partition' | 'cross_replica_and_partition' | 'flattened_ids';

/** Where a process sits in the replicas x partitions grid. */
export type GridPlace = Pick<ProcessInfo, 'replicaId' | 'partitionId' | 'numReplicas' | 'numPartitions'>;

/** The process ids (flattened, row-major) of this process's group, in group order. */
export function processGroup(p: GridPlace, g: GroupAttrs, mode: Mode): number[] {
  const pid = (r: number, q: number): number => r * p.numPartitions + q;
  const all = (n: number): number[][] => [[...Array(n).keys()]];
  switch (mode) {
    case 'cross_replica': {
      const groups = g.groups.length ? g.groups : all(p.numReplicas);
      const grp = groups.find((x) => x.includes(p.replicaId));
      if (!grp) throw new RuntimeError(`replica ${p.replicaId} is in no replica group`);
      return grp.map((r) => pid(r, p.partitionId));
    }
    case 'cross_partition': {
      const groups = g.groups.length ? g.groups : all(p.numPartitions);
      const grp = groups.find((x) => x.includes(p.partitionId));
      if (!grp) throw new RuntimeError(`partition ${p.partitionId} is in no group`);
      return grp.map((q) => pid(p.replicaId, q));
    }
    case 'cross_replica_and_partition': {
      const groups = g.groups.length ? g.groups : all(p.numReplicas);
      const grp = groups.find((x) => x.includes(p.replicaId));
      if (!grp) throw new RuntimeError(`replica ${p.replicaId} is in no replica group`);
      // Partition-major: all replicas of the group for partition 0, then for partition 1, ...
      return [...Array(p.numPartitions).keys()].flatMap((q) => grp.map((r) => pid(r, q)));
    }
    case 'flattened_ids': {
      const me = pid(p.replicaId, p.partitionId);
      const grp = g.groups.find((x) => x.includes(me));
      if (!grp) throw new RuntimeError(`process ${me} is in no group`);
      return grp;
    }
  }
}

export function reduceMode(g: GroupAttrs): Mode {
  if (g.channelId <= 0) return g.globalIds ? 'flattened_ids' : 'cross_replica';
  return g.globalIds ? 'flattened_ids' : 'cross_replica_and_partition';
}
export function permuteMode(g: GroupAttrs): Mode {
  return g.channelId > 0 ? 'cross_partition' : 'cross_replica';
}

/** Exchanges all operands with the group; returns per-member operand lists. */
function exchangeAll(ctx: OpEvalCtx, op: Op, group: number[], args: readonly RtValue[]): RtValue[][] {
  const got = proc(ctx).exchange(op.name, group, { kind: 'tuple', elems: [...args] });
  return got.map((v) => (v.kind === 'tuple' ? [...v.elems] : [v]));
}

function reduceAcross(ctx: OpEvalCtx, op: Op, values: Tensor[][], index: number): Tensor {
  const first = values[0]![index]!;
  const out = makeTensor(first.type);
  const f = combiner(op.regions[0]!, [tensorType([], first.type.elem)], ctx);
  for (let i = 0; i < size(first); i++) {
    let acc: Elem[] = [getElem(first, i)];
    for (let m = 1; m < values.length; m++) acc = f(acc, [getElem(values[m]![index]!, i)]);
    setElem(out, i, acc[0]!);
  }
  return out;
}

function sliceAlong(t: Tensor, dim: number, start: number, len: number): Tensor {
  const shape = [...t.type.shape];
  shape[dim] = len;
  return sliceEval(
    t,
    shape.map((_, d) => (d === dim ? start : 0)),
    shape.map(() => 1),
    tensorType(shape, t.type.elem),
  );
}

const allReduce = defineOp({
  name: 'stablehlo.all_reduce',
  category: 'collective',
  spec: 'all_reduce',
  attrs: (r) => readGroups(r),
  infer: (types, g, op) => {
    checkGroups(op, 'all_reduce_c1', g);
    return resultsLike(op, tensorOperands(op, types, 'all_reduce_c6'));
  },
  evaluate: (args, g, op, ctx) => {
    const vals = exchangeAll(ctx, op, processGroup(proc(ctx), g, reduceMode(g)), args).map((l) =>
      l.map((v) => expectTensor(v)),
    );
    return args.map((_, i) => reduceAcross(ctx, op, vals, i));
  },
});

/** collective_reduce: the group's reduction lands on the root (group index 0); others get zeros. */
const collectiveReduce = defineOp({
  name: 'stablehlo.collective_reduce',
  category: 'collective',
  spec: 'collective_reduce',
  attrs: (r) => readGroups(r),
  infer: (types, g, op) => {
    checkGroups(op, 'collective_reduce_c1', g);
    return resultsLike(op, tensorOperands(op, types, 'collective_reduce_c6'));
  },
  evaluate: (args, g, op, ctx) => {
    const p = proc(ctx);
    const group = processGroup(p, g, reduceMode(g));
    const vals = exchangeAll(ctx, op, group, args).map((l) => l.map((v) => expectTensor(v)));
    const isRoot = group[0] === p.replicaId * p.numPartitions + p.partitionId;
    return args.map((a, i) => (isRoot ? reduceAcross(ctx, op, vals, i) : makeTensor(expectTensor(a).type)));
  },
});

const allGather = defineOp({
  name: 'stablehlo.all_gather',
  category: 'collective',
  spec: 'all_gather',
  attrs: (r) => ({ ...readGroups(r), dim: r.int('all_gather_dim') }),
  infer: (types, g, op) => {
    const ts = tensorOperands(op, types, 'all_gather_c6');
    const n = checkGroups(op, 'all_gather_c2', g);
    ts.forEach((t) => {
      if (g.dim < 0 || g.dim >= t.shape.length)
        constraint(op, 'all_gather_c1', `all_gather_dim ${g.dim} outside [0, ${t.shape.length})`);
    });
    return n === undefined ? undefined : resultsLike(op, ts, g.dim, (d) => d * n);
  },
  evaluate: (args, g, op, ctx) => {
    const vals = exchangeAll(ctx, op, processGroup(proc(ctx), g, reduceMode(g)), args);
    return args.map((_, i) =>
      concatTensors(
        vals.map((l) => expectTensor(l[i])),
        g.dim,
        resultTensorType(op, i),
      ),
    );
  },
});

const reduceScatter = defineOp({
  name: 'stablehlo.reduce_scatter',
  category: 'collective',
  spec: 'reduce_scatter',
  attrs: (r) => ({ ...readGroups(r), dim: r.int('scatter_dimension') }),
  infer: (types, g, op) => {
    const ts = tensorOperands(op, types, 'reduce_scatter_c8');
    const n = checkGroups(op, 'reduce_scatter_c3', g);
    ts.forEach((t) => {
      if (g.dim < 0 || g.dim >= t.shape.length)
        constraint(op, 'reduce_scatter_c2', `scatter_dimension ${g.dim} outside [0, ${t.shape.length})`);
      const d = t.shape[g.dim]!;
      if (n !== undefined && d >= 0 && d % n !== 0)
        constraint(op, 'reduce_scatter_c1', `dimension ${g.dim} of ${d} does not split into ${n} processes`);
    });
    return n === undefined ? undefined : resultsLike(op, ts, g.dim, (d) => d / n);
  },
  evaluate: (args, g, op, ctx) => {
    const group = processGroup(proc(ctx), g, reduceMode(g));
    const me = group.indexOf(proc(ctx).replicaId * proc(ctx).numPartitions + proc(ctx).partitionId);
    const vals = exchangeAll(ctx, op, group, args).map((l) => l.map((v) => expectTensor(v)));
    return args.map((_, i) => {
      const reduced = reduceAcross(ctx, op, vals, i);
      const len = reduced.type.shape[g.dim]! / group.length;
      return sliceAlong(reduced, g.dim, me * len, len);
    });
  },
});

const allToAll = defineOp({
  name: 'stablehlo.all_to_all',
  category: 'collective',
  spec: 'all_to_all',
  attrs: (r) => ({
    ...readGroups(r),
    split: r.int('split_dimension'),
    concat: r.int('concat_dimension'),
    count: r.int('split_count'),
  }),
  infer: (types, g, op) => {
    const ts = tensorOperands(op, types, 'all_to_all_c9');
    checkGroups(op, 'all_to_all_c5', g);
    if (g.count <= 0) constraint(op, 'all_to_all_c4', `split_count ${g.count} must be positive`);
    return ts.map((t, i) => {
      const rank = t.shape.length;
      if (g.split < 0 || g.split >= rank)
        constraint(op, 'all_to_all_c1', `split_dimension ${g.split} outside [0, ${rank})`);
      if (g.concat < 0 || g.concat >= rank)
        constraint(op, 'all_to_all_c3', `concat_dimension ${g.concat} outside [0, ${rank})`);
      const d = t.shape[g.split]!;
      if (d >= 0 && d % g.count !== 0)
        constraint(op, 'all_to_all_c2', `dimension ${g.split} of ${d} does not split into ${g.count}`);
      const shape = [...t.shape];
      if (d >= 0) shape[g.split] = d / g.count;
      if (shape[g.concat]! >= 0) shape[g.concat] = shape[g.concat]! * g.count;
      const r = op.results[i]?.type;
      return tensorType(shape, r?.kind === 'tensor' ? r.elem : t.elem);
    });
  },
  evaluate: (args, g, op, ctx) => {
    const p = proc(ctx);
    const group = processGroup(p, g, permuteMode(g));
    const me = group.indexOf(p.replicaId * p.numPartitions + p.partitionId);
    const vals = exchangeAll(ctx, op, group, args);
    return args.map((_, i) => {
      const parts = vals.map((l) => {
        const t = expectTensor(l[i]);
        const len = t.type.shape[g.split]! / g.count;
        return sliceAlong(t, g.split, me * len, len);
      });
      return concatTensors(parts, g.concat, resultTensorType(op, i));
    });
  },
});

const collectivePermute = defineOp({
  name: 'stablehlo.collective_permute',
  category: 'collective',
  spec: 'collective_permute',
  attrs: (r) => ({ ...readGroups(r), pairs: r.intMatrix('source_target_pairs') }),
  infer: (types, g, op) => {
    if (g.pairs.some((p) => p.length !== 2)) constraint(op, 'collective_permute_c1', 'source_target_pairs must be Nx2');
    const sources = g.pairs.map((p) => p[0]!);
    const targets = g.pairs.map((p) => p[1]!);
    if (new Set(sources).size !== sources.length) constraint(op, 'collective_permute_c2', 'a source appears twice');
    if (new Set(targets).size !== targets.length) constraint(op, 'collective_permute_c3', 'a target appears twice');
    if ([...sources, ...targets].some((x) => x < 0)) constraint(op, 'collective_permute_c4', 'negative process id');
    return tensorOperands(op, types, 'collective_permute_c5');
  },
  evaluate: (args, g, op, ctx) => {
    const p = proc(ctx);
    const mode = permuteMode(g);
    const all = processGroup(p, { ...g, groups: [] }, mode);
    const myId = mode === 'cross_replica' ? p.replicaId : p.partitionId;
    const vals = exchangeAll(ctx, op, all, args);
    const src = g.pairs.find((pr) => pr[1] === myId)?.[0];
    return args.map((a, i) => {
      if (src === undefined) return makeTensor(expectTensor(a).type);
      return expectTensor(vals[src]![i]);
    });
  },
});

const collectiveBroadcast = defineOp({
  name: 'stablehlo.collective_broadcast',
  category: 'collective',
  spec: 'collective_broadcast',
  attrs: (r) => ({ ...readGroups(r), dynamicRoot: r.bool('has_dynamic_root', false) }),
  infer: (types, g, op) => {
    checkGroups(op, 'collective_broadcast_c1', g);
    const data = g.dynamicRoot ? types.slice(0, -1) : types;
    if (g.dynamicRoot) {
      const root = types[types.length - 1];
      if (root?.kind !== 'tensor' || root.elem.kind !== 'int')
        constraint(op, 'collective_broadcast_i4', 'with has_dynamic_root the last operand is an integer root index');
    }
    return tensorOperands(op, data, 'collective_broadcast_c3');
  },
  evaluate: (allArgs, g, op, ctx) => {
    // With has_dynamic_root the last operand holds the index (within the group) of the source.
    const root = g.dynamicRoot ? Number(getElem(expectTensor(allArgs[allArgs.length - 1]), 0)) : 0;
    const args = g.dynamicRoot ? allArgs.slice(0, -1) : allArgs;
    const p = proc(ctx);
    const mode = permuteMode(g);
    const myId = mode === 'cross_replica' ? p.replicaId : p.partitionId;
    if (!g.groups.some((x) => x.includes(myId))) return [...args].map((a) => makeTensor(expectTensor(a).type));
    const group = processGroup(p, g, mode);
    const vals = exchangeAll(ctx, op, group, args);
    return args.map((_, i) => expectTensor(vals[root]![i]));
  },
});

function idOp<const N extends string>(name: N, pick: (p: ProcessInfo) => number): OpDef<any, N> {
  return defineOp({
    name,
    category: 'collective',
    spec: name.replace('stablehlo.', ''),
    arity: 0,
    infer: () => [tensorType([], intElem(32, false))],
    evaluate: (_args, _a, op, ctx) => {
      const out = makeTensor(resultTensorType(op));
      setElem(out, 0, BigInt(ctx.process ? pick(ctx.process) : 0));
      return [out];
    },
  });
}

const send = defineOp({
  name: 'stablehlo.send',
  category: 'collective',
  spec: 'send',
  attrs: (r) => readGroups(r),
  infer: (types, _g, op) => inferTokenSink(types, op),
  evaluate: (args, g, _op, ctx) => {
    proc(ctx).send(g.channelId, args.slice(0, -1));
    return [{ kind: 'token' }];
  },
});

const recv = defineOp({
  name: 'stablehlo.recv',
  category: 'collective',
  spec: 'recv',
  attrs: (r) => readGroups(r),
  infer: (types, _g, op) => inferTokenSource(types, op),
  evaluate: (_args, g, _op, ctx) => [...proc(ctx).recv(g.channelId), { kind: 'token' }],
});

const infeed = defineOp({
  name: 'stablehlo.infeed',
  category: 'collective',
  spec: 'infeed',
  infer: (types, _a, op) => inferTokenSource(types, op),
  evaluate: (_args, _a, _op, ctx) => [...proc(ctx).infeed(), { kind: 'token' }],
});

const outfeed = defineOp({
  name: 'stablehlo.outfeed',
  category: 'collective',
  spec: 'outfeed',
  infer: (types, _a, op) => inferTokenSink(types, op),
  evaluate: (args, _a, _op, ctx) => {
    ctx.process?.outfeed(args.slice(0, -1));
    return [{ kind: 'token' }];
  },
});

const runParallelOp = defineOp({
  name: 'interpreter.run_parallel',
  category: 'control',
  attrs: (r) => {
    const progs = r.raw('programs');
    if (progs?.kind !== 'array') throw new RuntimeError('run_parallel needs programs = [[@f, ...], ...]');
    const programs = progs.elems.map((row) =>
      row.kind === 'array' ? row.elems.map((s) => (s.kind === 'symbol' ? s.name : '')) : [],
    );
    const inf = r.raw('infeed');
    const infeedFns = inf?.kind === 'array' ? inf.elems.map((s) => (s.kind === 'symbol' ? s.name : '')) : [];
    return { programs, infeed: infeedFns };
  },
  evaluate: (args, a, _op, ctx) => ctx.runParallel(a.programs, args, a.infeed),
});

export const COLLECTIVE = [
  allReduce,
  collectiveReduce,
  allGather,
  reduceScatter,
  allToAll,
  collectivePermute,
  collectiveBroadcast,
  idOp('stablehlo.replica_id', (p) => p.replicaId),
  idOp('stablehlo.partition_id', (p) => p.partitionId),
  send,
  recv,
  infeed,
  outfeed,
  runParallelOp,
];
