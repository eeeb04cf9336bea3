/**
 * @fileoverview The C backend's phases after canonicalization (src/pipeline.ts runs them): fusion
 * with the CPU micro-kernels (fuseForC: the packed GEMM and direct convolution on SIMD targets),
 * one C kernel per kernel op (lowerForC); files.ts writes the output files. The program, fusion
 * and arena plan are emit-common/program.ts's.
 */
import type { TensorType } from '../ir/types.js';
import type { MemoryPlan } from '../memory/plan.js';
import type { Sym } from '../flat/program.js';
import type { Kernel } from '../emit-common/kernel.js';
import type { UkernelPlan } from '../kernel/ukernel.js';
import { lowerToKernel } from './kernels.js';
import type { IntVectors } from './c-renderer.js';
import { CProgram, fuseKernels, type FusedProgram } from '../emit-common/program.js';
import { gemmScratchBytes, planGemm, simdMacro } from './gemm.js';
import { planDirectConv } from './direct-conv.js';
import { intGemmScratchBytes, planIntGemm } from './int-gemm.js';
import { planWinograd, winogradScratchBytes } from './winograd.js';

/** Weights at least this large go into the .incbin blob instead of a C array literal. */
export const BLOB_THRESHOLD = 1024;
/**
 * With AVX-512 enabled, GCC 12.2 (Debian bookworm's gcc) miscompiles copies of some constant
 * arrays it can see: 48 bytes of {a,a,a,a,0,0,0,0,...} were stored as a broadcast of a to 32
 * bytes (found by the conformance data: quantized gather, expected-value constant). On AVX-512
 * targets every weight wider than 16 bytes therefore goes to the blob, out of the compiler's sight.
 */
export const AVX512_BLOB_THRESHOLD = 17;

export const CFLAGS = '-O3 -std=c99 -Wall -Wextra -Werror -ffp-contract=off';

/** Fusion phase for C: f32 dots and convolutions on SIMD targets take the packed GEMM path
 * (depthwise and few-channel convolutions the direct one). */
export function fuseForC(c: CProgram): FusedProgram {
  const { prog, target, o } = c;
  if (o.simd === false || !simdMacro(target)) return fuseKernels(c);
  return fuseKernels(c, {
    // Scalar micro-kernels only (no vector loops) on targets without SIMD.
    ...(target.vectorBits ? { lanes: target.vectorBits / 32 } : {}),
    planFor: (f, out) =>
      planDirectConv(f, target) ??
      (o.winograd === false
        ? undefined
        : planWinograd(f, target, (i) => prog.constants.has(f.ins[i]!), out, o.tuning)) ??
      planGemm(f, target, (i) => prog.constants.has(f.ins[i]!), out?.type as TensorType | undefined, o.tuning) ??
      planIntGemm(f, target, (i) => prog.constants.has(f.ins[i]!)),
    scratchBytes,
    // An integer GEMM writes its i32 product: the requantization after it stays a loop of its own.
    takesEpilogue: (p) => p.kind !== 'int-gemm',
  });
}

/** Bytes of arena scratch a micro-kernel's plan needs (packing buffers, transformed blocks). */
function scratchBytes(p: UkernelPlan): number {
  switch (p.kind) {
    case 'gemm':
      return gemmScratchBytes(p);
    case 'int-gemm':
      return intGemmScratchBytes(p);
    case 'winograd':
      return winogradScratchBytes(p);
    default:
      return 0;
  }
}

/** Lower phase: one C kernel per kernel op (an output that overwrites an input loses `restrict`). */
export function lowerForC(f: FusedProgram, plan: MemoryPlan): Kernel[] {
  // A splat read by a fused loop is a literal (CProgram.splatOf decides which constants qualify).
  const env = { splat: (s: Sym) => (f.c.splatOf(s) !== undefined ? f.c.valueOf(s) : undefined) };
  // Integer loops run in rl_simd.h's integer vectors where it has them: a requantization's in
  // Helium's i32 lanes, an int8 pooling's in a word of four (the DSP extension's SIMD32).
  const { target, o } = f.c;
  const intVectors: IntVectors | undefined =
    f.lanes && target.simd === 'helium'
      ? 'rl_vn'
      : target.armDsp && o.simd !== false && simdMacro(target)
        ? 'rl_vb'
        : undefined;
  return f.kernelOps.map((k, i) => {
    const ukernel = f.gemmOf.get(k);
    if (ukernel?.kind === 'gpu-gemm') throw new Error(`${k.op.name}: a GPU GEMM plan reached the C backend`);
    const inPlace = plan.inPlace.has(k) || k.ins.includes(k.outs[0]!);
    return lowerToKernel(k, i, inPlace, ukernel, env, f.c.threads, f.lanes, f.c.target.floatAccumulator, intVectors);
  });
}
