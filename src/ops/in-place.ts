/**
 * @fileoverview Loop-carried in-place updates. A while loop that rewrites part of a carried
 * tensor each iteration (`%next = dynamic_update_slice %carried, %update, ...` returned in the
 * carried value's place) would copy the whole tensor per iteration if taken literally: quadratic
 * time for a loop that writes each element once (ResNet-18's max-pool-with-indices loop). When the
 * carried value has no other use, the old value is dead the moment the update reads it, so the
 * update may write into it. The interpreter (ops/movement.ts) and the C backend (flat/flatten.ts)
 * both ask this one analysis.
 */
import type { Op, Region, Value } from '../ir/core.js';
import type { RtValue } from '../ir/tensor.js';

/** Ops that may hand back their operand's storage (a reshape is a view in the interpreter) or keep
 * a reference to it: reading the carried value through one of these would see the update. */
const MAY_ALIAS = new Set([
  'stablehlo.reshape',
  'stablehlo.dynamic_reshape',
  'stablehlo.custom_call',
  'stablehlo.tuple',
  'stablehlo.optimization_barrier',
  'stablehlo.composite',
  'func.call',
  'interpreter.probe',
]);

/** Ops whose results may be an operand itself (a branch or loop returning it unchanged). */
const CONTROL_FLOW = new Set(['stablehlo.if', 'stablehlo.case', 'stablehlo.while']);

/** Whether `v` occurs anywhere in `region` (nested regions included). */
function usedIn(region: Region, v: Value): boolean {
  return region.blocks.some((b) =>
    b.ops.some(
      (op) =>
        op.operands.includes(v) ||
        op.successors.some((s) => s.args.includes(v)) ||
        op.regions.some((r) => usedIn(r, v)),
    ),
  );
}

const analysed = new WeakMap<Op, ReadonlyMap<Op, number>>();

/**
 * The dynamic_update_slice ops of `whileOp`'s body that may update their operand in place, each
 * with the carried position it updates: operand 0 is body argument i, the result is returned at
 * position i, and every other use of the argument is a plain read (an operand, not captured by a
 * region, of an op that neither aliases nor branches) that runs before the update. Single-block
 * bodies only.
 */
export function inPlaceLoopUpdates(whileOp: Op): ReadonlyMap<Op, number> {
  const cached = analysed.get(whileOp);
  if (cached) return cached;
  const found = new Map<Op, number>();
  const body = whileOp.regions[1];
  const block = body?.blocks.length === 1 ? body.blocks[0]! : undefined;
  const ret = block?.ops[block.ops.length - 1];
  if (block && ret) {
    block.ops.forEach((op, at) => {
      if (op.name !== 'stablehlo.dynamic_update_slice') return;
      const arg = op.operands[0]!;
      const i = block.args.indexOf(arg);
      if (i < 0 || ret.operands[i] !== op.results[0] || ret.operands.filter((v) => v === op.results[0]).length !== 1)
        return;
      if (op.operands.indexOf(arg) !== op.operands.lastIndexOf(arg)) return;
      const readsOnly = block.ops.every((other, j) => {
        if (other === op || !(other.operands.includes(arg) || other.regions.some((r) => usedIn(r, arg)))) return true;
        return (
          j < at &&
          !MAY_ALIAS.has(other.name) &&
          !CONTROL_FLOW.has(other.name) &&
          !other.regions.some((r) => usedIn(r, arg))
        );
      });
      if (readsOnly) found.set(op, i);
    });
  }
  analysed.set(whileOp, found);
  return found;
}

/** Tensors a running while loop owns (copied by it, referenced nowhere else): an in-place update
 * may overwrite these and no others. */
const loopOwned = new WeakSet<RtValue>();

export function markLoopOwned(v: RtValue): RtValue {
  loopOwned.add(v);
  return v;
}

/** The loop is done with `v`: from here on it is an ordinary value others may hold. */
export function releaseLoopOwned(v: RtValue): void {
  loopOwned.delete(v);
}

export function isLoopOwned(v: RtValue): boolean {
  return loopOwned.has(v);
}

/** dynamic_update_slice ops currently allowed to write into an owned operand. */
const updatesInPlace = new WeakSet<Op>();

export function allowInPlace(ops: Iterable<Op>): void {
  for (const op of ops) updatesInPlace.add(op);
}

export function mayUpdateInPlace(op: Op, operand: RtValue): boolean {
  return updatesInPlace.has(op) && loopOwned.has(operand);
}
