/**
 * @fileoverview Tensor-level IR: SSA values, ops with attributes and regions, blocks, functions,
 * modules. Plain objects; `Value` identity is object identity (analyses key maps on it).
 */
import type { Loc, SourceFile } from '../diag/source.js';
import type { Attr, Attrs } from './attrs.js';
import type { Type } from './types.js';

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
  readonly source: SourceFile;
}

let nextValueId = 1;
export function newValue(type: Type, name: string): Value {
  return { id: nextValueId++, type, name };
}
