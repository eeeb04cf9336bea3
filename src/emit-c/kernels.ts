/**
 * @fileoverview Turns one (inlined) op or fusion group into one C kernel: a `RL_KERNEL void`
 * function over restrict-qualified buffers, printed by the C renderer from the kernel IR the op's
 * lowering (kernel/) or fusion builds; f32 dots and convolutions on SIMD targets take the packed
 * GEMM and direct-convolution paths (gemm.ts, direct-conv.ts). Kernels that are one parallel loop
 * over enough work run its rows on the thread pool (--threads).
 * Each kernel carries a comment naming the op and its source location.
 */
import { floatElem, tensorType } from '../ir/types.js';
import { cElem } from '../emit-common/ctypes.js';
import { fusedKernelIR, isElementwiseName, opKernelIR, ukernelIR } from '../emit-common/lowering.js';
import { type FusedEnv } from '../kernel/fused.js';
import type { Op } from '../ir/core.js';
import { emitRowsKernel, PARALLEL_MIN_ELEMENTS } from './rows.js';
import { singleOpGroup } from '../fusion/fuse.js';
import { emitGemmKernel } from './gemm.js';
import type { DirectConvPlan, GemmPlan, IntGemmPlan, WinogradPlan } from '../kernel/ukernel.js';
import { emitWinogradKernel } from './winograd.js';
import { emitDirectConvKernel } from './direct-conv.js';
import { emitIntGemmKernel, packedIntWeightElem } from './int-gemm.js';
import type { FlatOp } from '../flat/program.js';
import { type Kernel, type KernelParam } from '../emit-common/kernel.js';
import { unusedParams } from '../kernel/analysis.js';
import { v } from '../ir/index-expr.js';
import type { KernelIR, Stmt } from '../kernel/ir.js';
import { CRenderer, type IntVectors } from './c-renderer.js';
import { vectorize } from '../kernel/vectorize.js';

const F32 = floatElem('f32')!;

const POOL_PARAM: KernelParam = { name: 'pool', cType: 'rl_pool_t*', output: false };

/** The C of kernel `ir` (`owner`: the op its errors point at): one function, or, with a pool
 * (--threads) and a body that is one parallel loop over enough work, that loop's rows split
 * across the pool (rows.ts). `inPlace`: an output may alias an input (no `restrict`). */
function renderKernel(scalarIR: KernelIR, owner: Op, inPlace: boolean, renderer: CRenderer, threads: number): Kernel {
  const ir = { ...scalarIR, body: vectorize(scalarIR.body, renderer.vectorUnits) };
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
  gemm: GemmPlan | DirectConvPlan | IntGemmPlan | WinogradPlan | undefined,
  env: FusedEnv,
  threads = 1,
  lanes?: number,
  floatAccumulator: 'f64' | 'f32' = 'f64',
  intVectors?: IntVectors,
): Kernel {
  if (gemm) {
    // A constant B arrives packed from the weight blob: f32 panels, or 16-bit pairs in 32-bit words.
    const bElem =
      gemm.kind === 'int-gemm'
        ? packedIntWeightElem(gemm)
        : (gemm.kind === 'gemm' && gemm.bPrepacked) || gemm.kind === 'winograd'
          ? F32
          : undefined;
    const ir = ukernelIR(fop, index, gemm, bElem);
    const { name, comment } = ir;
    const params: KernelParam[] = [
      ...ir.params.map((p): KernelParam => ({
        name: p.name,
        cType: `${p.output ? '' : 'const '}${cElem(tensorType([], p.elem), fop.op.name, fop.op.loc).storage}* restrict`,
        output: p.output,
      })),
      ...(threads > 1 ? [POOL_PARAM] : []),
    ];
    const epilogue = fop.group ? { fop, env, lanes } : undefined;
    const source =
      gemm.kind === 'gemm'
        ? emitGemmKernel(gemm, name, comment, params, epilogue, threads > 1)
        : gemm.kind === 'int-gemm'
          ? emitIntGemmKernel(gemm, name, comment, params)
          : gemm.kind === 'winograd'
            ? emitWinogradKernel(gemm, name, comment, params, epilogue, threads > 1)
            : emitDirectConvKernel(gemm, name, comment, params, epilogue, threads > 1);
    return { name, comment, params, source, usesSimd: true, ir };
  }
  if (fop.group?.reduce)
    return renderKernel(
      fusedKernelIR(fop, index, env),
      fop.group.reduce.op,
      false,
      new CRenderer(undefined, floatAccumulator),
      threads,
    );
  // A lone elementwise op on a target with vectors runs as a group of one, for the vector loop.
  const group =
    fop.group ??
    ((lanes || intVectors) && isElementwiseName(fop.op.name) && fop.outs.length === 1 ? singleOpGroup(fop) : undefined);
  if (group) {
    const kernel = renderKernel(
      fusedKernelIR({ ...fop, group }, index, env, !fop.group),
      fop.op,
      inPlace,
      new CRenderer(lanes, floatAccumulator, intVectors),
      threads,
    );
    if (fop.group || kernel.usesSimd) return kernel;
  }
  return renderKernel(
    opKernelIR(fop, index, inPlace, 'C backend'),
    fop.op,
    inPlace,
    new CRenderer(lanes, floatAccumulator, intVectors),
    threads,
  );
}
