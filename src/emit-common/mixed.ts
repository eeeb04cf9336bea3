/**
 * @fileoverview Per-element C of the elementwise ops whose result type differs from their
 * operands' (convert, compare, select), shared by their stand-alone kernels (kernels.ts) and by
 * fused loops (fused.ts), so fusing them cannot change a value. Operands arrive loaded (in their
 * compute type); the expression is in the result's compute type, stored by the caller.
 */
import { attrsOf } from '../ops/index.js';
import type { CElem } from './ctypes.js';
import type { Op } from '../ir/core.js';
import { unsupportedOp } from './kernel.js';

export const MIXED_OPS = new Set(['stablehlo.convert', 'stablehlo.compare', 'stablehlo.select']);

const CMP: Readonly<Record<string, string>> = { EQ: '==', NE: '!=', LT: '<', LE: '<=', GT: '>', GE: '>=' };

export function convertCode(op: Op, src: string, from: CElem, to: CElem): string {
  const re = from.cls === 'complex' ? `creal(${src})` : src; // complex -> real keeps the real part
  if (to.cls === 'bool') return `(${re} != 0)`;
  if (to.cls === 'int' && from.cls === 'complex') return `rl_f2i_${to.intSuffix}((double)${re})`;
  if (to.cls !== 'complex' && from.cls === 'complex') return `(${to.compute})${re}`;
  if (to.cls === 'int' && (from.cls === 'float' || from.cls === 'double')) {
    if (to.subByte) unsupportedOp(op, `float to ${to.name} conversion`);
    return `rl_f2i_${to.intSuffix}((double)${src})`;
  }
  return `(${to.compute})${src}`;
}

/** `a OP b` as 0/1; UNSIGNED comparison of signed storage compares the bit patterns unsigned.
 * Unsigned and boolean comparisons call rl.h's rl_ucmp_* (see there why). */
export function compareCode(op: Op, a: string, b: string, from: CElem): string {
  const attrs = attrsOf('stablehlo.compare', op);
  if (attrs.type === 'TOTALORDER') unsupportedOp(op, 'TOTALORDER comparison');
  const unsignedBits = attrs.type === 'UNSIGNED' && from.signed;
  if (unsignedBits || from.cls === 'bool' || (from.cls === 'int' && !from.signed)) {
    const widen = (e: string): string => (unsignedBits ? `(uint64_t)(u${from.storage})${e}` : `(uint64_t)${e}`);
    return `(uint8_t)rl_ucmp_${attrs.direction.toLowerCase()}(${widen(a)}, ${widen(b)})`;
  }
  return `(uint8_t)(${a} ${CMP[attrs.direction]} ${b})`;
}

export const selectCode = (p: string, a: string, b: string): string => `(${p} ? ${a} : ${b})`;
