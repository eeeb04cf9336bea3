/**
 * @fileoverview The C renderer of the kernel IR: the C-family hooks (emit-common/cfamily.ts) plus
 * what is C and CPU: RL_KERNEL functions, `restrict`, and rl_simd.h's f32 vectors for the vector
 * nodes kernel/vectorize.ts makes (cVectorUnit says which ops rl_simd.h has).
 */
import { floatElem, type ElemType } from '../ir/types.js';
import type { Val, VecType } from '../kernel/ir.js';
import type { VectorUnit } from '../kernel/vectorize.js';
import { unsupportedOp } from '../emit-common/kernel.js';
import { CFamilyRenderer } from '../emit-common/cfamily.js';

/** rl_simd.h spellings of f32 element ops (op-table names). */
const VECTOR_OPS: Readonly<Record<string, (a: readonly string[]) => string>> = {
  add: (a) => `rl_vf_add(${a[0]}, ${a[1]})`,
  subtract: (a) => `rl_vf_sub(${a[0]}, ${a[1]})`,
  multiply: (a) => `rl_vf_mul(${a[0]}, ${a[1]})`,
  divide: (a) => `rl_vf_div(${a[0]}, ${a[1]})`,
  maximum: (a) => `rl_vf_max(${a[0]}, ${a[1]})`,
  minimum: (a) => `rl_vf_min(${a[0]}, ${a[1]})`,
  negate: (a) => `rl_vf_neg(${a[0]})`,
  abs: (a) => `rl_vf_abs(${a[0]})`,
  sqrt: (a) => `rl_vf_sqrt(${a[0]})`,
  exponential: (a) => `rl_vf_exp(${a[0]})`,
  logistic: (a) => `rl_vf_logistic(${a[0]})`,
  tanh: (a) => `rl_vf_tanh(${a[0]})`,
  erf: (a) => `rl_vf_erf(${a[0]})`,
  clamp: (a) => `rl_vf_min(rl_vf_max(${a[1]}, ${a[0]}), ${a[2]})`,
};

const isF32 = (e: ElemType): boolean => e.kind === 'float' && e.name === 'f32';

/** What rl_simd.h vectors hold on a target with `lanes` f32 lanes (kernel/vectorize.ts). */
export function cVectorUnit(lanes: number | undefined): VectorUnit | undefined {
  return lanes ? { elem: floatElem('f32')!, lanes, ops: new Set(Object.keys(VECTOR_OPS)) } : undefined;
}

export class CRenderer extends CFamilyRenderer {
  protected readonly kernelPrefix = 'RL_KERNEL void';
  protected readonly restrict = 'restrict';
  /** Set when a loop was written in rl_simd.h vectors. */
  usedSimd = false;

  /** `lanes`: f32 lanes of the target's rl_simd.h vectors (undefined: no vectors);
   * `floatAccumulator`: the target's (Target.floatAccumulator). */
  constructor(
    private readonly lanes?: number,
    floatAccumulator: 'f64' | 'f32' = 'f64',
  ) {
    super();
    this.floatAccumulator = floatAccumulator;
  }

  protected vectorType(t: VecType): string {
    return this.rlVector(t);
  }

  protected vectorLoad(t: VecType, buf: string, at: string): string {
    this.rlVector(t);
    return `rl_vf_load(${buf} + ${at})`;
  }

  protected vectorStore(t: VecType, buf: string, at: string, value: string): string {
    this.rlVector(t);
    return `rl_vf_store(${buf} + ${at}, ${value});`;
  }

  protected broadcast(t: VecType, x: string): string {
    this.rlVector(t);
    return `rl_vf_splat(${x})`;
  }

  protected vectorOp(x: Extract<Val, { k: 'vop' }>, args: readonly string[]): string {
    this.rlVector(x.type);
    const spell = VECTOR_OPS[x.name];
    if (!spell) unsupportedOp(x.owner, `vector op ${x.name}`);
    return spell(args);
  }

  /** rl_simd.h's vector type: f32 vectors of the target's lanes only (C_VECTORS.lanes). */
  private rlVector(t: VecType): string {
    if (!isF32(t.elem) || t.lanes !== this.lanes)
      throw new Error(`rl_simd.h has no vector of ${t.lanes} x ${t.elem.name}`);
    this.usedSimd = true;
    return 'rl_vf';
  }
}
