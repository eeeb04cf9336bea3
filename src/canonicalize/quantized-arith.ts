/**
 * @fileoverview The quantize phase's integer add and multiply (quantized.ts calls them): on
 * per-tensor quantized operands with a per-tensor quantized result (a residual connection's add,
 * a gating multiply) they run on the stored integers, as TFLite's and CMSIS-NN's kernels do,
 * instead of dequantized in f32. With a, b the stored integers, za, zb, zr the zero points and
 * sa, sb, sr the scales, every product in i64 and each "times m" a fixed-point multiplier
 * rounded half up:
 *   add: T = 2 max(sa, sb); each operand (x - zx) * 2^L (L = 20 for 8-bit storage, 12 for
 *   16-bit: every product fits i64) times sx / T; the two summed; the sum times T / (2^L sr).
 *   multiply: (a - za) * (b - zb) times sa sb / sr.
 * Then plus zr, clamped to the storage. The spec dequantizes, computes in f32 and quantizes
 * rounding half to even: the integer forms round half up (the add each term at 2^-L of a quantum
 * too), so a result may differ from the interpreter's by one quantum where the exact value is
 * within that of a tie (or is one). An op whose multipliers the fixed-point form cannot hold
 * stays in f32.
 */
import type { Op, Value } from '../ir/core.js';
import type { QuantElem } from '../ir/types.js';
import { Builder, I64, plainQuant, quantOf, tensorOf } from './quant-builder.js';

const scale = (q: QuantElem): number => Math.fround(q.scales[0]!);
const zero = (q: QuantElem): number => q.zeroPoints[0] ?? 0;
/** A multiplier the fixed-point form holds (fixedPoint: positive, at most 2^30). */
const representable = (m: number): boolean => Number.isFinite(m) && m > 0 && m <= 2 ** 30;
/** The add's left shift: every product below fits i64. */
const shiftOf = (qa: QuantElem, qb: QuantElem): number => (Math.max(qa.storage.bits, qb.storage.bits) <= 8 ? 20 : 12);

/** The quantizations of a binary op's per-tensor quantized operands and result (integer storage
 * of at most 16 bits, expressed in f32), if it has them. */
function quantizations(op: Op): [QuantElem, QuantElem, QuantElem] | undefined {
  if (op.operands.length !== 2 || op.results.length !== 1) return undefined;
  const qs = [...op.operands, op.results[0]!].map(quantOf);
  return qs.every(plainQuant) ? (qs as [QuantElem, QuantElem, QuantElem]) : undefined;
}

/** The fixed-point multipliers of an add (each operand's, then the sum's) or a multiply (the
 * product's), in the order lowerQuantizedArithmetic applies them. */
function multipliers(op: Op, [qa, qb, qr]: readonly QuantElem[]): number[] {
  if (op.name === 'stablehlo.multiply') return [(scale(qa!) * scale(qb!)) / scale(qr!)];
  const twiceMax = 2 * Math.max(scale(qa!), scale(qb!));
  return [scale(qa!) / twiceMax, scale(qb!) / twiceMax, twiceMax / (2 ** shiftOf(qa!, qb!) * scale(qr!))];
}

/** Whether `op` is an add or multiply the integer forms take. */
export function isQuantizedArithmetic(op: Op): boolean {
  if (op.name !== 'stablehlo.add' && op.name !== 'stablehlo.multiply') return false;
  const q = quantizations(op);
  return !!q && multipliers(op, q).every(representable);
}

export function lowerQuantizedArithmetic(op: Op, operands: readonly Value[]): { ops: Op[]; result: Value } {
  const b = new Builder(op.loc);
  const out = tensorOf(op.results[0]!);
  const shape = out.shape;
  const [qa, qb, qr] = quantizations(op)!;
  const m = multipliers(op, [qa, qb, qr]);
  const i64 = (x: number | bigint): Value => b.along(shape, I64, [BigInt(x)], 0);
  const centered = (x: Value, q: QuantElem): Value => b.binary('subtract', b.convert(b.storage(x), I64), i64(zero(q)));
  let scaled: Value;
  if (op.name === 'stablehlo.multiply') {
    scaled = b.timesFixedPoint(b.binary('multiply', centered(operands[0]!, qa), centered(operands[1]!, qb)), m[0]!);
  } else {
    const shifted = (x: Value, q: QuantElem): Value =>
      b.binary('multiply', centered(x, q), i64(1n << BigInt(shiftOf(qa, qb))));
    const sum = b.binary(
      'add',
      b.timesFixedPoint(shifted(operands[0]!, qa), m[0]!),
      b.timesFixedPoint(shifted(operands[1]!, qb), m[1]!),
    );
    scaled = b.timesFixedPoint(sum, m[2]!);
  }
  return { ops: b.ops, result: b.requantized(scaled, qr, out) };
}
