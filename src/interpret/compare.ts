/**
 * @fileoverview Numerical comparison of a backend's outputs with the reference interpreter's.
 * The tolerance policy, per element type, stated in one place:
 *   - integers and booleans: exact;
 *   - f64: |a - b| <= 1e-12 + 1e-9 |b|;
 *   - f32: |a - b| <= 1e-5 + 1e-4 |b| (dots/convs/reductions sum in another order, and libm
 *     transcendentals differ from the interpreter's by a few ULP);
 *   - f16: |a - b| <= 1e-3 + 2e-3 |b|; bf16: |a - b| <= 1e-2 + 1.6e-2 |b| (one ULP of the format
 *     plus the accumulation error carried into the rounding);
 *   - complex: each part by the tolerance of its float type;
 *   - NaN must match NaN, and infinities must match exactly (sign included).
 */
import { storageElem, typeToString } from '../ir/types.js';
import { getElem, size, type Tensor } from './tensor.js';

export interface Tolerance {
  readonly atol: number;
  readonly rtol: number;
}

export const TOLERANCES: Readonly<Record<string, Tolerance>> = {
  f64: { atol: 1e-12, rtol: 1e-9 },
  f32: { atol: 1e-5, rtol: 1e-4 },
  f16: { atol: 1e-3, rtol: 2e-3 },
  bf16: { atol: 1e-2, rtol: 1.6e-2 },
};

export interface Diff {
  readonly ok: boolean;
  readonly mismatches: number;
  readonly maxAbs: number;
  readonly message: string;
}

export function compareTensors(actual: Tensor, expected: Tensor): Diff {
  if (typeToString(actual.type) !== typeToString(expected.type))
    return { ok: false, mismatches: size(expected), maxAbs: Infinity, message: `type ${typeToString(actual.type)} vs ${typeToString(expected.type)}` };
  const e = storageElem(expected.type.elem);
  let maxAbs = 0;
  const floatName = e.kind === 'float' ? e.name : e.kind === 'complex' ? e.part.name : undefined;
  const tol = floatName ? (TOLERANCES[floatName] ?? { atol: 0, rtol: 0 }) : { atol: 0, rtol: 0 };
  const close = (a: number, b: number): boolean => {
    if (Number.isNaN(b) || Number.isNaN(a)) return Number.isNaN(a) && Number.isNaN(b);
    if (!Number.isFinite(b) || !Number.isFinite(a)) return a === b;
    const d = Math.abs(a - b);
    maxAbs = Math.max(maxAbs, d);
    return d <= tol.atol + tol.rtol * Math.abs(b);
  };
  let mismatches = 0;
  let first = '';
  for (let i = 0; i < size(expected); i++) {
    const a = getElem(actual, i);
    const b = getElem(expected, i);
    let ok: boolean;
    if (typeof a === 'number' && typeof b === 'number') ok = close(a, b);
    else if (Array.isArray(a) && Array.isArray(b)) ok = close(a[0]!, b[0]!) && close(a[1]!, b[1]!); // complex: per part
    else ok = a === b;
    if (!ok) {
      if (!mismatches) first = `element ${i}: got ${String(a)}, expected ${String(b)}`;
      mismatches++;
    }
  }
  const what = floatName ? `atol ${tol.atol}, rtol ${tol.rtol}` : 'exact';
  return { ok: mismatches === 0, mismatches, maxAbs, message: mismatches ? `${mismatches} of ${size(expected)} differ (${what}); first at ${first}` : `match (${what}; max |diff| ${maxAbs.toExponential(2)})` };
}
