/**
 * @fileoverview Fault injection: `--inject-fault=KIND` makes the C backend emit a deliberately
 * wrong program, so that the tests can prove their comparisons fail when the generated code is
 * wrong (a check that cannot fail proves nothing). Each kind models a class of real code
 * generation bugs and is applied at the site nearest the program's outputs (where it has one):
 *
 *   - skip-element:     the kernel that writes output 0 (else its copy to the caller) leaves its
 *                       first element unwritten;
 *   - off-by-one:       that kernel's outermost loop stops one short (the last slice along its
 *                       outermost dimension longer than 1 stays unwritten);
 *                       an unwritten element holds what the test harnesses fill buffers with
 *                       (UNWRITTEN_BYTE), not the buffer's earlier content, which an in-place
 *                       kernel would leave equal to the right answer by chance;
 *   - wrong-operand:    the last op with two distinct operands of one type (not two equal
 *                       constants) reads them from mixed-up buffers: exchanged where the op is
 *                       not symmetric in them (subtract, compare LT, select, ...), otherwise the
 *                       first read twice (an exchange would go unseen in an add);
 *   - perturb-constant: every finite element x of every float constant moves by 10x the
 *                       comparison's relative tolerance of its type (rtol), times max(1, |x|) (so
 *                       a zero moves too), as a bug in how weights are written would move them;
 *                       programs with float outputs and no quantized values only;
 *   - drop-last-term:   every sum (a reduce whose body adds, dot, dot_general, convolution) loses
 *                       the last term of one of its reduced dimensions, as a bug in its lowering
 *                       would (a max or min without its last term is most often the same).
 *
 * Faults that rewrite the program do it on the flat program, before fusion, so they reach every
 * kernel path (fused loops, GEMM, direct convolution) the same way a bug in an op's lowering
 * would. A program with no site for a kind is refused (NoFaultSite), and so is one whose outputs
 * are all empty (no fault could show).
 */
import { getElem, makeTensor, setElem, size, type Tensor } from '../ir/tensor.js';
import type { Op } from '../ir/core.js';
import { isFloatLike, numElements, storageElem, tensorType, typeToString, type TensorType } from '../ir/types.js';
import { opAttrs } from '../ops/def.js';
import { lookupOp } from '../ops/index.js';
import { dotDims, type ConvAttrs, type DotDims } from '../ops/contraction.js';
import { TOLERANCES } from '../ir/compare.js';

import type { FlatOp, FlatProgram, Sym } from './program.js';
import { RuntimeError } from '../diag/diagnostics.js';
import { simpleCombiner } from '../ops/reduction.js';

export const FAULT_KINDS = [
  'skip-element',
  'off-by-one',
  'wrong-operand',
  'perturb-constant',
  'drop-last-term',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

/** The byte test harnesses fill output and arena buffers with (templates/c/*harness*, firmware):
 * a huge finite value in every float type (f32 1.3e36, f16 61280), 0x7B7B... in integers, an
 * invalid bool, so that an element a model fails to write never reads as a lucky zero, nor as a
 * NaN that a NaN result would match. */
export const UNWRITTEN_BYTE = '0x7B';

/** Ops whose result changes when two of its operands are exchanged. */
const ORDERED = new Set([
  'subtract',
  'divide',
  'remainder',
  'power',
  'atan2',
  'shift_left',
  'shift_right_arithmetic',
  'shift_right_logical',
  'select',
  'complex',
  'concatenate',
  'dynamic_update_slice',
  'dynamic_slice',
  'pad',
  'clamp',
]);

/** The program has nothing that the fault kind could break. */
export class NoFaultSite extends RuntimeError {}

/** Elements of a buffer that the faulty run function overwrites with UNWRITTEN_BYTE after the kernel
 * that writes it (as if that kernel had skipped them). */
export interface UnwrittenRange {
  readonly sym: Sym;
  /** The kernel that writes `sym` skips the elements, or (when control steps copy the value into
   * place and no kernel writes it) the copy to the caller's output 0 does. */
  readonly by: 'kernel' | 'output copy';
  readonly firstElement: number;
  readonly elements: number;
}

export interface InjectedFault {
  readonly prog: FlatProgram;
  /** Constants whose values the weights take from here instead of their literal. */
  readonly constants: ReadonlyMap<Sym, Tensor>;
  readonly unwritten?: UnwrittenRange;
  /** Where the fault went, for reports and test messages. */
  readonly where: string;
}

const at = (op: Op): string => `${op.name.replace(/^stablehlo\./, '')} at ${op.loc.line}:${op.loc.col}`;
const tensorOf = (s: Sym): TensorType | undefined => (s.type.kind === 'tensor' ? s.type : undefined);
const kernelsOf = (prog: FlatProgram): FlatOp[] => prog.ops.filter((f) => !prog.control.has(f));

export function injectFault(prog: FlatProgram, kind: FaultKind, valueOf: (s: Sym) => Tensor): InjectedFault {
  const none = (what: string): never => {
    throw new NoFaultSite(`--inject-fault=${kind}: the program has no ${what}`);
  };
  if (prog.outputs.every((s) => numElements(tensorOf(s)?.shape ?? [0]) === 0)) return none('non-empty output');
  switch (kind) {
    case 'skip-element':
    case 'off-by-one': {
      const out = prog.outputs[0];
      const t = out && tensorOf(out);
      if (!out || !t || numElements(t.shape) === 0) return none('non-empty output 0');
      const writer = kernelsOf(prog).find((f) => f.outs.includes(out));
      const by = writer ? 'kernel' : 'output copy';
      const what = writer ? at(writer.op) : 'its copy to the caller';
      if (kind === 'skip-element')
        return {
          prog,
          constants: new Map(),
          unwritten: { sym: out, by, firstElement: 0, elements: 1 },
          where: `element 0 of output 0 (${what})`,
        };
      const dim = t.shape.findIndex((d) => d > 1);
      const slice = dim < 0 ? 1 : numElements(t.shape.slice(dim + 1));
      const total = numElements(t.shape);
      return {
        prog,
        constants: new Map(),
        unwritten: { sym: out, by, firstElement: total - slice, elements: slice },
        where: `last ${slice} element(s) of output 0 (${what})`,
      };
    }
    case 'wrong-operand':
      return wrongOperand(prog, valueOf) ?? none('op with two distinct operands of the same type');
    case 'perturb-constant':
      return (
        perturbConstants(prog, valueOf) ??
        none('float constant with a finite element (or not only float outputs, or quantized values)')
      );
    case 'drop-last-term':
      return (
        dropLastTerm(prog, valueOf) ??
        none('sum (reduce with an add body, dot, convolution) over a dimension longer than 1')
      );
  }
}

function replaceOp(prog: FlatProgram, old: FlatOp, ...next: FlatOp[]): FlatProgram {
  return { ...prog, ops: prog.ops.flatMap((f) => (f === old ? next : [f])) };
}

function wrongOperand(prog: FlatProgram, valueOf: (s: Sym) => Tensor): InjectedFault | undefined {
  const sameConstant = (a: Sym, b: Sym): boolean => {
    if (!prog.constants.has(a) || !prog.constants.has(b)) return false;
    const [x, y] = [valueOf(a), valueOf(b)];
    for (let i = 0; i < size(x); i++) if (String(getElem(x, i)) !== String(getElem(y, i))) return false;
    return true;
  };
  for (const f of kernelsOf(prog).reverse()) {
    for (let i = 0; i < f.ins.length; i++) {
      for (let j = i + 1; j < f.ins.length; j++) {
        const [a, b] = [f.ins[i]!, f.ins[j]!];
        const [ta, tb] = [tensorOf(a), tensorOf(b)];
        if (a === b || !ta || !tb || typeToString(ta) !== typeToString(tb) || sameConstant(a, b)) continue;
        const name = f.op.name.replace(/^(stablehlo|chlo)\./, '');
        const direction =
          name === 'compare' ? opAttrs<{ direction: string }>(lookupOp(f.op.name)!, f.op).direction : undefined;
        const exchange = ORDERED.has(name) || (direction !== undefined && direction !== 'EQ' && direction !== 'NE');
        const ins = [...f.ins];
        [ins[i], ins[j]] = exchange ? [b, a] : [a, a];
        const what = exchange ? `operands ${i} and ${j} exchanged` : `operand ${j} read from operand ${i}'s buffer`;
        return { prog: replaceOp(prog, f, { ...f, ins }), constants: new Map(), where: `${what} in ${at(f.op)}` };
      }
    }
  }
  return undefined;
}

function perturbConstants(prog: FlatProgram, valueOf: (s: Sym) => Tensor): InjectedFault | undefined {
  // Integer and boolean results (a comparison, an argmin) rarely move with a small step, and
  // quantized values not at all (a step far below the quantization's).
  if (!prog.outputs.every((s) => s.type.kind === 'tensor' && isFloatLike(s.type.elem))) return undefined;
  if (prog.ops.some((f) => [...f.ins, ...f.outs].some((s) => s.type.kind === 'tensor' && s.type.elem.kind === 'quant')))
    return undefined;
  const moved = new Map<Sym, Tensor>();
  let elements = 0;
  for (const s of prog.constants.keys()) {
    const t = tensorOf(s);
    const rtol = t && storageElem(t.elem).kind === 'float' ? TOLERANCES[storageElem(t.elem).name]?.rtol : undefined;
    if (rtol === undefined) continue;
    const v = valueOf(s);
    const w = makeTensor(v.type, v.data.slice());
    for (let i = 0; i < size(w); i++) {
      const x = getElem(v, i) as number;
      if (!Number.isFinite(x)) continue;
      setElem(w, i, x + 10 * rtol * Math.max(1, Math.abs(x)));
      elements++;
    }
    moved.set(s, w);
  }
  if (!elements) return undefined;
  return {
    prog,
    constants: moved,
    where: `${elements} element(s) of ${moved.size} float constant(s) moved by 10 rtol max(1, |x|)`,
  };
}

/** A fresh symbol id above every one the program uses. */
function freshIds(prog: FlatProgram): () => number {
  let next = 0;
  for (const f of prog.ops) for (const s of [...f.ins, ...f.outs]) next = Math.max(next, s.id + 1);
  for (const s of [...prog.inputs, ...prog.constants.keys()]) next = Math.max(next, s.id + 1);
  return () => next++;
}

/** A flat `stablehlo.slice` of `x` that keeps all but the last index of dimension `dim`. */
function dropLast(x: Sym, dim: number, owner: Op, fresh: () => number): { op: FlatOp; out: Sym } {
  const t = tensorOf(x)!;
  const limit = t.shape.map((d, i) => (i === dim ? d - 1 : d));
  const out: Sym = { id: fresh(), type: tensorType(limit, t.elem) };
  const ints = (values: readonly number[]) => ({ kind: 'denseArray' as const, elemType: 'i64', values });
  const op: Op = {
    name: 'stablehlo.slice',
    operands: [],
    results: [],
    attrs: {
      start_indices: ints(t.shape.map(() => 0)),
      limit_indices: ints(limit),
      strides: ints(t.shape.map(() => 1)),
    },
    regions: [],
    successors: [],
    loc: owner.loc,
  };
  return { op: { op, ins: [x], outs: [out] }, out };
}

/** The last term of one reduced dimension of `f` dropped, as a slice before it (or, for a
 * convolution with one input feature, its last window tap zeroed in a constant kernel). */
function shortenReduction(
  f: FlatOp,
  prog: FlatProgram,
  valueOf: (s: Sym) => Tensor,
  fresh: () => number,
): { ops: FlatOp[]; constants?: [Sym, Tensor] } | undefined {
  const extent = (s: Sym, d: number): number => tensorOf(s)?.shape[d] ?? 0;
  const attrs = (): unknown => opAttrs(lookupOp(f.op.name)!, f.op);
  if (f.op.name === 'stablehlo.reduce' && f.ins.length === 2 && simpleCombiner(f.op.regions[0]) === 'add') {
    const d = (attrs() as { dims: number[] }).dims.filter((k) => extent(f.ins[0]!, k) > 1).pop();
    if (d === undefined) return undefined;
    const s = dropLast(f.ins[0]!, d, f.op, fresh);
    return { ops: [s.op, { ...f, ins: [s.out, f.ins[1]!] }] };
  }
  if (f.op.name === 'stablehlo.dot' || f.op.name === 'stablehlo.dot_general') {
    const lhs = tensorOf(f.ins[0]!);
    if (!lhs) return undefined;
    const d: DotDims = f.op.name === 'stablehlo.dot' ? dotDims(lhs) : (attrs() as DotDims);
    const k = d.lc
      .map((_, i) => i)
      .filter((i) => extent(f.ins[0]!, d.lc[i]!) > 1)
      .pop();
    if (k === undefined) return undefined;
    const l = dropLast(f.ins[0]!, d.lc[k]!, f.op, fresh);
    const r = dropLast(f.ins[1]!, d.rc[k]!, f.op, fresh);
    return { ops: [l.op, r.op, { ...f, ins: [l.out, r.out] }] };
  }
  if (f.op.name !== 'stablehlo.convolution') return undefined;
  const c = attrs() as ConvAttrs;
  if (c.featureGroups === 1 && c.batchGroups === 1 && extent(f.ins[0]!, c.inFeature) > 1) {
    const l = dropLast(f.ins[0]!, c.inFeature, f.op, fresh);
    const r = dropLast(f.ins[1]!, c.kIn, f.op, fresh);
    return { ops: [l.op, r.op, { ...f, ins: [l.out, r.out] }] };
  }
  const kernel = f.ins[1]!;
  const kd = c.kSpatial[c.kSpatial.length - 1];
  if (!prog.constants.has(kernel) || kd === undefined || extent(kernel, kd) < 2) return undefined;
  const w = valueOf(kernel);
  const shape = tensorOf(kernel)!.shape;
  const inner = numElements(shape.slice(kd + 1));
  const zeroed = makeTensor(w.type, w.data.slice());
  for (let i = 0; i < size(w); i++) if (Math.floor(i / inner) % shape[kd]! === shape[kd]! - 1) setElem(zeroed, i, 0);
  return { ops: [f], constants: [kernel, zeroed] };
}

/** Every reduction shortened, as a bug in a reduction's lowering would shorten every one it
 * lowers (one shortened site can hide behind data: a dead ReLU channel, a saturated softmax). */
function dropLastTerm(prog: FlatProgram, valueOf: (s: Sym) => Tensor): InjectedFault | undefined {
  const fresh = freshIds(prog);
  const constants = new Map<Sym, Tensor>();
  const sites: string[] = [];
  const ops = prog.ops.flatMap((f) => {
    const short = prog.control.has(f) ? undefined : shortenReduction(f, prog, valueOf, fresh);
    if (!short) return [f];
    sites.push(at(f.op));
    if (short.constants) constants.set(...short.constants);
    return short.ops;
  });
  if (!sites.length) return undefined;
  return {
    prog: { ...prog, ops },
    constants,
    where: `last term of ${sites.length} reduction(s): ${sites.slice(0, 3).join(', ')}${sites.length > 3 ? ', ...' : ''}`,
  };
}
