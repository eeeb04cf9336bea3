/**
 * @fileoverview What every C-family backend lowers the same way: which ops are elementwise with a
 * C spelling (and so fusible, reducible, safe in place), and the kernel IR of one kernel op, an
 * op through its lowering (kernel/lower.ts, or the generic per-element rule) or a fusion group
 * (kernel/fused.ts). Backends render the IR (emit-c's CRenderer, emit-cuda's CudaRenderer).
 */
import { shortLoc } from '../diag/source.js';
import { simpleCombiner } from '../ops/reduction.js';
import { attrsOf } from '../ops/index.js';
import { BINARY, UNARY } from '../ops/elementwise.js';
import type { FlatOp, FusionGroup } from '../flat/program.js';
import { describeGroup, fusedIR, fusedLoopBody, fusedReduceBody, type FusedEnv } from '../kernel/fused.js';
import { elementwise, IR_LOWERINGS, irLoweringOf } from '../kernel/lower.js';
import { KernelBuild } from '../kernel/build.js';
import type { Buf, KernelIR, Stmt } from '../kernel/ir.js';
import type { UkernelPlan } from '../kernel/ukernel.js';
import { numElements, type ElemType } from '../ir/types.js';
import { cElem, cElemOrUndefined } from './ctypes.js';
import { MIXED_OPS } from './mixed.js';
import { hasScalarCode } from './scalar.js';
import { tensorOf, unsupported } from './kernel.js';

/** stablehlo ops lowered per element: the op table's unary and binary ones, and is_finite
 * (float to i1). */
const ELEMENTWISE_NAMES: readonly string[] = [...UNARY, ...BINARY, 'is_finite'];
/** CHLO elementwise ops with a C spelling (libm or rl.h). */
// prettier-ignore
const CHLO_ELEMENTWISE = [
  'erf',
  'erfc',
  'lgamma',
  'acosh',
  'acos',
  'asin',
  'asinh',
  'atan',
  'atanh',
  'cosh',
  'sinh',
  'tan',
  'mulhi',
  'erf_inv',
  'digamma',
  'bessel_i1e',
  'next_after',
];

/** The comment of kernel `name` for op `fop`: the op and where it came from. */
export function kernelComment(name: string, fop: FlatOp): string {
  const loc = fop.op.loc;
  return `/* ${name}: ${fop.op.name} at ${shortLoc(loc)}${loc.origin ? ` (from ${loc.origin})` : ''} */`;
}

/** Elementwise ops with a per-element C spelling (stablehlo and chlo). */
export function isElementwiseName(name: string): boolean {
  const short = name.replace(/^[a-z]+\./, '');
  return (
    (name.startsWith('stablehlo.') && ELEMENTWISE_NAMES.includes(short)) ||
    (name.startsWith('chlo.') && CHLO_ELEMENTWISE.includes(short))
  );
}

/** Elementwise ops lowered by the generic per-element rule, on types fusion handles (real
 * floats and full-width integers; not complex, quantized or sub-byte). */
export function isFusibleElementwise(fop: FlatOp): boolean {
  const name = fop.op.name;
  const short = name.replace(/^[a-z]+\./, '');
  // clamp has a lowering of its own (scalar bounds) but is elementwise for fusion: its rank-0
  // bounds are read through an empty index map.
  const generic = (!(name in IR_LOWERINGS) && isElementwiseName(name)) || name === 'stablehlo.clamp';
  // convert, compare and select change type; their per-element code is shared with their own
  // kernels (mixed.ts). Fused, an f64 convert or a mask never becomes a tensor in the arena.
  const mixed =
    MIXED_OPS.has(name) &&
    !(name === 'stablehlo.compare' && attrsOf('stablehlo.compare', fop.op).type === 'TOTALORDER');
  if (!(generic || mixed) || fop.outs.length !== 1) return false;
  if (
    name === 'stablehlo.select' &&
    fop.ins[0]!.type.kind === 'tensor' &&
    fop.outs[0]!.type.kind === 'tensor' &&
    fop.ins[0]!.type.shape.length !== fop.outs[0]!.type.shape.length
  )
    return false;
  return [...fop.ins, ...fop.outs].every((s) => {
    if (s.type.kind !== 'tensor' || s.type.elem.kind === 'complex' || s.type.elem.kind === 'quant') return false;
    const c = cElemOrUndefined(s.type.elem);
    return (
      !!c &&
      !c.subByte &&
      !c.quant &&
      (mixed || (hasScalarCode(short, c) && (short !== 'next_after' || c.storage === c.compute)))
    );
  });
}

/** Reductions a fusion group may end in: one input and init value, a single-op combiner the
 * C backend spells (add, max, ...), on a type the fused-loop code handles. */
export function isReducible(fop: FlatOp): boolean {
  if (fop.op.name !== 'stablehlo.reduce' || fop.ins.length !== 2 || fop.outs.length !== 1) return false;
  const name = simpleCombiner(fop.op.regions[0]);
  const t = fop.outs[0]!.type;
  if (!name || t.kind !== 'tensor' || t.elem.kind === 'complex' || t.elem.kind === 'quant') return false;
  const c = cElemOrUndefined(t.elem);
  return !!c && !c.subByte && hasScalarCode(name, c);
}

/** Ops whose kernels read element i of every full-size operand before writing element i of the
 * result, so the result may share an operand's buffer (in-place; see memory/plan.ts). */
export function writesInPlaceSafely(fop: FlatOp): boolean {
  if (fop.group) return fop.group.inPlaceSafe;
  const name = fop.op.name;
  return (
    isElementwiseName(name) ||
    [
      'stablehlo.reshape',
      // Every type is stored as its bits: a bitcast over an operand of the same element size is no work.
      'stablehlo.bitcast_convert',
      'stablehlo.convert',
      'stablehlo.select',
      'stablehlo.clamp',
      'stablehlo.compare',
      'stablehlo.uniform_quantize',
      'stablehlo.uniform_dequantize',
    ].includes(name)
  );
}

/** The comment of a fused kernel: the ops it fuses. */
export const groupComment = (name: string, g: FusionGroup): string => `/* ${name}: fuses ${describeGroup(g)} */`;

/** The kernel IR of fusion group `fop.group` (a fused loop, or a chain ending in a reduction);
 * `single`: a group of one (singleOpGroup: a lone op a backend runs as a vector loop), named as
 * the op. */
export function fusedKernelIR(fop: FlatOp, index: number, env: FusedEnv, single = false): KernelIR {
  const g = fop.group!;
  if (g.reduce) {
    const name = `k${index}_fused_reduce`;
    return fusedIR(name, groupComment(name, g), fop, fusedReduceBody(fop, env));
  }
  const short = fop.op.name.replace(/^[a-z]+\./, '');
  const name = single ? `k${index}_${short}` : `k${index}_fused_${short}`;
  return fusedIR(name, single ? kernelComment(name, fop) : groupComment(name, g), fop, fusedLoopBody(fop, env));
}

/** The kernel IR of op `fop` through its lowering (`backend` names the target in errors).
 * `inPlace`: the memory plan gave the result an operand's buffer. */
export function opKernelIR(fop: FlatOp, index: number, inPlace: boolean, backend: string): KernelIR {
  const short = fop.op.name.replace(/^[a-z]+\./, '');
  const name = `k${index}_${short}`;
  // Elementwise ops without a lowering of their own take the generic per-element one.
  const generic = isElementwiseName(fop.op.name) && irLoweringOf(fop.op.name) === undefined;
  const irLowering = irLoweringOf(fop.op.name) ?? (generic ? elementwise(short) : undefined);
  if (!irLowering) unsupported(fop, 'no lowering yet', backend);
  if (generic) checkElementwise(fop, short, backend);
  const build = new KernelBuild(fop, backend);
  // A reshape or bitcast_convert given its operand's buffer (memory plan in-place rule: the same
  // element size and count) has nothing to move.
  const body: Stmt[] =
    (fop.op.name === 'stablehlo.reshape' || fop.op.name === 'stablehlo.bitcast_convert') && inPlace
      ? [{ k: 'comment', text: "in place: the result is the operand's buffer, its bits unchanged" }]
      : irLowering(build);
  return { name, comment: kernelComment(name, fop), params: build.params, body };
}

/** The generic per-element rule needs C spellings of the op for its type; bit-level ops would
 * see a sub-byte type's 8-bit container, not its 2/4-bit value. */
function checkElementwise(fop: FlatOp, name: string, backend: string): void {
  const c = cElem(tensorOf(fop.ins[0]!, fop), fop.op.name, fop.op.loc);
  if (!hasScalarCode(name, c) || (name === 'next_after' && c.storage !== c.compute))
    unsupported(fop, `not defined for ${c.name}`, backend);
  if (
    c.subByte &&
    ['shift_left', 'shift_right_logical', 'shift_right_arithmetic', 'popcnt', 'count_leading_zeros'].includes(name)
  )
    unsupported(fop, `${name} on ${c.name}`, backend);
}

/** A micro-kernel's kernel (a GEMM or convolution, with its fused epilogue): its name, comment
 * and IR, whose body is the ukernel node and whose buffers are A (in0), B (in1), the epilogue's
 * leaves (e0, e1, ...), the output (out0) and the arena scratch. `bElem`: B's element type as
 * the kernel reads it (a constant packed at compile time: f32). */
export function ukernelIR(fop: FlatOp, index: number, plan: UkernelPlan, bElem?: ElemType): KernelIR {
  const name = `k${index}_${plan.op.name.replace(/^[a-z]+\./, '')}${fop.group ? '_fused' : ''}`;
  const comment = fop.group ? groupComment(name, fop.group) : kernelComment(name, fop);
  const head = fop.group?.head ?? fop;
  const names = ['in0', 'in1', ...fop.ins.slice(2).map((_, i) => `e${i}`), 'out0', 'scratch'];
  const params = [head.ins[0]!, head.ins[1]!, ...fop.ins.slice(2), ...fop.outs].map((s, i): Buf => {
    const t = tensorOf(s, fop);
    const output = i >= names.length - 2;
    return { name: names[i]!, elem: i === 1 && bElem ? bElem : t.elem, elements: numElements(t.shape), output };
  });
  return { name, comment, params, body: [{ k: 'ukernel', plan, ...(fop.group ? { epilogue: fop.group } : {}) }] };
}
