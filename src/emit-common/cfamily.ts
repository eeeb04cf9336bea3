/**
 * @fileoverview What C and CUDA C++ spell alike: element types (ctypes.ts: f16/bf16 stored as
 * bit patterns, computed in float), scalar ops (scalar.ts and mixed.ts's spellings, the same the
 * fused loops use, so fusing never changes a value), scalar regions (region.ts), runtime-lite's
 * random draw. The C renderer (emit-c) and the CUDA renderer (emit-cuda) add their kernel
 * declarations, pointer qualifiers and vectors (TVM's CodeGenCUDA over CodeGenC, likewise).
 */
import type { Op, Region } from '../ir/core.js';
import { tensorType, type ElemType } from '../ir/types.js';
import type { Val } from '../kernel/ir.js';
import { getElem, type Tensor } from '../ir/tensor.js';
import type { CodeWriter } from './code-writer.js';
import { CStyleRenderer } from './cstyle.js';
import { cElem, storageLiteral, type CElem } from './ctypes.js';
import { compareCode, convertCode, selectCode } from './mixed.js';
import { emitScalarRegion } from './region.js';
import { scalarCode } from './scalar.js';
import { unsupportedOp } from './kernel.js';

export abstract class CFamilyRenderer extends CStyleRenderer {
  /** Region-body locals are numbered per kernel (deterministic names). */
  private names = { next: 0 };
  /** What real-float accumulators (`wide` locals) compute in (Target.floatAccumulator). */
  protected floatAccumulator: 'f64' | 'f32' = 'f64';
  protected c(elem: ElemType, owner: Op): CElem {
    return cElem(tensorType([], elem), owner.name, owner.loc);
  }

  override render(...args: Parameters<CStyleRenderer['render']>): string {
    this.names = { next: 0 };
    return super.render(...args);
  }

  protected storageType(elem: ElemType, owner: Op): string {
    return this.c(elem, owner).storage;
  }

  /** Accumulators: double for real floats (the interpreter sums in f64 and rounds once; float
   * where the target accumulates in f32), double rl_c128_t (double _Complex) for complex, the
   * type itself otherwise. */
  protected localType(elem: ElemType, wide: boolean, owner: Op): string {
    const c = this.c(elem, owner);
    if (wide && c.cls === 'complex') return 'rl_c128_t';
    if (wide && c.cls === 'float') return this.floatAccumulator === 'f32' ? 'float' : 'double';
    if (wide && c.cls === 'double') return 'double';
    return c.compute;
  }

  protected load(elem: ElemType, expr: string, owner: Op): string {
    return this.c(elem, owner).load(expr);
  }

  protected store(elem: ElemType, value: string, owner: Op): string {
    return this.c(elem, owner).store(value);
  }

  protected elemBytes(elem: ElemType, owner: Op): number {
    return this.c(elem, owner).bytes;
  }

  protected indexValue(elem: ElemType, index: string, owner: Op): string {
    return `(${this.c(elem, owner).compute})${index}`;
  }

  protected splatLiteral(elem: ElemType, value: Tensor, owner: Op): string {
    const c = this.c(elem, owner);
    return c.load(storageLiteral(c, value, 0));
  }

  protected uniform01(key: number, index: string, pair: number): string {
    return `rl_uniform01(${key}u, (uint64_t)(${index}), ${pair}u)`;
  }

  protected copy(dst: string, src: string, bytes: number): string {
    return `memcpy(${dst}, ${src}, ${bytes});`;
  }

  protected region(w: CodeWriter, region: Region | undefined, args: readonly string[], owner: Op): string[] {
    return emitScalarRegion(w, region, args, owner, this.names);
  }

  protected scalarOp(x: Extract<Val, { k: 'op' }>, a: readonly string[]): string {
    const c = this.c(x.elem, x.owner);
    switch (x.name) {
      case 'compare':
        return compareCode(x.owner, a[0]!, a[1]!, c);
      case 'convert':
        return convertCode(x.owner, a[0]!, c, this.c(x.result, x.owner));
      case 'select':
        return selectCode(a[0]!, a[1]!, a[2]!);
      case 'as_stored':
        // Rounded to the element type through its storage (every fused member, as an unfused
        // kernel's store would).
        return c.load(c.store(a[0]!));
      case 'round':
        // To the element type's precision (f16/bf16 compute in float), as each step of a
        // reduction is in the spec's tensor<E> body.
        return c.storage === c.compute ? a[0]! : c.load(c.store(a[0]!));
      case 'mac':
        return multiplyAccumulate(c, a[0]!, a[1]!, a[2]!, this.floatAccumulator);
      case 'clamp': {
        // An i32 clamped to a signed width's range (a requantization's last step): rl_ssat, one
        // SSAT on Arm cores that have it.
        const bits = x.elem.kind === 'int' && x.elem.signed && x.elem.bits === 32 ? signedRange(x.args) : undefined;
        return bits ? `rl_ssat_int32(${a[1]}, ${bits})` : scalarCode(x.name, a, c, x.owner);
      }
      case 'reduce_precision':
        return `rl_reduce_precision((double)${a[0]}, ${a[1]}, ${a[2]})`;
      case 'real':
      case 'imag':
        return `c${x.name}(${a[0]})`;
      case 'complex':
        return `${this.c(x.result, x.owner).part === 'float' ? 'rl_cmplxf' : 'rl_cmplx'}(${a[0]}, ${a[1]})`;
      case 'requantize':
        return a[0]!;
      case 'conj':
        return `conj${c.part === 'float' ? 'f' : ''}(${a[0]})`;
      case 'total_greater':
        return totalGreater(c, a[0]!, a[1]!);
      default:
        if (x.name.includes('.')) unsupportedOp(x.owner, `scalar op ${x.name}`);
        return scalarCode(x.name, a, c, x.owner);
    }
  }
}

/** a > b with NaN above every number (top_k's order); floats compare by their total-order key,
 * so -0 < +0. Arguments are simple loads: each appears more than once. */
function totalGreater(c: CElem, a: string, b: string): string {
  if (c.cls !== 'float' && c.cls !== 'double') return `(${a} > ${b})`;
  const key = c.cls === 'double' ? 'rl_total_key_f64' : 'rl_total_key_f32';
  return `((${a} != ${a}) ? !(${b} != ${b}) : (!(${b} != ${b}) && ${key}(${a}) > ${key}(${b})))`;
}

/** b where clamp bounds `args[0]` and `args[2]` are literal -2^(b-1) and 2^(b-1) - 1 (1 < b < 32). */
function signedRange(args: readonly Val[]): number | undefined {
  const literal = (v: Val | undefined): number | undefined =>
    v?.k === 'const' ? v.value : v?.k === 'splat' ? Number(getElem(v.value, 0)) : undefined;
  const [lo, hi] = [literal(args[0]), literal(args[2])];
  if (lo === undefined || hi === undefined || lo >= 0 || hi !== -lo - 1) return undefined;
  const bits = Math.log2(hi + 1) + 1;
  return Number.isInteger(bits) && bits > 1 && bits < 32 ? bits : undefined;
}

/** acc + a * b in the accumulator's type (contractions): wrap-around ints, double for floats, or
 * runtime-lite's f32 multiply-add (fused where the FPU has one) on targets accumulating in f32. */
function multiplyAccumulate(c: CElem, acc: string, a: string, b: string, floatAccumulator: 'f64' | 'f32'): string {
  if (c.cls === 'int') return `rl_add_${c.intSuffix}(${acc}, rl_mul_${c.intSuffix}(${a}, ${b}))`;
  if (c.cls === 'bool') return `(uint8_t)(${acc} | (${a} & ${b}))`;
  if (c.cls === 'complex') return `${acc} + (rl_c128_t)${a} * (rl_c128_t)${b}`;
  if (c.cls === 'float' && floatAccumulator === 'f32') return `rl_fmaf((float)${a}, (float)${b}, ${acc})`;
  return `${acc} + (double)${a} * (double)${b}`;
}
