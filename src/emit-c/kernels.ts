/**
 * @fileoverview Turns one (inlined) op or fusion group into one C kernel: a `RL_KERNEL void`
 * function over restrict-qualified buffers, printed by the C renderer from the kernel IR the op's
 * lowering (kernel/) or fusion builds; f32 dots and convolutions on SIMD targets take the packed
 * GEMM and direct-convolution paths (gemm.ts, direct-conv.ts). Kernels that are one parallel loop
 * over enough work run its rows on the thread pool (--threads).
 * Each kernel carries a comment naming the op and its source location.
 */
import { simpleCombiner } from '../ops/reduction.js';
import { floatElem, numElements, type TensorType } from '../ir/types.js';
import { cElem, cElemOrUndefined } from './ctypes.js';
import { describeGroup, fusedIR, fusedLoopBody, fusedReduceBody, type FusedEnv } from './fused.js';
import type { Op } from '../ir/core.js';
import { emitRowsKernel, PARALLEL_MIN_ELEMENTS } from './rows.js';
import { singleOpGroup } from '../fusion/fuse.js';
import { emitGemmKernel } from './gemm.js';
import type { DirectConvPlan, GemmPlan } from '../kernel/ukernel.js';
import { emitDirectConvKernel } from './direct-conv.js';
import { MIXED_OPS } from './mixed.js';
import { hasScalarCode } from './scalar.js';
import type { FlatOp, Sym } from '../flat/program.js';
import { tensorOf, unsupported, type Kernel, type KernelParam } from './builder.js';
import { attrsOf } from '../ops/index.js';
import { elementwise, IR_LOWERINGS, irLoweringOf } from '../kernel/lower.js';
import { KernelBuild } from '../kernel/build.js';
import { unusedParams } from '../kernel/analysis.js';
import { v } from '../ir/index-expr.js';
import type { KernelIR, Stmt } from '../kernel/ir.js';
import { CRenderer, cVectorUnit } from './c-renderer.js';
import { vectorize } from '../kernel/vectorize.js';

const F32 = floatElem('f32')!;

const ELEMENTWISE_NAMES = [
  'add',
  'subtract',
  'multiply',
  'divide',
  'remainder',
  'power',
  'maximum',
  'minimum',
  'atan2',
  'and',
  'or',
  'xor',
  'shift_left',
  'shift_right_logical',
  'shift_right_arithmetic',
  'negate',
  'abs',
  'sign',
  'not',
  'popcnt',
  'count_leading_zeros',
  'ceil',
  'floor',
  'round_nearest_afz',
  'round_nearest_even',
  'sqrt',
  'rsqrt',
  'cbrt',
  'exponential',
  'exponential_minus_one',
  'log',
  'log_plus_one',
  'logistic',
  'sine',
  'cosine',
  'tan',
  'tanh',
  'is_finite',
];
/** CHLO elementwise ops with a C spelling (libm or rl.h). */
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

function kernelComment(name: string, fop: FlatOp): string {
  const loc = fop.op.loc;
  return `/* ${name}: ${fop.op.name} at ${loc.file.split('/').pop()}:${loc.line}:${loc.col}${loc.origin ? ` (from ${loc.origin})` : ''} */`;
}

/** Elementwise ops with a per-element C spelling (stablehlo and chlo). */
function isElementwiseName(name: string): boolean {
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
      'stablehlo.convert',
      'stablehlo.select',
      'stablehlo.clamp',
      'stablehlo.compare',
      'stablehlo.uniform_quantize',
      'stablehlo.uniform_dequantize',
    ].includes(name)
  );
}

const POOL_PARAM: KernelParam = { name: 'pool', cType: 'rl_pool_t*', output: false };

/** The C of kernel `ir` (`owner`: the op its errors point at): one function, or, with a pool
 * (--threads) and a body that is one parallel loop over enough work, that loop's rows split
 * across the pool (rows.ts). `inPlace`: an output may alias an input (no `restrict`). */
function renderKernel(
  scalarIR: KernelIR,
  owner: Op,
  inPlace: boolean,
  renderer: CRenderer,
  threads: number,
  lanes: number | undefined,
): Kernel {
  const ir = { ...scalarIR, body: vectorize(scalarIR.body, cVectorUnit(lanes)) };
  const params: KernelParam[] = ir.params.map((p) => ({
    name: p.name,
    cType: renderer.paramType(p, inPlace, owner),
    output: p.output,
  }));
  const rows = splittableRows(ir.body);
  const work = Math.max(...ir.params.map((p) => p.elements));
  if (threads > 1 && rows !== undefined && rows > 1 && work >= PARALLEL_MIN_ELEMENTS) {
    const unread = new Set(unusedParams(ir).map((p) => p.name));
    const withPool = [...params.map((p) => (unread.has(p.name) ? { ...p, unread: true } : p)), POOL_PARAM];
    const outer = ir.body[0] as Extract<Stmt, { k: 'loop' }>;
    const source = emitRowsKernel(ir.name, withPool, rows, true, (w) =>
      renderer.renderStmts(w, [{ ...outer, from: v('row_begin'), to: v('row_end') }], owner),
    );
    return {
      name: ir.name,
      comment: ir.comment,
      params: withPool,
      source: `${ir.comment}\n${source}`,
      usesSimd: renderer.usedSimd,
      ir,
    };
  }
  return {
    name: ir.name,
    comment: ir.comment,
    params,
    source: renderer.render(ir, owner, inPlace),
    usesSimd: renderer.usedSimd,
    ir,
  };
}

/** The row count of a body that is a single parallel loop from 0 (its iterations may run on
 * different threads; not a `vector` loop, which must start at 0 to run in vectors). */
function splittableRows(body: readonly Stmt[]): number | undefined {
  const s = body[0];
  if (
    body.length !== 1 ||
    s?.k !== 'loop' ||
    !s.parallel ||
    s.vector ||
    (s.step ?? 1) !== 1 ||
    s.from.k !== 'int' ||
    s.from.value !== 0 ||
    s.to.k !== 'int'
  )
    return undefined;
  return s.to.value;
}

/** Renders the kernel for one op instance. `index` makes the name unique and ordered; `gemm`
 * routes a dot/convolution to the packed GEMM path (its last output is then arena scratch). */
export function lowerToKernel(
  fop: FlatOp,
  index: number,
  inPlace: boolean,
  gemm: GemmPlan | DirectConvPlan | undefined,
  env: FusedEnv,
  threads = 1,
  lanes?: number,
): Kernel {
  const short = fop.op.name.replace(/^[a-z]+\./, '');
  if (gemm) {
    const name = `k${index}_${gemm.op.name.replace(/^[a-z]+\./, '')}${fop.group ? '_fused' : ''}`;
    const comment = fop.group ? `/* ${name}: fuses ${describeGroup(fop.group)} */` : kernelComment(name, fop);
    const storage = (s: Sym): string => cElem(s.type as TensorType, fop.op.name, fop.op.loc).storage;
    const epilogueLeaves = fop.ins
      .slice(2)
      .map((s, i) => ({ name: `e${i}`, cType: `const ${storage(s)}* restrict`, output: false }));
    const head = fop.group?.head ?? fop;
    const params = [
      { name: 'in0', cType: `const ${storage(head.ins[0]!)}* restrict`, output: false },
      // A constant B arrives packed (f32) from the weight blob.
      {
        name: 'in1',
        cType: `const ${gemm.kind === 'gemm' && gemm.bPrepacked ? 'float' : storage(head.ins[1]!)}* restrict`,
        output: false,
      },
      ...epilogueLeaves,
      { name: 'out0', cType: `${storage(fop.outs[0]!)}* restrict`, output: true },
      { name: 'scratch', cType: 'uint8_t* restrict', output: true },
      ...(threads > 1 ? [POOL_PARAM] : []),
    ];
    const epilogue = fop.group ? { fop, env, lanes } : undefined;
    const source =
      gemm.kind === 'gemm'
        ? emitGemmKernel(gemm, name, comment, params, epilogue, threads > 1)
        : emitDirectConvKernel(gemm, name, comment, params, epilogue, threads > 1);
    // The IR of the kernel is the ukernel node; its operands are the kernel's buffers but the pool.
    const buffers = [head.ins[0]!, head.ins[1]!, ...fop.ins.slice(2), ...fop.outs].map((s, i) => {
      const t = tensorOf(s, fop);
      // A constant B arrives packed in f32 (packB: at least its elements, padded to whole panels).
      const elem = i === 1 && gemm.kind === 'gemm' && gemm.bPrepacked ? F32 : t.elem;
      return { name: params[i]!.name, elem, elements: numElements(t.shape), output: params[i]!.output };
    });
    const ir: KernelIR = {
      name,
      comment,
      params: buffers,
      body: [{ k: 'ukernel', plan: gemm, ...(fop.group ? { epilogue: fop.group } : {}) }],
    };
    return { name, comment, params, source, usesSimd: true, ir };
  }
  if (fop.group?.reduce) {
    const name = `k${index}_fused_reduce`;
    const ir = fusedIR(name, `/* ${name}: fuses ${describeGroup(fop.group)} */`, fop, fusedReduceBody(fop, env));
    return renderKernel(ir, fop.group.reduce.op, false, new CRenderer(lanes), threads, undefined);
  }
  // A lone f32 elementwise op on a SIMD target runs as a group of one, for the vector loop.
  const group =
    fop.group ?? (lanes && isElementwiseName(fop.op.name) && fop.outs.length === 1 ? singleOpGroup(fop) : undefined);
  if (group) {
    const f = { ...fop, group };
    const name = fop.group ? `k${index}_fused_${short}` : `k${index}_${short}`;
    const comment = fop.group ? `/* ${name}: fuses ${describeGroup(fop.group)} */` : kernelComment(name, fop);
    const kernel = renderKernel(
      fusedIR(name, comment, f, fusedLoopBody(f, env)),
      fop.op,
      inPlace,
      new CRenderer(lanes),
      threads,
      lanes,
    );
    if (fop.group || kernel.usesSimd) return kernel;
  }
  const name = `k${index}_${short}`;
  // Elementwise ops without a lowering of their own take the generic per-element one.
  const generic = isElementwiseName(fop.op.name) && irLoweringOf(fop.op.name) === undefined;
  const irLowering = irLoweringOf(fop.op.name) ?? (generic ? elementwise(short) : undefined);
  if (!irLowering) unsupported(fop, 'no C lowering yet');
  if (generic) checkElementwise(fop, short);
  const build = new KernelBuild(fop, 'C backend');
  // A reshape given its operand's buffer (memory plan in-place rule) has nothing to move.
  const body: Stmt[] =
    fop.op.name === 'stablehlo.reshape' && inPlace
      ? [{ k: 'comment', text: "in place: the result is the operand's buffer, row-major order unchanged" }]
      : irLowering(build);
  return renderKernel(
    { name, comment: kernelComment(name, fop), params: build.params, body },
    fop.op,
    inPlace,
    new CRenderer(lanes),
    threads,
    lanes,
  );
}

/** The generic per-element rule needs C spellings of the op for its type; bit-level ops would
 * see a sub-byte type's 8-bit container, not its 2/4-bit value. */
function checkElementwise(fop: FlatOp, name: string): void {
  const c = cElem(tensorOf(fop.ins[0]!, fop), fop.op.name, fop.op.loc);
  if (!hasScalarCode(name, c) || (name === 'next_after' && c.storage !== c.compute))
    unsupported(fop, `not defined for ${c.name}`);
  if (
    c.subByte &&
    ['shift_left', 'shift_right_logical', 'shift_right_arithmetic', 'popcnt', 'count_leading_zeros'].includes(name)
  )
    unsupported(fop, `${name} on ${c.name}`);
}
