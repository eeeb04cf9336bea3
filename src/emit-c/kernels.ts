/**
 * @fileoverview Turns one (inlined) op or fusion group into one C kernel: a `RL_KERNEL void`
 * function over restrict-qualified buffers, printed by the C renderer from the kernel IR the op's
 * lowering (kernel/) or fusion builds; f32 dots and convolutions on SIMD targets take the packed
 * GEMM and direct-convolution paths (gemm.ts, direct-conv.ts). Kernels that are one parallel loop
 * over enough work run its rows on the thread pool (--threads).
 * Each kernel carries a comment naming the op and its source location.
 */
import { floatElem, numElements, type TensorType } from '../ir/types.js';
import { cElem } from '../emit-common/ctypes.js';
import { fusedKernelIR, groupComment, isElementwiseName, kernelComment, opKernelIR } from '../emit-common/lowering.js';
import { type FusedEnv } from '../kernel/fused.js';
import type { Op } from '../ir/core.js';
import { emitRowsKernel, PARALLEL_MIN_ELEMENTS } from './rows.js';
import { singleOpGroup } from '../fusion/fuse.js';
import { emitGemmKernel } from './gemm.js';
import type { DirectConvPlan, GemmPlan } from '../kernel/ukernel.js';
import { emitDirectConvKernel } from './direct-conv.js';
import type { FlatOp, Sym } from '../flat/program.js';
import { tensorOf, type Kernel, type KernelParam } from '../emit-common/kernel.js';
import { unusedParams } from '../kernel/analysis.js';
import { v } from '../ir/index-expr.js';
import type { KernelIR, Stmt } from '../kernel/ir.js';
import { CRenderer, cVectorUnit } from './c-renderer.js';
import { vectorize } from '../kernel/vectorize.js';

const F32 = floatElem('f32')!;

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
  const params = renderer.kernelParams(ir, inPlace, owner);
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
  if (gemm) {
    const name = `k${index}_${gemm.op.name.replace(/^[a-z]+\./, '')}${fop.group ? '_fused' : ''}`;
    const comment = fop.group ? groupComment(name, fop.group) : kernelComment(name, fop);
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
  if (fop.group?.reduce)
    return renderKernel(
      fusedKernelIR(fop, index, env),
      fop.group.reduce.op,
      false,
      new CRenderer(),
      threads,
      undefined,
    );
  // A lone f32 elementwise op on a SIMD target runs as a group of one, for the vector loop.
  const group =
    fop.group ?? (lanes && isElementwiseName(fop.op.name) && fop.outs.length === 1 ? singleOpGroup(fop) : undefined);
  if (group) {
    const kernel = renderKernel(
      fusedKernelIR({ ...fop, group }, index, env, !fop.group),
      fop.op,
      inPlace,
      new CRenderer(lanes),
      threads,
      lanes,
    );
    if (fop.group || kernel.usesSimd) return kernel;
  }
  return renderKernel(
    opKernelIR(fop, index, inPlace, 'C backend'),
    fop.op,
    inPlace,
    new CRenderer(lanes),
    threads,
    lanes,
  );
}
