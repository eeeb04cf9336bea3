/**
 * @fileoverview THE op table: every op the compiler knows, by full name. Adding an op means
 * adding its OpDef to one of the family files; the table is assembled here.
 */
import { CHLO } from './chlo.js';
import { COLLECTIVE } from './collective.js';
import { CONTRACTION } from './contraction.js';
import { CONTROL } from './control.js';
import type { OpDef } from './def.js';
import { ELEMENTWISE } from './elementwise.js';
import { MOVEMENT } from './movement.js';
import { NORMALIZATION } from './normalization.js';
import { QUANT } from './quant.js';
import { RANDOM } from './random.js';
import { REDUCTION } from './reduction.js';

const ALL: readonly OpDef<any>[] = [...ELEMENTWISE, ...MOVEMENT, ...REDUCTION, ...CONTRACTION, ...NORMALIZATION, ...CONTROL, ...COLLECTIVE, ...CHLO, ...QUANT, ...RANDOM];

export const OPS: ReadonlyMap<string, OpDef<any>> = new Map(ALL.map((d) => [d.name, d]));

/** Ops that end a block; they have no OpDef (the interpreter driver handles them). */
export const TERMINATORS = new Set(['func.return', 'stablehlo.return', 'chlo.return', 'cf.br', 'cf.cond_br']);

export function lookupOp(name: string): OpDef<any> | undefined {
  return OPS.get(name);
}
