/**
 * @fileoverview The op-table contract. One OpDef per op name gives: its category (drives later
 * fusion), attribute parsing, shape inference/verification with spec constraint ids, and the
 * oracle semantics (`evaluate`, naive spec-shaped loops). Consumers: import/verify (attrs, infer),
 * interpret (evaluate).
 */
import { error } from '../diag/diagnostics.js';
import { AttrReader } from '../ir/attrs.js';
import type { Op, Region } from '../ir/core.js';
import { typeToString, type TensorType, type Type } from '../ir/types.js';
import type { RtValue } from '../ir/tensor.js';

export type Category =
  'elementwise' | 'movement' | 'reduction' | 'contraction' | 'constant' | 'control' | 'collective' | 'check' | 'other';

/** What an evaluator may ask of the interpreter beyond its operands. */
export interface OpEvalCtx {
  /** Runs a region of this op with the given block arguments; returns the terminator's operands. */
  runRegion(region: Region, args: readonly RtValue[]): RtValue[];
  /** Calls a function of the module by name. */
  callFunction(name: string, args: readonly RtValue[]): RtValue[];
  /** Value of a module global (IREE `util.global`), materialized once. */
  loadGlobal(name: string, op: Op): RtValue;
  /** Runs `interpreter.run_parallel` programs on a simulated process grid. */
  runParallel(programs: readonly (readonly string[])[], args: readonly RtValue[], infeed: readonly string[]): RtValue[];
  readonly process: ProcessInfo | undefined;
  readonly session: EvalSession;
}

export interface ProcessInfo {
  readonly replicaId: number;
  readonly partitionId: number;
  readonly numReplicas: number;
  readonly numPartitions: number;
  /** Exchanges `value` with the processes of `group` for the `key`-th collective; returns values in group order. */
  exchange(key: string, group: readonly number[], value: RtValue): RtValue[];
  send(channel: number, value: RtValue[]): void;
  recv(channel: number): RtValue[];
  infeed(): RtValue[];
  outfeed(values: RtValue[]): void;
}

/** Results observed during one interpretation: checks, prints, probes. */
export interface CheckRecord {
  readonly ok: boolean;
  readonly message: string;
  readonly op: Op;
  /** The checked value (operand 0 of the check op): what another backend must reproduce. */
  readonly value?: RtValue;
}
export interface EvalSession {
  readonly checks: CheckRecord[];
  readonly printed: string[];
  readonly probes: Map<string, RtValue[]>;
}

export interface OpDef<A = unknown, N extends string = string> {
  readonly name: N;
  readonly category: Category;
  /** Anchor in the StableHLO spec (docs/spec.md), e.g. 'transpose'. */
  readonly spec?: string;
  /** The number of operands, where the op has a fixed one (checked by the verifier, E0205). */
  readonly arity?: number;
  readonly attrs?: (r: AttrReader, op: Op) => A;
  /** Result types from operand types (verifying constraints) or undefined when not derivable. */
  readonly infer?: (operands: readonly Type[], attrs: A, op: Op) => readonly Type[] | undefined;
  readonly evaluate: (args: readonly RtValue[], attrs: A, op: Op, ctx: OpEvalCtx) => RtValue[];
}

/** Helper giving each definition its own attribute type and its name as a literal type (the op
 * table's OpKind union and AttrsOf are built from them: ops/index.ts). */
export function defineOp<const N extends string, A>(d: OpDef<A, N>): OpDef<A, N> {
  return d;
}

const attrCache = new WeakMap<Op, unknown>();

/** Parsed attributes of an op (parsed once, then cached). */
export function opAttrs<A>(def: OpDef<A>, op: Op): A {
  if (attrCache.has(op)) return attrCache.get(op) as A;
  const a = def.attrs ? def.attrs(new AttrReader(op.name, op.attrs, op.loc), op) : (undefined as A);
  attrCache.set(op, a);
  return a;
}

/** Checks a list of dimension numbers against a rank: each in [0, rank) (constraint `rangeId`)
 * and, with `uniqueId`, none repeated. */
export function checkDims(op: Op, dims: readonly number[], rank: number, rangeId: string, uniqueId?: string): void {
  for (const d of dims)
    if (!Number.isInteger(d) || d < 0 || d >= rank) constraint(op, rangeId, `dimension ${d} is outside [0, ${rank})`);
  if (uniqueId && new Set(dims).size !== dims.length)
    constraint(op, uniqueId, `dimensions [${dims.join(', ')}] repeat`);
}

/** The operands as tensors; any other operand fails constraint `id`. */
export function tensorOperands(op: Op, types: readonly Type[], id = 'operand_type'): TensorType[] {
  return types.map((t, i) =>
    t.kind === 'tensor' ? t : constraint(op, id, `operand #${i} must be a tensor, got ${typeToString(t)}`),
  );
}

/** A verification failure with its spec constraint id. */
export function constraint(op: Op, id: string, detail: string): never {
  throw error('E0203', { op: op.name, detail, constraint: id }, op.loc);
}
