/**
 * @fileoverview The quantize phase's integer add (quantized.ts calls it): an add of two
 * per-tensor quantized values (a residual connection's) with a per-tensor quantized result runs
 * on the stored integers, as TFLite's and CMSIS-NN's kernels do, instead of dequantized in f32.
 * With a, b the stored integers, za, zb, zr the zero points and sa, sb, sr the scales:
 *   T = 2 max(sa, sb); each operand (x - zx) * 2^L (L = 20 for 8-bit storage, 12 for 16-bit:
 *   every product below fits i64) times its multiplier sx / T in fixed point, rounded half up;
 *   the two summed; the sum times T / (2^L sr), rounded half up, plus zr, clamped to the storage.
 * The spec's add dequantizes, adds in f32 and quantizes rounding half to even: the integer form
 * rounds each operand's term at 2^-L of a quantum and the sum half up, so a result may differ from
 * the interpreter's by one quantum where the exact sum is within that of a tie (or is one).
 */
import type { Op, Value } from '../ir/core.js';
import { tensorType, type QuantElem } from '../ir/types.js';
import { Builder, fixedPoint, I64, quantOf, tensorOf } from './quant-builder.js';

/** Whether `op` is an add of per-tensor quantized operands to a per-tensor quantized result
 * (integer storage of at most 16 bits, expressed in f32). */
export function isQuantizedAdd(op: Op): boolean {
  if (op.name !== 'stablehlo.add' || op.operands.length !== 2 || op.results.length !== 1) return false;
  return [...op.operands, op.results[0]!].every((v) => {
    const q = quantOf(v);
    return (
      !!q && q.axis === undefined && q.storage.kind === 'int' && q.storage.bits <= 16 && q.expressed.name === 'f32'
    );
  });
}

export function lowerQuantizedAdd(op: Op, operands: readonly Value[]): { ops: Op[]; result: Value } {
  const b = new Builder(op.loc);
  const out = tensorOf(op.results[0]!);
  const shape = out.shape;
  const [qa, qb, qr] = [...op.operands, op.results[0]!].map((v) => quantOf(v)!) as [QuantElem, QuantElem, QuantElem];
  const scale = (q: QuantElem): number => Math.fround(q.scales[0]!);
  const zero = (q: QuantElem): number => q.zeroPoints[0] ?? 0;
  const left = Math.max(qa.storage.bits, qb.storage.bits) <= 8 ? 20 : 12;
  const twiceMax = 2 * Math.max(scale(qa), scale(qb));
  const i64 = (x: number | bigint): Value => b.along(shape, I64, [BigInt(x)], 0);
  /** floor(x * M0 / 2^n + 1/2) for multiplier = M0 * 2^-n. */
  const times = (x: Value, multiplier: number): Value => {
    const { m0, n } = fixedPoint(multiplier, op.loc);
    const p = b.binary('multiply', x, i64(m0));
    return b.binary('shift_right_arithmetic', b.binary('add', p, i64(1n << BigInt(n - 1))), i64(n));
  };
  const term = (x: Value, q: QuantElem): Value => {
    const centered = b.binary('subtract', b.convert(b.storage(x), I64), i64(zero(q)));
    return times(b.binary('multiply', centered, i64(1n << BigInt(left))), scale(q) / twiceMax);
  };
  const sum = b.binary('add', term(operands[0]!, qa), term(operands[1]!, qb));
  const shifted = b.binary('add', times(sum, twiceMax / (2 ** left * scale(qr))), i64(zero(qr)));
  const bound = (x: bigint): Value => b.along([], I64, [x], 0);
  const clamped = b.one('stablehlo.clamp', [bound(qr.storageMin), shifted, bound(qr.storageMax)], tensorOf(shifted));
  const stored = b.convert(clamped, qr.storage);
  return { ops: b.ops, result: b.one('stablehlo.bitcast_convert', [stored], tensorType(shape, out.elem)) };
}
