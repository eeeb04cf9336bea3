/**
 * @fileoverview Stand-in values for elided weights. Exporters often drop large constants
 * (`dense_resource<__elided__>`); the interpreter and the backends fill them with the same seeded
 * values (ops/control.ts). Those values must still be valid for the program: a batch-norm
 * variance that reaches `rsqrt` must not be negative, or every output is NaN and no comparison
 * can fail. This import step marks the elided constants whose values flow, through value-
 * preserving and elementwise arithmetic, into an op defined only for positive inputs (sqrt,
 * rsqrt, log, a batch-norm variance); they are then filled with positive values.
 */
import type { Module, Op, Value } from '../ir/core.js';

/** Operands of these ops must be positive (op name -> operand indexes). */
const POSITIVE_OPERANDS: Readonly<Record<string, readonly number[]>> = {
  'stablehlo.sqrt': [0],
  'stablehlo.rsqrt': [0],
  'stablehlo.log': [0],
  'stablehlo.batch_norm_inference': [4],
};

/** Ops through which "this value must be positive" passes on to their operands. */
const PASSES_POSITIVITY = new Set([
  'stablehlo.broadcast_in_dim',
  'stablehlo.reshape',
  'stablehlo.transpose',
  'stablehlo.convert',
  'stablehlo.add',
  'stablehlo.multiply',
  'stablehlo.slice',
  'stablehlo.concatenate',
]);

/** Marks (in place, during import) the elided constants that must hold positive values. */
export function markPositiveElided(m: Module): void {
  for (const f of m.funcs.values()) {
    if (!f.body) continue;
    const defOf = new Map<Value, Op>();
    const all: Op[] = [];
    const visit = (ops: readonly Op[]): void => {
      for (const op of ops) {
        all.push(op);
        for (const r of op.results) defOf.set(r, op);
        for (const r of op.regions) for (const b of r.blocks) visit(b.ops);
      }
    };
    for (const b of f.body.blocks) visit(b.ops);
    const seen = new Set<Value>();
    const work: Value[] = all.flatMap((op) =>
      (POSITIVE_OPERANDS[op.name] ?? []).flatMap((i) => (op.operands[i] ? [op.operands[i]] : [])),
    );
    while (work.length) {
      const v = work.pop()!;
      if (seen.has(v)) continue;
      seen.add(v);
      const def = defOf.get(v);
      if (!def) continue;
      const value = def.attrs['value'];
      if (def.name === 'stablehlo.constant' && value?.kind === 'denseResource') {
        // The import phase completes the attribute it parsed; nothing else has seen the op yet.
        (def as { attrs: Op['attrs'] }).attrs = { ...def.attrs, value: { ...value, positive: true } };
      } else if (PASSES_POSITIVITY.has(def.name)) work.push(...def.operands);
    }
  }
}
