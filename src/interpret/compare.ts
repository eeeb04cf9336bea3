/**
 * @fileoverview Numerical comparison of a backend's outputs with the reference interpreter's.
 * The tolerance policy, per element type, stated in one place:
 *   - integers and booleans: exact;
 *   - f64: |a - b| <= 1e-12 + 1e-9 |b|;
 *   - f32: |a - b| <= 1e-5 + 1e-4 |b| (dots/convs/reductions sum in another order, and libm
 *     transcendentals differ from the interpreter's by a few ULP);
 *   - f16: |a - b| <= 1e-3 + 2e-3 |b|; bf16: |a - b| <= 1e-2 + 1.6e-2 |b| (one ULP of the format
 *     plus the accumulation error carried into the rounding);
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
  const tol = e.kind === 'float' ? (TOLERANCES[e.name] ?? { atol: 0, rtol: 0 }) : { atol: 0, rtol: 0 };
  let mismatches = 0;
  let maxAbs = 0;
  let first = '';
  for (let i = 0; i < size(expected); i++) {
    const a = getElem(actual, i);
    const b = getElem(expected, i);
    let ok: boolean;
    if (typeof a === 'number' && typeof b === 'number') {
      if (Number.isNaN(b) || Number.isNaN(a)) ok = Number.isNaN(a) && Number.isNaN(b);
      else if (!Number.isFinite(b) || !Number.isFinite(a)) ok = a === b;
      else {
        const d = Math.abs(a - b);
        maxAbs = Math.max(maxAbs, d);
        ok = d <= tol.atol + tol.rtol * Math.abs(b);
      }
    } else ok = a === b;
    if (!ok) {
      if (!mismatches) first = `element ${i}: got ${String(a)}, expected ${String(b)}`;
      mismatches++;
    }
  }
  const what = e.kind === 'float' ? `atol ${tol.atol}, rtol ${tol.rtol}` : 'exact';
  return { ok: mismatches === 0, mismatches, maxAbs, message: mismatches ? `${mismatches} of ${size(expected)} differ (${what}); first at ${first}` : `match (${what}; max |diff| ${maxAbs.toExponential(2)})` };
}
