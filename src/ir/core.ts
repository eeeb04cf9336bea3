/**
 * @fileoverview Tensor-level IR: SSA values, ops with attributes and regions, blocks, functions,
 * modules. Plain objects; `Value` identity is object identity (analyses key maps on it).
 */
import type { Loc, SourceFile } from '../diag/source.js';
import type { Attr, Attrs } from './attrs.js';
import type { Type } from './types.js';
import type { Mesh } from './sharding.js';

export interface Value {
  readonly id: number;
  readonly type: Type;
  /** The SSA name in the source (`%arg0`, `%3#1`), for diagnostics and printing. */
  readonly name: string;
}

export interface Block {
  readonly label: string;
  readonly args: readonly Value[];
  readonly ops: readonly Op[];
}

export interface Region {
  readonly blocks: readonly Block[];
}

/** A branch target of `cf.br` / `cf.cond_br`. */
export interface Successor {
  readonly label: string;
  readonly args: readonly Value[];
}

export interface Op {
  /** Full op name, e.g. `stablehlo.add`; `mhlo.*` and bare `return`/`call` are normalized on import. */
  readonly name: string;
  readonly operands: readonly Value[];
  readonly results: readonly Value[];
  readonly attrs: Attrs;
  readonly regions: readonly Region[];
  readonly successors: readonly Successor[];
  readonly loc: Loc;
}

export interface Func {
  readonly name: string;
  readonly visibility: 'public' | 'private';
  readonly params: readonly Value[];
  readonly resultTypes: readonly Type[];
  /** Attribute dicts written on each parameter / result (shardings, layout modes, names). */
  readonly paramAttrs?: readonly Attrs[];
  readonly resultAttrs?: readonly Attrs[];
  /** Undefined for external declarations. */
  readonly body?: Region;
  readonly loc: Loc;
}

export interface Global {
  readonly name: string;
  readonly type: Type;
  readonly value: Attr;
  readonly loc: Loc;
}

export interface Module {
  readonly name?: string;
  readonly funcs: ReadonlyMap<string, Func>;
  readonly globals: ReadonlyMap<string, Global>;
  readonly attrs: Attrs;
  /** Shardy device meshes (`sdy.mesh`), by name. */
  readonly meshes?: ReadonlyMap<string, Mesh>;
  /** Names of module-level ops kept but not interpreted (e.g. `ml_program.global`), with where they are. */
  readonly ignoredOps?: readonly { readonly name: string; readonly loc: Loc }[];
  readonly source: SourceFile;
}

let nextValueId = 1;
export function newValue(type: Type, name: string): Value {
  return { id: nextValueId++, type, name };
}

/** A custom call's target: `@name` in the pretty form, a string attribute in the generic one
 * (undefined for any other op). */
export function customCallTarget(op: Op): string | undefined {
  const t = op.attrs['call_target_name'];
  if (op.name !== 'stablehlo.custom_call') return undefined;
  return t?.kind === 'symbol' ? t.name : t?.kind === 'string' ? t.value : undefined;
}
