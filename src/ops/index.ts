/**
 * @fileoverview THE op table: every op the compiler knows, by full name. Adding an op means
 * adding its OpDef to one of the family files; the table is assembled here.
 */
import { CHLO } from './chlo.js';
import { COLLECTIVE } from './collective.js';
import { CONTRACTION } from './contraction.js';
import { LINALG } from './linalg.js';
import { CONTROL } from './control.js';
import { opAttrs, type OpDef } from './def.js';
import type { Op } from '../ir/core.js';
import { ELEMENTWISE } from './elementwise.js';
import { MOVEMENT } from './movement.js';
import { DYNAMIC } from './dynamic.js';
import { INDEXING } from './indexing.js';
import { NORMALIZATION } from './normalization.js';
import { QUANT } from './quant.js';
import { RANDOM } from './random.js';
import { REDUCTION } from './reduction.js';

const ALL = [
  ...ELEMENTWISE,
  ...MOVEMENT,
  ...DYNAMIC,
  ...INDEXING,
  ...REDUCTION,
  ...CONTRACTION,
  ...LINALG,
  ...NORMALIZATION,
  ...CONTROL,
  ...COLLECTIVE,
  ...CHLO,
  ...QUANT,
  ...RANDOM,
];
type AnyDef = (typeof ALL)[number];

/** Every op name the table defines, as a type: a misspelled op name in a lowering table or an
 * attribute read is a tsc error. */
export type OpKind = AnyDef['name'];

/** The attributes op `K`'s OpDef reads (its `attrs` result type). */
export type AttrsOf<K extends OpKind> = AnyDef extends infer D
  ? D extends OpDef<infer A, infer N>
    ? K extends N
      ? A
      : never
    : never
  : never;

export const OPS: ReadonlyMap<string, OpDef<any>> = new Map(ALL.map((d) => [d.name, d]));

/** Op `op`'s attributes as op `kind`'s OpDef reads them, typed: `attrsOf('stablehlo.transpose', op).perm`. */
export function attrsOf<K extends OpKind>(kind: K, op: Op): AttrsOf<K> {
  if (op.name !== kind) throw new Error(`attrsOf: op ${op.name} read as ${kind}`);
  return opAttrs(OPS.get(kind)!, op) as AttrsOf<K>;
}

/** Ops that end a block; they have no OpDef (the interpreter driver handles them). */
export const TERMINATORS = new Set(['func.return', 'stablehlo.return', 'chlo.return', 'cf.br', 'cf.cond_br']);

export function lookupOp(name: string): OpDef<any> | undefined {
  return OPS.get(name);
}
