/**
 * @fileoverview Collectives in the layout the communicator exchanges (runtime-lite rl_comm.h):
 * contiguous chunks in group order. all_gather and reduce_scatter along dimension d, and
 * all_to_all with split dimension s and concat dimension c, become the same collective along
 * dimension 0 between transposes (the dimension moved to the front, and back), and a collective
 * of several operands one per operand. Collectives whose dimension is already 0 are kept as they
 * are, so the transposes appear only where the layout needs them. Module to module; the
 * interpreter runs the program before it, so the two check each other.
 */
import type { Attr } from '../ir/attrs.js';
import type { Block, Func, Module, Op, Region, Value } from '../ir/core.js';
import { i64Array as ints, OpBuilder } from '../ir/builder.js';
import { tensorType, type TensorType } from '../ir/types.js';
import { attrsOf } from '../ops/index.js';
import { COLLECTIVE_OPS } from '../ops/collective.js';

const int = (x: number): Attr => ({ kind: 'int', value: BigInt(x) });
const tensorOf = (v: Value): TensorType => v.type as TensorType;

class LayoutBuilder extends OpBuilder {
  transpose(x: Value, perm: readonly number[]): Value {
    if (perm.every((p, i) => p === i)) return x;
    const t = tensorOf(x);
    return this.op(
      'stablehlo.transpose',
      [x],
      [
        tensorType(
          perm.map((p) => t.shape[p]!),
          t.elem,
        ),
      ],
      {
        permutation: ints(perm),
      },
    )[0]!;
  }

  reshape(x: Value, shape: readonly number[]): Value {
    return this.op('stablehlo.reshape', [x], [tensorType(shape, tensorOf(x).elem)])[0]!;
  }

  /** The collective `op` on one operand, with `attrs` changed, and the result type `result`. */
  collective(op: Op, x: Value, result: TensorType, attrs: Record<string, Attr>): Value {
    return this.op(op.name, [x], [result], { ...op.attrs, ...attrs }, [...op.regions])[0]!;
  }
}

/** The permutation moving dimension d to the front, and its inverse. */
function toFront(d: number, rank: number): { perm: number[]; inverse: number[] } {
  const perm = [d, ...[...Array(rank).keys()].filter((i) => i !== d)];
  const inverse = perm.map((_, i) => perm.indexOf(i));
  return { perm, inverse };
}

/** One operand's collective along dimension 0 (x: the operand, i: its index among the op's). */
function alongDimZero(b: LayoutBuilder, op: Op, x: Value, i: number): Value {
  const t = tensorOf(x);
  const result = op.results[i]!.type as TensorType;
  const rank = t.shape.length;
  switch (op.name) {
    case 'stablehlo.all_gather':
    case 'stablehlo.reduce_scatter': {
      const d = attrsOf(op.name, op).dim;
      const name = op.name === 'stablehlo.all_gather' ? 'all_gather_dim' : 'scatter_dimension';
      if (d === 0) return b.collective(op, x, result, {});
      const { perm, inverse } = toFront(d, rank);
      const front = tensorType(
        perm.map((p) => result.shape[p]!),
        result.elem,
      );
      return b.transpose(b.collective(op, b.transpose(x, perm), front, { [name]: int(0) }), inverse);
    }
    case 'stablehlo.all_to_all': {
      const { split, concat, count } = attrsOf('stablehlo.all_to_all', op);
      if (split === 0 && concat === 0) return b.collective(op, x, result, {});
      // Send: the split dimension in front, so chunk j (for member j) is contiguous.
      const s = toFront(split, rank);
      const sent = b.transpose(x, s.perm);
      const got = b.collective(op, sent, tensorOf(sent), {
        split_dimension: int(0),
        concat_dimension: int(0),
      });
      // Received: chunk i (from member i) in the sent layout; each back in the operand's layout,
      // then the member index next to the concat dimension and merged with it.
      const chunk = t.shape.map((n, d) => (d === split ? n / count : n));
      const perChunk = b.reshape(got, [count, ...s.perm.map((p) => chunk[p]!)]);
      const chunks = b.transpose(perChunk, [0, ...s.inverse.map((p) => p + 1)]);
      const beside = [
        ...[...Array(concat).keys()].map((d) => d + 1),
        0,
        ...[...Array(rank - concat).keys()].map((d) => d + concat + 1),
      ];
      return b.reshape(b.transpose(chunks, beside), result.shape);
    }
    default:
      return b.collective(op, x, result, {});
  }
}

function needsRewrite(op: Op): boolean {
  if (!COLLECTIVE_OPS.has(op.name)) return false;
  if (op.name === 'stablehlo.collective_broadcast') return false; // a root index may follow its data
  if (op.operands.length > 1) return true;
  if (op.name === 'stablehlo.all_gather' || op.name === 'stablehlo.reduce_scatter')
    return attrsOf(op.name, op).dim !== 0;
  if (op.name === 'stablehlo.all_to_all') {
    const a = attrsOf('stablehlo.all_to_all', op);
    return a.split !== 0 || a.concat !== 0;
  }
  return false;
}

function rewriteBlock(block: Block, map: Map<Value, Value>): Block {
  const use = (v: Value): Value => map.get(v) ?? v;
  const ops: Op[] = [];
  for (const op of block.ops) {
    const operands = op.operands.map(use);
    if (needsRewrite(op)) {
      const b = new LayoutBuilder(op.loc, op.results[0]?.name ?? '%comm');
      operands.forEach((x, i) => map.set(op.results[i]!, alongDimZero(b, op, x, i)));
      ops.push(...b.ops);
      continue;
    }
    ops.push({
      ...op,
      operands,
      regions: op.regions.map((r) => rewriteRegion(r, map)),
      successors: op.successors.map((s) => ({ label: s.label, args: s.args.map(use) })),
    });
  }
  return { label: block.label, args: block.args, ops };
}

function rewriteRegion(r: Region, map: Map<Value, Value>): Region {
  return { blocks: r.blocks.map((blk) => rewriteBlock(blk, map)) };
}

const mentions = (r: Region): boolean =>
  r.blocks.some((blk) => blk.ops.some((op) => needsRewrite(op) || op.regions.some(mentions)));

/** Every collective in the communicator's layout (functions without such collectives kept). */
export function collectivesAlongDimZero(m: Module): Module {
  const funcs = new Map<string, Func>();
  for (const [name, f] of m.funcs)
    funcs.set(name, f.body && mentions(f.body) ? { ...f, body: rewriteRegion(f.body, new Map()) } : f);
  return { ...m, funcs };
}
