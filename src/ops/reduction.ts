/**
 * @fileoverview Region-driven ops: reduce, reduce_window, select_and_scatter, sort, map.
 * Bodies run through the interpreter (`ctx.runRegion`); a body that is a single binary
 * elementwise op over its two arguments is recognized and applied directly, which keeps large
 * pooling/reduction loops fast without changing results (same scalar semantics, same rounding).
 */
import type { Op, Region } from '../ir/core.js';
import { rounder } from '../ir/float-format.js';
import { compatibleShape, storageElem, tensorType, typeToString, type TensorType } from '../ir/types.js';
import {
  copyElem,
  expectTensor,
  flatIndex,
  forEachIndex,
  getElem,
  makeTensor,
  setElem,
  size,
  strides,
  type Elem,
  type RtValue,
  type Tensor,
} from '../ir/tensor.js';
import { checkDims, constraint, defineOp, tensorOperands, type OpEvalCtx } from './def.js';
import { resultTensorType } from './elementwise.js';
import { scalarAt } from './movement.js';
import { SCALAR, type C } from './scalar.js';

type Combine = (acc: Elem[], xs: Elem[]) => Elem[];

/** A combiner for `body`: direct scalar code when the body is `return op(arg0, arg1)`, else the interpreter. */
export function combiner(body: Region, elemTypes: readonly TensorType[], ctx: OpEvalCtx): Combine {
  const g = elemTypes.length === 1 ? scalarCombiner(body, elemTypes[0]!) : undefined;
  if (g) return (acc, xs) => [g(acc[0]!, xs[0]!)];
  return (acc, xs) => {
    const args: RtValue[] = [
      ...acc.map((v, i) => scalarOf(elemTypes[i]!, v)),
      ...xs.map((v, i) => scalarOf(elemTypes[i]!, v)),
    ];
    return ctx.runRegion(body, args).map((r) => getElem(expectTensor(r), 0));
  };
}

/** One value's combiner as direct scalar code, rounded to the element type, when the body is
 * `return op(arg0, arg1)` (or op(arg1, arg0)) for an associative op of the SCALAR table. */
function scalarCombiner(body: Region, elemType: TensorType): ((acc: Elem, x: Elem) => Elem) | undefined {
  const block = body.blocks[0];
  if (block && body.blocks.length === 1 && block.ops.length === 2) {
    const [op, ret] = block.ops as [(typeof block.ops)[0], (typeof block.ops)[0]];
    const name = op!.name.replace(/^stablehlo\./, '');
    const impl = SCALAR[name];
    const e = storageElem(elemType.elem);
    const argsOk =
      op!.operands.length === 2 &&
      op!.operands.every((v) => block.args.includes(v)) &&
      op!.operands[0] !== op!.operands[1];
    const retOk = ret!.name === 'stablehlo.return' && ret!.operands[0] === op!.results[0];
    if (impl && argsOk && retOk && ['add', 'multiply', 'maximum', 'minimum', 'and', 'or', 'xor'].includes(name)) {
      const swap = op!.operands[0] === block.args[1];
      const tmp = makeTensor(tensorType([], elemType.elem));
      const round = (v: Elem): Elem => {
        setElem(tmp, 0, v);
        return getElem(tmp, 0);
      };
      let f: ((a: Elem, b: Elem) => Elem) | undefined;
      if (e.kind === 'float' && impl.float) f = (a, b) => impl.float!(a as number, b as number);
      else if (e.kind === 'int' && impl.int) f = (a, b) => impl.int!(e, a as bigint, b as bigint);
      else if (e.kind === 'bool' && impl.bool) f = (a, b) => impl.bool!(a as number, b as number);
      else if (e.kind === 'complex' && impl.complex) f = (a, b) => impl.complex!(a as C, b as C);
      if (f) {
        const g = f;
        if (e.kind === 'float') {
          const roundF = rounder(e.format);
          return (acc, x) => roundF((swap ? g(x, acc) : g(acc, x)) as number);
        }
        return (acc, x) => round(swap ? g(x, acc) : g(acc, x));
      }
    }
  }
  return undefined;
}

function scalarOf(t: TensorType, v: Elem): Tensor {
  const out = makeTensor(tensorType([], t.elem));
  setElem(out, 0, v);
  return out;
}

const reduce = defineOp({
  name: 'stablehlo.reduce',
  category: 'reduction',
  spec: 'reduce',
  attrs: (r) => ({ dims: r.ints('dimensions') }),
  infer: (types, a, op) => {
    const ts = tensorOperands(op, types);
    const n = ts.length / 2;
    if (n < 1 || !Number.isInteger(n))
      constraint(op, 'reduce_c3', `${ts.length} operands: expected inputs and as many init values`);
    const [inputs, inits] = [ts.slice(0, n), ts.slice(n)];
    const shape = inputs[0]!.shape;
    if (inputs.some((t) => !compatibleShape(t.shape, shape)))
      constraint(op, 'reduce_c1', `inputs of different shapes: ${inputs.map(typeToString).join(', ')}`);
    inits.forEach((t, i) => {
      if (t.shape.length !== 0) constraint(op, 'reduce_c2', `init value #${i} must be 0-d, got ${typeToString(t)}`);
      if (t.elem.kind !== 'quant' && t.elem.name !== inputs[i]!.elem.name)
        constraint(op, 'reduce_c2', `init value #${i} is ${t.elem.name}, input #${i} ${inputs[i]!.elem.name}`);
    });
    checkDims(op, a.dims, shape.length, 'reduce_c4', 'reduce_c5');
    // Results: the inputs' shapes without the reduced dims, element types from the body (left to the declared ones).
    const kept = shape.filter((_, d) => !a.dims.includes(d));
    return op.results.map((r, i) =>
      r.type.kind === 'tensor'
        ? tensorType(kept, r.type.elem)
        : constraint(op, 'reduce_c7', `result #${i} must be a tensor`),
    );
  },
  evaluate: (args, a, op, ctx) => {
    const n = args.length / 2;
    const inputs = args.slice(0, n).map((v) => expectTensor(v));
    const inits = args.slice(n).map((v) => expectTensor(v));
    const outs = inputs.map((_, i) => makeTensor(resultTensorType(op, i)));
    const f = combiner(
      op.regions[0]!,
      inits.map((t) => t.type),
      ctx,
    );
    const shape = inputs[0]!.type.shape;
    const keep = [...shape.keys()].filter((d) => !a.dims.includes(d));
    const os = strides(keep.map((d) => shape[d]!));
    const outIndex = (idx: readonly number[]): number => {
      let o = 0;
      for (let k = 0; k < keep.length; k++) o += idx[keep[k]!]! * os[k]!;
      return o;
    };
    const g = n === 1 ? scalarCombiner(op.regions[0]!, inits[0]!.type) : undefined;
    if (g && storageElem(inputs[0]!.type.elem).kind === 'float') {
      // One float input with an op body: the same combination, in the same order, without an array per step.
      const x = inputs[0]!.data as Float64Array;
      const acc = outs[0]!.data as Float64Array;
      acc.fill(getElem(inits[0]!, 0) as number);
      forEachIndex(shape, (idx, flat) => {
        const o = outIndex(idx);
        acc[o] = g(acc[o]!, x[flat]!) as number;
      });
      return outs;
    }
    const acc: Elem[][] = Array.from({ length: size(outs[0]!) }, () => inits.map((t) => getElem(t, 0)));
    forEachIndex(shape, (idx, flat) => {
      const o = outIndex(idx);
      acc[o] = f(
        acc[o]!,
        inputs.map((t) => getElem(t, flat)),
      );
    });
    acc.forEach((vals, o) => outs.forEach((t, i) => setElem(t, o, vals[i]!)));
    return outs;
  },
});

export interface WindowAttrs {
  dims: number[];
  strides: number[];
  baseDil: number[];
  winDil: number[];
  padding: number[][];
}

function readWindow(r: import('../ir/attrs.js').AttrReader): WindowAttrs {
  const dims = r.ints('window_dimensions');
  const ones = dims.map(() => 1);
  return {
    dims,
    strides: r.ints('window_strides', ones),
    baseDil: r.ints('base_dilations', ones),
    winDil: r.ints('window_dilations', ones),
    padding: r.intMatrix(
      'padding',
      dims.map(() => [0, 0]),
    ),
  };
}

/**
 * The window attributes' constraints (reduce_window C4-C12; select_and_scatter uses the same
 * checks under its own ids, `ids` mapping reduce_window's numbers to the op's) and the number of
 * windows per dimension (reduce_window C15).
 */
function windowCounts(
  op: Op,
  p: string,
  ids: Readonly<Record<number, number>>,
  w: WindowAttrs,
  shape: readonly number[],
): number[] {
  const rank = shape.length;
  const id = (c: number): string => `${p}_c${ids[c] ?? c}`;
  const list = (c: number, name: string, xs: readonly number[], positive: number): void => {
    if (xs.length !== rank) constraint(op, id(c), `${name} has ${xs.length} entries for rank ${rank}`);
    const bad = xs.find((x) => x <= 0);
    if (bad !== undefined) constraint(op, id(positive), `${name} has ${bad}: must be positive`);
  };
  list(4, 'window_dimensions', w.dims, 5);
  list(6, 'window_strides', w.strides, 7);
  list(8, 'base_dilations', w.baseDil, 9);
  list(10, 'window_dilations', w.winDil, 11);
  if (w.padding.length !== rank || w.padding.some((row) => row.length !== 2))
    constraint(op, id(12), `padding must be ${rank}x2`);
  return shape.map((n, d) => {
    if (n < 0) return -1;
    const dilated = n === 0 ? 0 : (n - 1) * w.baseDil[d]! + 1;
    const padded = w.padding[d]![0]! + dilated + w.padding[d]![1]!;
    const window = (w.dims[d]! - 1) * w.winDil[d]! + 1;
    return padded <= 0 || window > padded ? 0 : Math.floor((padded - window) / w.strides[d]!) + 1;
  });
}

/** Operand flat index for window element `w` of output position `o`, or -1 for padding/holes. */
function windowSource(
  shape: readonly number[],
  st: readonly number[],
  w: WindowAttrs,
  o: readonly number[],
  k: readonly number[],
): number {
  let flat = 0;
  for (let d = 0; d < shape.length; d++) {
    const p = o[d]! * w.strides[d]! + k[d]! * w.winDil[d]! - w.padding[d]![0]!;
    if (p < 0 || p % w.baseDil[d]! !== 0) return -1;
    const i = p / w.baseDil[d]!;
    if (i >= shape[d]!) return -1;
    flat += i * st[d]!;
  }
  return flat;
}

const reduceWindow = defineOp({
  name: 'stablehlo.reduce_window',
  category: 'reduction',
  spec: 'reduce_window',
  attrs: readWindow,
  infer: (types, w, op) => {
    const ts = tensorOperands(op, types);
    const n = ts.length / 2;
    if (n < 1 || !Number.isInteger(n) || op.results.length !== n)
      constraint(
        op,
        'reduce_window_c1',
        `${ts.length} operands, ${op.results.length} results: expected N inputs, N init values, N results`,
      );
    const [inputs, inits] = [ts.slice(0, n), ts.slice(n)];
    const shape = inputs[0]!.shape;
    if (inputs.some((t) => !compatibleShape(t.shape, shape)))
      constraint(op, 'reduce_window_c2', `inputs of different shapes: ${inputs.map(typeToString).join(', ')}`);
    inits.forEach((t, i) => {
      if (t.shape.length !== 0 || (t.elem.kind !== 'quant' && t.elem.name !== inputs[i]!.elem.name))
        constraint(
          op,
          'reduce_window_c3',
          `init value #${i} must be a 0-d ${inputs[i]!.elem.name}, got ${typeToString(t)}`,
        );
    });
    const windows = windowCounts(op, 'reduce_window', {}, w, shape);
    // Element types come from the body (promotable types), left to the declared results.
    return op.results.map((r, i) =>
      r.type.kind === 'tensor'
        ? tensorType(windows, r.type.elem)
        : constraint(op, 'reduce_window_c16', `result #${i} must be a tensor`),
    );
  },
  evaluate: (args, w, op, ctx) => {
    const n = args.length / 2;
    const inputs = args.slice(0, n).map((v) => expectTensor(v));
    const inits = args.slice(n).map((v) => expectTensor(v));
    const outs = inputs.map((_, i) => makeTensor(resultTensorType(op, i)));
    const f = combiner(
      op.regions[0]!,
      inits.map((t) => t.type),
      ctx,
    );
    const shape = inputs[0]!.type.shape;
    const st = strides(shape);
    const initVals = inits.map((t) => getElem(t, 0));
    forEachIndex(outs[0]!.type.shape, (o, oflat) => {
      let acc: Elem[] = [...initVals];
      forEachIndex(w.dims, (k) => {
        const src = windowSource(shape, st, w, o, k);
        acc = f(acc, src < 0 ? initVals : inputs.map((t) => getElem(t, src)));
      });
      outs.forEach((t, i) => setElem(t, oflat, acc[i]!));
    });
    return outs;
  },
});

const selectAndScatter = defineOp({
  name: 'stablehlo.select_and_scatter',
  category: 'reduction',
  spec: 'select_and_scatter',
  attrs: (r) => {
    const dims = r.ints('window_dimensions');
    const ones = dims.map(() => 1);
    return {
      dims,
      strides: r.ints('window_strides', ones),
      baseDil: ones,
      winDil: ones,
      padding: r.intMatrix(
        'padding',
        dims.map(() => [0, 0]),
      ),
    };
  },
  arity: 3,
  infer: (types, w, op) => {
    const [x, source, init] = tensorOperands(op, types) as [TensorType, TensorType, TensorType];
    // select_and_scatter C5-C9 are reduce_window's C4-C7 and C12 (its dilations are all 1).
    const windows = windowCounts(op, 'select_and_scatter', { 4: 5, 5: 6, 6: 7, 7: 8, 12: 9 }, w, x.shape);
    if (source.elem.name !== x.elem.name)
      constraint(op, 'select_and_scatter_c2', `source is ${source.elem.name}, operand ${x.elem.name}`);
    if (!compatibleShape(source.shape, windows))
      constraint(
        op,
        'select_and_scatter_c3',
        `source is ${typeToString(source)}, the windows of the operand give [${windows.join(', ')}]`,
      );
    if (init.shape.length !== 0 || init.elem.name !== x.elem.name)
      constraint(op, 'select_and_scatter_c4', `init value must be a 0-d ${x.elem.name}, got ${typeToString(init)}`);
    return [x];
  },
  evaluate: (args, w, op, ctx) => {
    const [x, source, init] = args.map((v) => expectTensor(v)) as [Tensor, Tensor, Tensor];
    const out = makeTensor(resultTensorType(op));
    for (let i = 0; i < size(out); i++) copyElem(out, i, init, 0);
    const [selectBody, scatterBody] = op.regions as [Region, Region];
    const shape = x.type.shape;
    const st = strides(shape);
    const scatterF = combiner(scatterBody, [out.type], ctx);
    forEachIndex(source.type.shape, (o, sflat) => {
      let selected = -1;
      forEachIndex(w.dims, (k) => {
        const src = windowSource(shape, st, w, o, k);
        if (src < 0) return;
        if (selected < 0) {
          selected = src;
          return;
        }
        const keep = ctx.runRegion(selectBody, [scalarAt(x, selected), scalarAt(x, src)]);
        if (!(expectTensor(keep[0]).data as Uint8Array)[0]) selected = src;
      });
      if (selected < 0) return;
      setElem(out, selected, scatterF([getElem(out, selected)], [getElem(source, sflat)])[0]!);
    });
    return [out];
  },
});

const sort = defineOp({
  name: 'stablehlo.sort',
  category: 'reduction',
  spec: 'sort',
  attrs: (r) => ({ dim: r.int('dimension', -1), stable: r.bool('is_stable', false) }),
  infer: (types, a, op) => {
    const ts = tensorOperands(op, types);
    if (ts.length === 0) constraint(op, 'sort_c1', 'sort needs at least one input');
    const shape = ts[0]!.shape;
    if (ts.some((t) => !compatibleShape(t.shape, shape)))
      constraint(op, 'sort_c3', `inputs of different shapes: ${ts.map(typeToString).join(', ')}`);
    if (!Number.isInteger(a.dim) || a.dim < -shape.length || a.dim >= Math.max(shape.length, 1))
      constraint(op, 'sort_c4', `dimension ${a.dim} is outside [-${shape.length}, ${shape.length})`);
    return ts;
  },
  evaluate: (args, a, op, ctx) => {
    const inputs = args.map((v) => expectTensor(v));
    const outs = inputs.map((_, i) => makeTensor(resultTensorType(op, i)));
    const shape = inputs[0]!.type.shape;
    const dim = a.dim < 0 ? shape.length + a.dim : a.dim;
    const st = strides(shape);
    const outer = shape.map((d, i) => (i === dim ? 1 : d));
    const body = op.regions[0]!;
    forEachIndex(outer, (idx) => {
      const base = flatIndex(idx, st);
      const positions = Array.from({ length: shape[dim]! }, (_, k) => base + k * st[dim]!);
      const order = [...positions.keys()];
      const less = (p: number, q: number): boolean => {
        const cmpArgs: RtValue[] = [];
        for (const t of inputs) cmpArgs.push(scalarAt(t, positions[p]!), scalarAt(t, positions[q]!));
        const r = ctx.runRegion(body, cmpArgs);
        return (expectTensor(r[0]).data as Uint8Array)[0] === 1;
      };
      // Merge sort: stable, and only needs the comparator's strict-weak-order answers.
      const sorted = mergeSort(order, less);
      sorted.forEach((from, to) => outs.forEach((o, i) => copyElem(o, positions[to]!, inputs[i]!, positions[from]!)));
    });
    return outs;
  },
});

function mergeSort(xs: number[], less: (a: number, b: number) => boolean): number[] {
  if (xs.length <= 1) return xs;
  const mid = xs.length >> 1;
  const l = mergeSort(xs.slice(0, mid), less);
  const r = mergeSort(xs.slice(mid), less);
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < l.length && j < r.length) out.push(less(r[j]!, l[i]!) ? r[j++]! : l[i++]!);
  return out.concat(l.slice(i), r.slice(j));
}

const map = defineOp({
  name: 'stablehlo.map',
  category: 'reduction',
  spec: 'map',
  attrs: (r) => ({ dims: r.ints('dimensions', []) }),
  infer: (types, a, op) => {
    const ts = tensorOperands(op, types);
    if (ts.length === 0) constraint(op, 'map_c2', 'map needs at least one input');
    const shape = ts[0]!.shape;
    if (ts.some((t) => !compatibleShape(t.shape, shape)))
      constraint(op, 'map_c1', `inputs of different shapes: ${ts.map(typeToString).join(', ')}`);
    if (a.dims.length !== shape.length || a.dims.some((d, i) => d !== i))
      constraint(op, 'map_c3', `dimensions must be [0, ..., ${shape.length - 1}], got [${a.dims.join(', ')}]`);
    const r = op.results[0]?.type;
    return r?.kind === 'tensor' ? [tensorType(shape, r.elem)] : constraint(op, 'map_c1', 'the result must be a tensor');
  },
  evaluate: (args, _a, op, ctx) => {
    const inputs = args.map((v) => expectTensor(v));
    const out = makeTensor(resultTensorType(op));
    for (let i = 0; i < size(out); i++) {
      const r = ctx.runRegion(
        op.regions[0]!,
        inputs.map((t) => scalarAt(t, i)),
      );
      copyElem(out, i, expectTensor(r[0]), 0);
    }
    return [out];
  },
});

export const REDUCTION = [reduce, reduceWindow, selectAndScatter, sort, map];

/** Binary ops whose operands may come in either order (bitwise the same result, NaN rules included). */
const COMMUTATIVE = new Set(['add', 'multiply', 'maximum', 'minimum', 'and', 'or', 'xor']);

/** A region `return op(arg0, arg1)` as a binary combiner name (applied as op(accumulator, value)),
 * or undefined. `op(arg1, arg0)` qualifies only for commutative ops: `subtract %b, %a` is not
 * `subtract %a, %b`, and goes through the general region code instead. */
export function simpleCombiner(body: Region | undefined): string | undefined {
  const block = body?.blocks[0];
  if (!block || body!.blocks.length !== 1 || block.ops.length !== 2 || block.args.length !== 2) return undefined;
  const [op, ret] = block.ops as [Op, Op];
  if (ret.name !== 'stablehlo.return' || ret.operands[0] !== op.results[0] || op.operands.length !== 2)
    return undefined;
  const name = op.name.replace(/^stablehlo\./, '');
  const [x, y] = op.operands;
  if (x === block.args[0] && y === block.args[1]) return name;
  return x === block.args[1] && y === block.args[0] && COMMUTATIVE.has(name) ? name : undefined;
}
