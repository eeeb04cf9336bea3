/**
 * @fileoverview The C of an SPMD program's communicator steps (runtime-lite rl_comm.h): each
 * collective becomes one rl_comm call on this device's buffers, and replica_id / partition_id
 * come from the device's id. What StableHLO leaves to the process grid (replica_groups, channel
 * ids, use_global_device_ids, source_target_pairs) is resolved here, at compile time, into one
 * static table per collective: a row per device with its group's device ids in group order (the
 * modes of ops/collective.ts, as the interpreter resolves them). The partition phase has already
 * put every collective in the communicator's layout (partition/collective-layout.ts): dimension 0,
 * one operand (collective_broadcast: data operands, then a dynamic root).
 */
import { error } from '../diag/diagnostics.js';
import { shortLoc, type Loc } from '../diag/source.js';
import type { Op } from '../ir/core.js';
import type { TensorType } from '../ir/types.js';
import { numElements } from '../ir/types.js';
import type { FlatOp, Sym } from '../flat/program.js';
import { attrsOf } from '../ops/index.js';
import {
  permuteMode,
  processGroup,
  reduceMode,
  type GridPlace,
  type GroupAttrs,
  type Mode,
} from '../ops/collective.js';
import { cElem } from '../emit-common/ctypes.js';
import { deviceCount, type DeviceGrid } from '../partition/devices.js';
import { WHY } from '../partition/spmd.js';

function unsupported(what: string, loc: Loc): never {
  throw error('E0301', { op: what, target: 'the C communicator (rl_comm.h)' }, loc);
}

/** The rl_reduce_t of a reducer region that is one commutative binary op of its two arguments. */
const REDUCERS: Record<string, string> = {
  'stablehlo.add': 'RL_REDUCE_ADD',
  'stablehlo.multiply': 'RL_REDUCE_MUL',
  'stablehlo.minimum': 'RL_REDUCE_MIN',
  'stablehlo.maximum': 'RL_REDUCE_MAX',
  'stablehlo.and': 'RL_REDUCE_AND',
  'stablehlo.or': 'RL_REDUCE_OR',
  'stablehlo.xor': 'RL_REDUCE_XOR',
};

function reducerOf(op: Op): string {
  const block = op.regions[0]?.blocks[0];
  const [combine, ret] = block?.ops ?? [];
  const args = block?.args ?? [];
  const reducer = combine ? REDUCERS[combine.name] : undefined;
  const ok =
    block?.ops.length === 2 &&
    args.length === 2 &&
    reducer !== undefined &&
    new Set(combine!.operands).size === 2 &&
    combine!.operands.every((v) => args.includes(v)) &&
    ret!.operands[0] === combine!.results[0];
  if (!ok)
    unsupported(
      `${op.name} whose reducer is not one add, multiply, minimum, maximum, and, or or xor of its two arguments`,
      op.loc,
    );
  return reducer!;
}

/** The C statements of the communicator steps of one program, and the tables they read. */
export class CollectiveEmitter {
  readonly tables: string[] = [];
  /** `--report`: each communicator call, with the bytes a device receives through it. */
  readonly described: string[] = [];
  /** The bytes the busiest device receives when each collective runs once (the data the
   * collectives define, whatever algorithm the communicator moves it with). */
  receivedBytes = 0;
  private readonly devices: number;

  constructor(
    private readonly grid: DeviceGrid,
    private readonly prefix: string,
    private readonly bufRef: (s: Sym) => string,
  ) {
    this.devices = deviceCount(grid);
  }

  private place(d: number): GridPlace {
    const { replicas, partitions } = this.grid;
    return {
      replicaId: Math.floor(d / partitions),
      partitionId: d % partitions,
      numReplicas: replicas,
      numPartitions: partitions,
    };
  }

  /** Each device's group (empty: in none, where `optional`), as a table `{size, members...}` per
   * device: the C of this device's group, and the largest group's size. */
  private groupTable(op: Op, g: GroupAttrs, mode: Mode, optional: boolean): { group: string; size: number } {
    const rows = [...Array(this.devices).keys()].map((d) => {
      const p = this.place(d);
      const myId = mode === 'cross_replica' ? p.replicaId : p.partitionId;
      if (optional && !g.groups.some((x) => x.includes(myId))) return [];
      try {
        return processGroup(p, g, mode);
      } catch (e) {
        return unsupported(`${op.name} on ${this.devices} devices: ${(e as Error).message}`, op.loc);
      }
    });
    const width = Math.max(1, ...rows.map((r) => r.length));
    for (const r of rows)
      for (const m of r)
        if (m < 0 || m >= this.devices)
          unsupported(`${op.name} naming device ${m} of a program on ${this.devices} devices`, op.loc);
    const name = `${this.prefix}_comm${this.tables.length}`;
    const body = rows.map((r) => `{${[r.length, ...r, ...Array(width - r.length).fill(-1)].join(', ')}}`);
    this.tables.push(
      `/* ${op.name} at ${shortLoc(op.loc)}: each device's group (size, device ids in group order) */\n` +
        `static const int32_t ${name}[${this.devices}][${width + 1}] = {${body.join(', ')}};`,
    );
    return { group: `(rl_group_t){&${name}[dev][1], ${name}[dev][0]}`, size: width };
  }

  /** The statements of one communicator step. */
  call(f: FlatOp): string {
    const [code, received] = this.lower(f);
    this.receivedBytes += received;
    const why = f.op.attrs[WHY];
    const because = why?.kind === 'string' ? ` (${why.value})` : '';
    if (received > 0)
      this.described.push(`${f.op.name} at ${shortLoc(f.op.loc)}: ${received} bytes received per device${because}`);
    return code;
  }

  /** The statements of one communicator step, and the bytes the busiest device receives. */
  private lower(f: FlatOp): [string, number] {
    const { op } = f;
    const ref = (s: Sym): string => this.bufRef(s);
    const tensorOf = (s: Sym): TensorType => s.type as TensorType;
    const count = (s: Sym): number => numElements(tensorOf(s).shape);
    const elem = (s: Sym) => cElem(tensorOf(s), op.name, op.loc);
    const bytes = (s: Sym): number => count(s) * elem(s).bytes;
    const checked = (c: string): string => `if ((comm_status = ${c}) != RL_OK) return comm_status;`;
    const [x, out] = [f.ins[0]!, f.outs[0]!];
    const reduction = (): string[] => {
      if (elem(x).cls === 'complex' || elem(x).rlDtype !== elem(out).rlDtype)
        unsupported(`${op.name} of ${elem(x).rlDtype} into ${elem(out).rlDtype}`, op.loc);
      return [reducerOf(op), elem(x).rlDtype];
    };
    switch (op.name) {
      case 'stablehlo.replica_id':
      case 'stablehlo.partition_id': {
        const id =
          op.name === 'stablehlo.replica_id' ? `dev / ${this.grid.partitions}` : `dev % ${this.grid.partitions}`;
        return [`*${ref(out)} = (uint32_t)(${id}); /* ${op.name} */`, 0];
      }
      case 'stablehlo.all_reduce':
      case 'stablehlo.collective_reduce': {
        const g = attrsOf(op.name, op);
        const { group, size } = this.groupTable(op, g, reduceMode(g), false);
        const args = [group, ...reduction(), ref(x), ref(out), count(out)].join(', ');
        const call = checked(`rl_comm_all_reduce(comm, ${args})`);
        const received = (size - 1) * bytes(x);
        if (op.name === 'stablehlo.all_reduce') return [call, received];
        // collective_reduce: the group's first member keeps the reduction, the others get zeros.
        return [`${call}\n  if (${group}.members[0] != dev) memset(${ref(out)}, 0, ${bytes(out)});`, received];
      }
      case 'stablehlo.reduce_scatter': {
        const g = attrsOf(op.name, op);
        const { group, size } = this.groupTable(op, g, reduceMode(g), false);
        return [
          checked(`rl_comm_reduce_scatter(comm, ${[group, ...reduction(), ref(x), ref(out), count(out)].join(', ')})`),
          (size - 1) * bytes(out),
        ];
      }
      case 'stablehlo.all_gather': {
        const g = attrsOf(op.name, op);
        const { group, size } = this.groupTable(op, g, reduceMode(g), false);
        return [
          checked(`rl_comm_all_gather(comm, ${group}, ${ref(x)}, ${ref(out)}, ${bytes(x)})`),
          (size - 1) * bytes(x),
        ];
      }
      case 'stablehlo.all_to_all': {
        const g = attrsOf(op.name, op);
        const { group, size } = this.groupTable(op, g, permuteMode(g), false);
        return [
          checked(`rl_comm_all_to_all(comm, ${group}, ${ref(x)}, ${ref(out)}, ${bytes(x) / g.count})`),
          ((size - 1) * bytes(x)) / g.count,
        ];
      }
      case 'stablehlo.collective_permute':
        return [
          checked(`rl_comm_permute(comm, ${this.permuteTable(op)}, ${ref(x)}, ${ref(out)}, ${bytes(x)})`),
          bytes(x),
        ];
      case 'stablehlo.collective_broadcast': {
        const g = attrsOf(op.name, op);
        const { group } = this.groupTable(op, g, permuteMode(g), true);
        const data = g.dynamicRoot ? f.ins.slice(0, -1) : f.ins;
        const root = g.dynamicRoot ? `(int32_t)*${ref(f.ins[f.ins.length - 1]!)}` : '0';
        const calls = data.map((s, i) =>
          checked(`rl_comm_broadcast(comm, ${group}, ${root}, ${ref(s)}, ${ref(f.outs[i]!)}, ${bytes(s)})`),
        );
        return [calls.join('\n  '), data.reduce((n, s) => n + bytes(s), 0)];
      }
      case 'stablehlo.send':
      case 'stablehlo.recv': {
        const send = op.name === 'stablehlo.send';
        const data = (send ? f.ins : f.outs).filter((s) => s.type.kind !== 'token');
        const peer = this.peerOf(op, send);
        const calls = data.map((s) =>
          checked(`rl_comm_${send ? 'send' : 'recv'}(comm, ${this.channelOf(op)}, ${peer}, ${ref(s)}, ${bytes(s)})`),
        );
        return [calls.join('\n  ') || `/* ${op.name}: no data */`, send ? 0 : data.reduce((n, s) => n + bytes(s), 0)];
      }
      default:
        return unsupported(op.name, op.loc);
    }
  }

  private channelOf(op: Op): number {
    return attrsOf(op.name === 'stablehlo.send' ? 'stablehlo.send' : 'stablehlo.recv', op).channelId;
  }

  /** The device at the other end of a send or recv: its channel's one receiving (sending) device. */
  private peerOf(op: Op, send: boolean): number {
    if (op.attrs['source_target_pairs'])
      unsupported(`${op.name} with source_target_pairs (its channel's ends are found from the programs)`, op.loc);
    const channel = this.channelOf(op);
    const ends = this.grid.channels?.get(channel);
    const others = (send ? ends?.receivers : ends?.senders) ?? [];
    if (others.length !== 1)
      unsupported(
        `${op.name} on channel ${channel}, which ${others.length ? `devices ${others.join(', ')}` : 'no device'} ${send ? 'receive' : 'send'} on (one device must: ${send ? 'its receiver' : 'its sender'})`,
        op.loc,
      );
    return others[0]!;
  }

  /** Each device's source and target device of a collective_permute (-1: none). */
  private permuteTable(op: Op): string {
    const g = attrsOf('stablehlo.collective_permute', op);
    const mode = permuteMode(g);
    const rows = [...Array(this.devices).keys()].map((d) => {
      const p = this.place(d);
      const myId = mode === 'cross_replica' ? p.replicaId : p.partitionId;
      const device = (id: number | undefined): number => {
        if (id === undefined) return -1;
        const within = mode === 'cross_replica' ? p.numReplicas : p.numPartitions;
        if (id >= within)
          unsupported(
            `${op.name} naming ${mode === 'cross_replica' ? 'replica' : 'partition'} ${id} of ${within}`,
            op.loc,
          );
        return mode === 'cross_replica' ? id * p.numPartitions + p.partitionId : p.replicaId * p.numPartitions + id;
      };
      return [device(g.pairs.find((pr) => pr[1] === myId)?.[0]), device(g.pairs.find((pr) => pr[0] === myId)?.[1])];
    });
    const name = `${this.prefix}_comm${this.tables.length}`;
    this.tables.push(
      `/* ${op.name} at ${shortLoc(op.loc)}: each device's source and target (-1: none) */\n` +
        `static const int32_t ${name}[${this.devices}][2] = {${rows.map((r) => `{${r.join(', ')}}`).join(', ')}};`,
    );
    return `${name}[dev][0], ${name}[dev][1]`;
  }
}
