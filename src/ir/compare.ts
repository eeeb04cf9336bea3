/**
 * @fileoverview Numerical comparison of a backend's outputs with the reference interpreter's.
 * The tolerance policy, per element type, stated in one place. Element x of the backend's
 * tensor A is accepted against element y of the reference tensor B when
 *
 *     |x - y| <= atol * max(|B|) + rtol * |y|       (max(|B|): largest finite |element| of B)
 *
 * with a floor of the type's smallest normal number on the first term (targets that flush
 * subnormals to zero). The absolute term scales with the tensor, the way numerical analysts bound
 * a sum or a dot (its rounding error is relative to the magnitudes summed, not to the result): a
 * tensor of values near 1e-7 gets a bound near 1e-12, not a blanket 1e-5 that any small garbage
 * would meet.
 *   - integers and booleans: exact; in a program with quantized values, integers within one
 *     (`quantum`, see integerBound: the quantize phase's integer path, whose stated bound against
 *     the interpreter's dequantize-compute-quantize is one quantum, ends in the stored integers);
 *   - f64: atol 1e-12, rtol 1e-9;
 *   - f32: atol 1e-5, rtol 1e-4 (dots/convs/reductions sum in another order, and libm
 *     transcendentals differ from the interpreter's by a few ULP);
 *   - f16: atol 4e-3, rtol 4e-3; bf16: atol 3.2e-2, rtol 3.2e-2 (four ULPs of the format: one
 *     rounding of a value and the rounding differences of the values it was computed from);
 *   - a program that computes in a narrower float type anywhere (an f16 network with f32 batch
 *     statistics) carries that type's rounding into every later value: each output is then held
 *     to the narrowest type's tolerance (`computedIn`, see narrowestFloat);
 *   - complex: each part by the tolerance of its float type, scaled by the largest part;
 *   - NaN must match NaN, and infinities must match exactly (sign included).
 * `degenerate` says when a reference tensor cannot tell right from wrong (mostly non-finite, or
 * one value repeated): a comparison against it is a failure of the test's inputs, not a pass.
 */
import { FLOAT_FORMATS } from './float-format.js';
import type { Module, Region } from './core.js';
import { storageElem, typeToString, type Type } from './types.js';
import { getElem, size, type Elem, type Tensor } from './tensor.js';

export interface Tolerance {
  readonly atol: number;
  readonly rtol: number;
}

export const TOLERANCES: Readonly<Record<string, Tolerance>> = {
  f64: { atol: 1e-12, rtol: 1e-9 },
  f32: { atol: 1e-5, rtol: 1e-4 },
  f16: { atol: 4e-3, rtol: 4e-3 },
  bf16: { atol: 3.2e-2, rtol: 3.2e-2 },
};

/** Every value type of `m`: parameters, block arguments and op results, nested regions included. */
function forEachType(m: Module, see: (t: Type) => void): void {
  const each = (t: Type): void => (t.kind === 'tuple' ? t.elems.forEach(each) : see(t));
  const walk = (r: Region): void =>
    r.blocks.forEach((b) => {
      b.args.forEach((a) => each(a.type));
      b.ops.forEach((op) => {
        op.results.forEach((v) => each(v.type));
        op.regions.forEach(walk);
      });
    });
  for (const f of m.funcs.values()) {
    f.params.forEach((p) => each(p.type));
    if (f.body) walk(f.body);
  }
}

/** The least precise float type (of TOLERANCES) any value of `m` has, or undefined. */
export function narrowestFloat(m: Module): string | undefined {
  let widest: string | undefined;
  const looser = (a: string, b: string | undefined): boolean => !b || TOLERANCES[a]!.rtol > TOLERANCES[b]!.rtol;
  forEachType(m, (t) => {
    if (t.kind !== 'tensor') return;
    const e = storageElem(t.elem);
    const name = e.kind === 'float' ? e.name : e.kind === 'complex' ? e.part.name : undefined;
    if (name && TOLERANCES[name] && looser(name, widest)) widest = name;
  });
  return widest;
}

/** How far an integer output of `m` may be from the interpreter's: 1 where `m` has quantized
 * values (one quantum), else 0. */
export function integerBound(m: Module): number {
  let quantized = false;
  forEachType(m, (t) => {
    if (t.kind === 'tensor' && t.elem.kind === 'quant') quantized = true;
  });
  return quantized ? 1 : 0;
}

export interface Diff {
  readonly ok: boolean;
  readonly mismatches: number;
  readonly maxAbs: number;
  readonly message: string;
}

/** Smallest positive normal number of a float format. */
function smallestNormal(name: string): number {
  const f = FLOAT_FORMATS[name];
  return f ? 2 ** (1 - f.bias) : 0;
}

/** The parts of an element as numbers (one for real types, two for complex). */
function parts(v: Elem): readonly number[] {
  return Array.isArray(v) ? v : [Number(v)];
}

/** Largest finite |part| of a tensor's elements (0 when none is finite). */
function maxFiniteMagnitude(t: Tensor): number {
  let m = 0;
  for (let i = 0; i < size(t); i++)
    for (const p of parts(getElem(t, i))) if (Number.isFinite(p)) m = Math.max(m, Math.abs(p));
  return m;
}

/** Compares element by element with the rule above; `computedIn` names the program's narrowest
 * float type when it is less precise than the tensor's own; `quantum` bounds integer
 * differences (integerBound). */
export function compareTensors(actual: Tensor, expected: Tensor, computedIn?: string, quantum = 0): Diff {
  if (typeToString(actual.type) !== typeToString(expected.type))
    return {
      ok: false,
      mismatches: size(expected),
      maxAbs: Infinity,
      message: `type ${typeToString(actual.type)} vs ${typeToString(expected.type)}`,
    };
  const e = storageElem(expected.type.elem);
  let maxAbs = 0;
  const floatName = e.kind === 'float' ? e.name : e.kind === 'complex' ? e.part.name : undefined;
  const own = floatName ? (TOLERANCES[floatName] ?? { atol: 0, rtol: 0 }) : { atol: 0, rtol: 0 };
  const carried = floatName && computedIn ? TOLERANCES[computedIn] : undefined;
  const tol = carried && carried.rtol > own.rtol ? carried : own;
  const absBound = floatName ? Math.max(tol.atol * maxFiniteMagnitude(expected), smallestNormal(floatName)) : 0;
  const close = (a: number, b: number): boolean => {
    if (Number.isNaN(b) || Number.isNaN(a)) return Number.isNaN(a) && Number.isNaN(b);
    if (!Number.isFinite(b) || !Number.isFinite(a)) return a === b;
    const d = Math.abs(a - b);
    maxAbs = Math.max(maxAbs, d);
    return d <= absBound + tol.rtol * Math.abs(b);
  };
  let mismatches = 0;
  let first = '';
  for (let i = 0; i < size(expected); i++) {
    const a = getElem(actual, i);
    const b = getElem(expected, i);
    let ok: boolean;
    if (typeof a === 'number' && typeof b === 'number') ok = close(a, b);
    else if (typeof a === 'bigint' && typeof b === 'bigint' && quantum) {
      const d = a > b ? a - b : b - a;
      maxAbs = Math.max(maxAbs, Number(d));
      ok = d <= BigInt(quantum);
    } else if (Array.isArray(a) && Array.isArray(b))
      ok = close(a[0]!, b[0]!) && close(a[1]!, b[1]!); // complex: per part
    else ok = a === b;
    if (!ok) {
      if (!mismatches) first = `element ${i}: got ${String(a)}, expected ${String(b)}`;
      mismatches++;
    }
  }
  const what = floatName
    ? `|diff| <= ${absBound.toExponential(2)} + ${tol.rtol} |expected|`
    : quantum && e.kind === 'int'
      ? `within ${quantum} (quantized)`
      : 'exact';
  return {
    ok: mismatches === 0,
    mismatches,
    maxAbs,
    message: mismatches
      ? `${mismatches} of ${size(expected)} differ (${what}); first at ${first}`
      : `match (${what}; max |diff| ${maxAbs.toExponential(2)})`,
  };
}

/**
 * Why a reference tensor cannot tell a right result from a wrong one, or undefined when it can:
 * half or more of its elements are NaN or infinite, or (two elements or more) every element is
 * the same value. A test or `run` that meets one has inputs that do not exercise the model.
 */
export function degenerate(t: Tensor): string | undefined {
  const n = size(t);
  if (n === 0) return undefined;
  let nonFinite = 0;
  let varied = false;
  const first = parts(getElem(t, 0));
  for (let i = 0; i < n; i++) {
    const p = parts(getElem(t, i));
    if (p.some((x) => !Number.isFinite(x))) nonFinite++;
    if (!varied && p.some((x, j) => x !== first[j] && !(Number.isNaN(x) && Number.isNaN(first[j]!)))) varied = true;
  }
  if (2 * nonFinite >= n) return `${nonFinite} of ${n} elements are NaN or infinite`;
  if (n > 1 && !varied) return `all ${n} elements are ${first.length > 1 ? `(${first.join(', ')})` : String(first[0])}`;
  return undefined;
}
