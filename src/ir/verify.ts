/**
 * @fileoverview Module verifier: every op must be known to the op table, its attributes must
 * parse, and where the op table infers result types they must match the declared ones
 * (E0202). Calls must name existing functions with matching arity.
 */
import { error } from '../diag/diagnostics.js';
import { opAttrs } from '../ops/def.js';
import { lookupOp, TERMINATORS } from '../ops/index.js';
import type { Module, Op, Region } from './core.js';
import { typeToString, type Type } from './types.js';

function sameType(a: Type, b: Type): boolean {
  if (a.kind === 'tensor' && b.kind === 'tensor') {
    // `?` dims are compatible with anything; element types must agree.
    return a.elem.name === b.elem.name && a.shape.length === b.shape.length && a.shape.every((d, i) => d < 0 || b.shape[i]! < 0 || d === b.shape[i]);
  }
  return typeToString(a) === typeToString(b);
}

function verifyOp(m: Module, op: Op): void {
  if (!TERMINATORS.has(op.name)) {
    const def = lookupOp(op.name);
    if (!def) throw error('E0201', { op: op.name }, op.loc);
    const attrs = opAttrs(def, op);
    if (def.infer) {
      const inferred = def.infer(op.operands.map((v) => v.type), attrs, op);
      if (inferred) {
        if (inferred.length !== op.results.length) throw error('E0204', { op: op.name, detail: `declares ${op.results.length} result(s), expected ${inferred.length}` }, op.loc);
        inferred.forEach((t, i) => {
          const declared = op.results[i]!.type;
          if (!sameType(t, declared)) throw error('E0202', { op: op.name, declared: typeToString(declared), inferred: typeToString(t) }, op.loc);
        });
      }
    }
    if (op.name === 'func.call') {
      const callee = op.attrs['callee'];
      const name = callee?.kind === 'symbol' ? callee.name : '';
      const f = m.funcs.get(name);
      if (!f) throw error('E0107', { name }, op.loc);
      if (f.params.length !== op.operands.length) throw error('E0205', { op: `call @${name}`, expected: f.params.length, got: op.operands.length }, op.loc);
    }
  }
  for (const r of op.regions) verifyRegion(m, r);
}

function verifyRegion(m: Module, r: Region): void {
  for (const b of r.blocks) for (const op of b.ops) verifyOp(m, op);
}

export function verifyModule(m: Module): void {
  for (const f of m.funcs.values()) if (f.body) verifyRegion(m, f.body);
}
