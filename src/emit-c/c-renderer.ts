/**
 * @fileoverview The C renderer of the kernel IR: the C-family hooks (emit-common/cfamily.ts) plus
 * what is C and CPU: RL_KERNEL functions, `restrict`, and rl_simd.h's vectors for the vector
 * nodes kernel/vectorize.ts makes: f32 lanes (rl_vf) on every SIMD target, integers in i32 lanes
 * (rl_vn) where rl_simd.h has them (Helium); cVectorUnit / cIntVectorUnit say which ops it has.
 */
import { floatElem, intElem, type ElemType } from '../ir/types.js';
import { elemBitWidth, getElem } from '../ir/tensor.js';
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

/** rl_simd.h spellings of i32 element ops on rl_vn (integers in i32 lanes). */
const INT_VECTOR_OPS: Readonly<Record<string, (a: readonly string[]) => string>> = {
  add: (a) => `rl_vn_add(${a[0]}, ${a[1]})`,
  subtract: (a) => `rl_vn_sub(${a[0]}, ${a[1]})`,
  multiply: (a) => `rl_vn_mul(${a[0]}, ${a[1]})`,
  // acc + a * b (a depthwise convolution's tap: 8- or 16-bit operands widened by their loads).
  mac: (a) => `rl_vn_add(${a[0]}, rl_vn_mul(${a[1]}, ${a[2]}))`,
  mulhi: (a) => `rl_vn_mulhi(${a[0]}, ${a[1]})`,
  maximum: (a) => `rl_vn_max(${a[0]}, ${a[1]})`,
  minimum: (a) => `rl_vn_min(${a[0]}, ${a[1]})`,
  clamp: (a) => `rl_vn_min(rl_vn_max(${a[1]}, ${a[0]}), ${a[2]})`,
};

/** rl_simd.h spellings of the ops on rl_vp (two i32 accumulators; DSP cores). */
const PAIR_VECTOR_OPS: Readonly<Record<string, (a: readonly string[]) => string>> = {
  mac: (a) => `rl_vp_mac(${a[0]}, ${a[1]}, ${a[2]})`,
};

/** rl_simd.h spellings of int8 order ops on rl_vb (four int8 in a word). */
const BYTE_VECTOR_OPS: Readonly<Record<string, (a: readonly string[]) => string>> = {
  maximum: (a) => `rl_vb_max(${a[0]}, ${a[1]})`,
  minimum: (a) => `rl_vb_min(${a[0]}, ${a[1]})`,
};

const isF32 = (e: ElemType): boolean => e.kind === 'float' && e.name === 'f32';
const I32 = intElem(32, true);
/** The 8- and 16-bit integers rl_vn's i32 lanes hold exactly (sign- or zero-extended). */
const isNarrowInt = (e: ElemType): boolean => e.kind === 'int' && (e.bits === 8 || e.bits === 16);
/** rl_vn's suffix for the integers of `e` (s8, u8, s16, u16, s32). */
const intSuffix = (e: ElemType): string => `${e.kind === 'int' && !e.signed ? 'u' : 's'}${elemBitWidth(e)}`;

/** What rl_simd.h vectors hold on a target with `lanes` f32 lanes (kernel/vectorize.ts). */
export function cVectorUnit(lanes: number | undefined): VectorUnit | undefined {
  return lanes ? { elem: floatElem('f32')!, lanes, ops: new Set(Object.keys(VECTOR_OPS)) } : undefined;
}

/** rl_simd.h's integer vectors (rl_vn, `lanes` i32 lanes; Helium): i32 arithmetic, and 8- and
 * 16-bit integers held in the lanes, compared and converted there (a requantization's loop). */
export function cIntVectorUnit(lanes: number | undefined): VectorUnit | undefined {
  if (!lanes) return undefined;
  const narrow = { holds: isNarrowInt, ops: new Set(['maximum', 'minimum', 'clamp', 'convert']) };
  return { elem: I32, lanes, ops: new Set(Object.keys(INT_VECTOR_OPS)), narrow };
}

/** rl_simd.h's byte vectors (rl_vb: four int8 in a general register, Arm's SIMD32 instructions
 * of the DSP extension): int8 maximum and minimum (an int8 pooling's loop). */
export const cByteVectorUnit = (): VectorUnit => ({
  elem: intElem(8, true),
  lanes: 4,
  ops: new Set(Object.keys(BYTE_VECTOR_OPS)),
});

const isI16 = (e: ElemType): boolean => e.kind === 'int' && e.signed && e.bits === 16;

/** rl_simd.h's pairs on DSP cores (rl_vp: two i32 accumulators; rl_vh: two i16 in a word, one
 * load): acc + x * w of i16 operands read as stored (a depthwise convolution's channel pairs,
 * SMLABB and SMLATT). */
export const cPairVectorUnit = (): VectorUnit => ({
  elem: I32,
  lanes: 2,
  ops: new Set(Object.keys(PAIR_VECTOR_OPS)),
  narrow: { holds: isI16, ops: new Set() },
  takes: (x) => x.name !== 'mac' || x.args.slice(1).every((a) => a.k === 'load' && isI16(a.buf.elem)),
});

/** Which integer vectors of rl_simd.h a target has: integers in i32 lanes (Helium), or four int8
 * in a word and i16 / i32 pairs (the DSP extension's SIMD32, rl_vb, rl_vh, rl_vp). */
export type IntVectors = 'rl_vn' | 'rl_vb';

type Spell = (a: readonly string[]) => string;

/** How each rl_simd.h vector family spells its loads, stores (of `e`, at pointer `p`), splats and
 * element ops: rl_vn loads widen and stores narrow by the element type. */
const FAMILIES: Readonly<
  Record<
    RlVector,
    {
      readonly ops: Readonly<Record<string, Spell>>;
      readonly load: (e: ElemType, p: string) => string;
      readonly store: (e: ElemType, p: string, v: string) => string;
      readonly splat: (x: string) => string;
    }
  >
> = {
  rl_vf: {
    ops: VECTOR_OPS,
    load: (_e, p) => `rl_vf_load(${p})`,
    store: (_e, p, v) => `rl_vf_store(${p}, ${v})`,
    splat: (x) => `rl_vf_splat(${x})`,
  },
  rl_vn: {
    ops: INT_VECTOR_OPS,
    load: (e, p) => `rl_vn_load_${intSuffix(e)}(${p})`,
    store: (e, p, v) => `rl_vn_store_${intSuffix(e)}(${p}, ${v})`,
    splat: (x) => `rl_vn_splat((int32_t)(${x}))`,
  },
  rl_vb: {
    ops: BYTE_VECTOR_OPS,
    load: (_e, p) => `rl_vb_load(${p})`,
    store: (_e, p, v) => `rl_vb_store(${p}, ${v})`,
    splat: (x) => `rl_vb_splat((int8_t)(${x}))`,
  },
  // Only loaded: operands of rl_vp_mac.
  rl_vh: {
    ops: {},
    load: (_e, p) => `rl_vh_load_s16(${p})`,
    store: () => {
      throw new Error('rl_vh values are only loaded');
    },
    splat: () => {
      throw new Error('rl_vh values are only loaded');
    },
  },
  rl_vp: {
    ops: PAIR_VECTOR_OPS,
    load: (_e, p) => `rl_vp_load_s32(${p})`,
    store: (_e, p, v) => `rl_vp_store_s32(${p}, ${v})`,
    splat: (x) => `rl_vp_splat((int32_t)(${x}))`,
  },
};

/** The vector types of rl_simd.h. */
type RlVector = 'rl_vf' | 'rl_vn' | 'rl_vb' | 'rl_vh' | 'rl_vp';

export class CRenderer extends CFamilyRenderer {
  protected readonly kernelPrefix = 'RL_KERNEL void';
  protected readonly restrict = 'restrict';
  /** Set when a loop was written in rl_simd.h vectors. */
  usedSimd = false;

  /** `lanes`: f32 lanes of the target's rl_simd.h vectors (undefined: no vectors);
   * `floatAccumulator`: the target's (Target.floatAccumulator); `intVectors`: its integer
   * vectors (rl_vn: as many i32 lanes as f32 ones). */
  constructor(
    private readonly lanes?: number,
    floatAccumulator: 'f64' | 'f32' = 'f64',
    private readonly intVectors?: IntVectors,
  ) {
    super();
    this.floatAccumulator = floatAccumulator;
  }

  /** The vector units loops may run on (kernel/vectorize.ts), f32 first. */
  get vectorUnits(): VectorUnit[] {
    const int =
      this.intVectors === 'rl_vn'
        ? cIntVectorUnit(this.lanes)
        : this.intVectors === 'rl_vb'
          ? cByteVectorUnit()
          : undefined;
    const pairs = this.intVectors === 'rl_vb' ? cPairVectorUnit() : undefined;
    return [cVectorUnit(this.lanes), int, pairs].filter((u) => u !== undefined);
  }

  protected vectorType(t: VecType): string {
    return this.rlVector(t);
  }

  protected vectorLoad(t: VecType, buf: string, at: string): string {
    return FAMILIES[this.rlVector(t)].load(t.elem, `${buf} + ${at}`);
  }

  protected vectorStore(t: VecType, buf: string, at: string, value: string): string {
    return `${FAMILIES[this.rlVector(t)].store(t.elem, `${buf} + ${at}`, value)};`;
  }

  protected broadcast(t: VecType, x: string): string {
    return FAMILIES[this.rlVector(t)].splat(x);
  }

  protected vectorOp(x: Extract<Val, { k: 'vop' }>, args: readonly string[]): string {
    const v = this.rlVector(x.type);
    // A convert wraps the lanes to its result type (held exactly after it); to i32 it is a no-op,
    // the lanes holding every value it converts exactly.
    if (v === 'rl_vn' && x.name === 'convert')
      return x.type.elem.name === 'i32' ? args[0]! : `rl_vn_wrap_${intSuffix(x.type.elem)}(${args[0]})`;
    // max(x, +0), a ReLU: rl_vf_relu (on Helium a compare and a select, not the general
    // maximum's NaN settling).
    const zero = x.args.findIndex(isPositiveZero);
    if (v === 'rl_vf' && x.name === 'maximum' && zero >= 0) return `rl_vf_relu(${args[1 - zero]})`;
    const spell = FAMILIES[v].ops[x.name];
    if (!spell) unsupportedOp(x.owner, `vector op ${x.name}`);
    return spell(args);
  }

  /** rl_simd.h's vector type: f32 vectors of the target's lanes (rl_vf), integers in as many i32
   * lanes (rl_vn), or on DSP cores four int8 in a word (rl_vb), two i16 (rl_vh), two i32 (rl_vp). */
  private rlVector(t: VecType): RlVector {
    const dsp = this.intVectors === 'rl_vb';
    const v =
      isF32(t.elem) && t.lanes === this.lanes
        ? 'rl_vf'
        : this.intVectors === 'rl_vn' && (isNarrowInt(t.elem) || t.elem.name === 'i32') && t.lanes === this.lanes
          ? 'rl_vn'
          : dsp && t.elem.name === 'i8' && t.lanes === 4
            ? 'rl_vb'
            : dsp && isI16(t.elem) && t.lanes === 2
              ? 'rl_vh'
              : dsp && t.elem.name === 'i32' && t.lanes === 2
                ? 'rl_vp'
                : undefined;
    if (!v) throw new Error(`rl_simd.h has no vector of ${t.lanes} x ${t.elem.name}`);
    this.usedSimd = true;
    return v;
  }
}

/** A vector of +0.0 (a broadcast splat or constant; not -0.0, which maximum orders below +0). */
function isPositiveZero(x: Val): boolean {
  const inner = x.k === 'broadcast' ? x.value : x;
  if (inner.k === 'const') return Object.is(inner.value, 0);
  return inner.k === 'splat' && Object.is(Number(getElem(inner.value, 0)), 0);
}
