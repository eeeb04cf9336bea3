/**
 * @fileoverview Lowerings of single ops to the kernel IR (ir.ts): the table of every op's lowering
 * (IR_LOWERINGS), the elementwise and type-changing ops and the small ops here, the families in
 * lower-movement.ts, lower-reduce.ts, lower-contract.ts, lower-sort.ts, lower-linalg.ts and
 * lower-stats.ts. Each store computes the linear index of what it writes. Parameters are the op's
 * operands (in0, in1, ...) then its results (out0, ...), the order the kernel is called with.
 */
import { strides } from '../ir/tensor.js';
import type { OpKind } from '../ops/index.js';
import { flatLoop, nest, type Val } from './ir.js';
import { add, int, linear, mul, type Idx } from '../ir/index-expr.js';
import { atOrScalar, local, type IRLowering, type TensorBuf } from './build.js';
import { iota, MOVEMENT_LOWERINGS } from './lower-movement.js';
import { REDUCE_LOWERINGS } from './lower-reduce.js';
import { CONTRACT_LOWERINGS } from './lower-contract.js';
import { STATS_LOWERINGS } from './lower-stats.js';
import { SORT_LOWERINGS } from './lower-sort.js';
import { LINALG_LOWERINGS } from './lower-linalg.js';

// ---- elementwise -----------------------------------------------------------------------------------

/** One op-table scalar op per element on the element type of operand `operand` (clamp: its
 * value, operand 1), the result stored in the output's type; rank-0 operands (clamp's bounds,
 * scalar predicates) are read at element 0. Every elementwise op, compare, convert, clamp,
 * the quantize pair and complex. */
function perElement(name: string, operand = 0): IRLowering {
  return (k) => {
    const out = k.outs[0]!;
    return flatLoop(out.elements, (i) => [
      {
        k: 'store',
        buf: out,
        at: i,
        value: k.op(
          name,
          k.ins.map((x) => k.load(x, atOrScalar(x, i))),
          k.ins[operand]!.elem,
          out.elem,
        ),
      },
    ]);
  };
}

/** The generic per-element lowering of elementwise op `name` (its op-table short name). */
export const elementwise = (name: string): IRLowering => perElement(name);

/** select moves the chosen element as stored (no load/store round trip). */
const select: IRLowering = (k) => {
  const [p, a, b, out] = [k.ins[0]!, k.ins[1]!, k.ins[2]!, k.outs[0]!];
  const raw = (x: TensorBuf, i: Idx): Val => ({ k: 'load', buf: x, at: atOrScalar(x, i), raw: true });
  return flatLoop(out.elements, (i) => [
    { k: 'store', buf: out, at: i, raw: true, value: k.op('select', [raw(p, i), raw(a, i), raw(b, i)], a.elem) },
  ]);
};

/** real / imag: of a complex operand its part; of a real one the value itself, or 0. */
function part(which: 'real' | 'imag'): IRLowering {
  return (k) => {
    const [x, out] = [k.ins[0]!, k.outs[0]!];
    if (x.elem.kind === 'complex') return perElement(which)(k);
    return flatLoop(out.elements, (i) => [
      {
        k: 'store',
        buf: out,
        at: i,
        value: which === 'real' ? k.load(x, i) : { k: 'index', x: int(0), elem: out.elem },
      },
    ]);
  };
}

const copyAll: IRLowering = (k) => k.ins.map((x, i) => ({ k: 'copy', buf: k.outs[i]!, src: x }));

/** bitcast_convert: every type is stored as its bit pattern (little-endian), so a bitcast
 * between types of the same total size is a byte copy. */
const bitcastConvert: IRLowering = (k) => {
  if (k.ins[0]!.elem.kind === 'bool' || k.outs[0]!.elem.kind === 'bool') k.unsupported('bitcast of i1');
  return [{ k: 'copy', buf: k.outs[0]!, src: k.ins[0]! }];
};

const reducePrecision: IRLowering = (k) => {
  const a = k.attrsOf('stablehlo.reduce_precision');
  const [x, out] = [k.ins[0]!, k.outs[0]!];
  const arg = (n: number): Val => ({ k: 'index', x: int(n), elem: x.elem });
  return flatLoop(out.elements, (i) => [
    {
      k: 'store',
      buf: out,
      at: i,
      value: k.op('reduce_precision', [k.load(x, i), arg(a.e), arg(a.m)], x.elem, out.elem),
    },
  ]);
};

/** tensor.extract: one element (at index operands) as a rank-0 tensor. */
const extract: IRLowering = (k) => {
  const [x, out] = [k.ins[0]!, k.outs[0]!];
  const at = linear(
    k.ins.slice(1).map((b): Idx => ({ k: 'read', buf: b, at: int(0) })),
    strides(x.t.shape),
  );
  return [{ k: 'move', buf: out, at: int(0), src: x, from: at }];
};

/** dynamic_* ops with a static result type: the shape operand is not read. */
const staticShape =
  (lower: IRLowering): IRLowering =>
  (k) => [{ k: 'comment', text: 'result shape is static' }, ...lower(k)];

const dynamicBroadcastInDim: IRLowering = (k) => {
  const [x, out] = [k.ins[0]!, k.outs[0]!];
  const dims = k.attrsOf('stablehlo.dynamic_broadcast_in_dim').dims;
  const xs = strides(x.t.shape);
  return nest(out.t.shape, (idx) => [
    {
      k: 'move',
      buf: out,
      at: linear(idx, strides(out.t.shape)),
      src: x,
      from: add(...dims.map((d, i) => mul(idx[d]!, x.t.shape[i] === 1 ? 0 : xs[i]!))),
    },
  ]);
};

const getDimensionSize: IRLowering = (k) => {
  const out = k.outs[0]!;
  return [
    {
      k: 'store',
      buf: out,
      at: int(0),
      value: { k: 'index', x: int(k.ins[0]!.t.shape[k.attrsOf('stablehlo.get_dimension_size').dim]!), elem: out.elem },
    },
  ];
};

/** map: the scalar body applied at every element position. */
const map: IRLowering = (k) => {
  const out = k.outs[0]!;
  return flatLoop(out.elements, (i) => {
    const r = k.local('m');
    return [
      { k: 'region', region: k.fop.op.regions[0], owner: k.fop.op, args: k.ins.map((x) => k.load(x, i)), results: [r] },
      { k: 'store', buf: out, at: i, value: local(r) },
    ];
  });
};

export const IR_LOWERINGS: Readonly<Partial<Record<OpKind, IRLowering>>> = {
  'stablehlo.compare': perElement('compare'),
  'stablehlo.select': select,
  'stablehlo.clamp': perElement('clamp', 1),
  'stablehlo.convert': perElement('convert'),
  'stablehlo.reshape': copyAll,
  'stablehlo.optimization_barrier': copyAll,
  'interpreter.probe': copyAll,
  'stablehlo.uniform_quantize': perElement('requantize'),
  'stablehlo.uniform_dequantize': perElement('requantize'),
  'stablehlo.bitcast_convert': bitcastConvert,
  'stablehlo.reduce_precision': reducePrecision,
  'stablehlo.real': part('real'),
  'stablehlo.imag': part('imag'),
  'stablehlo.complex': perElement('complex'),
  'tensor.extract': extract,
  'stablehlo.dynamic_iota': staticShape(iota),
  'stablehlo.dynamic_broadcast_in_dim': staticShape(dynamicBroadcastInDim),
  'stablehlo.dynamic_reshape': staticShape((k) => [{ k: 'copy', buf: k.outs[0]!, src: k.ins[0]! }]),
  'stablehlo.get_dimension_size': getDimensionSize,
  'stablehlo.map': map,
  ...MOVEMENT_LOWERINGS,
  ...REDUCE_LOWERINGS,
  ...CONTRACT_LOWERINGS,
  ...STATS_LOWERINGS,
  ...SORT_LOWERINGS,
  ...LINALG_LOWERINGS,
};

/** The lowering of op `name`, if it has one (names come from programs: plain strings). */
export function irLoweringOf(name: string): IRLowering | undefined {
  return (IR_LOWERINGS as Readonly<Record<string, IRLowering | undefined>>)[name];
}
