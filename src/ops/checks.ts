/**
 * @fileoverview Semantics of the StableHLO test-suite check ops (see shared/conformance/README):
 * exact equality, absolute-tolerance "almost equal", and ULP-distance "close". Each returns
 * undefined on success or a message naming the first mismatching element.
 */
import { encodeFloat } from '../ir/float-format.js';
import { storageElem, typeToString, type FloatElem } from '../ir/types.js';
import { getElem, size, type Elem, type Tensor } from '../ir/tensor.js';

function fmt(v: Elem): string {
  if (Array.isArray(v)) return `(${v[0]}, ${v[1]})`;
  return String(v);
}

function shapeMismatch(a: Tensor, b: Tensor): string | undefined {
  if (a.type.shape.join('x') !== b.type.shape.join('x'))
    return `shape mismatch: ${typeToString(a.type)} vs ${typeToString(b.type)}`;
  return undefined;
}

function firstMismatch(
  actual: Tensor,
  expected: Tensor,
  same: (a: Elem, b: Elem) => boolean,
  what: string,
): string | undefined {
  const sm = shapeMismatch(actual, expected);
  if (sm) return sm;
  const n = size(actual);
  let bad = 0;
  let first = '';
  for (let i = 0; i < n; i++) {
    const a = getElem(actual, i);
    const e = getElem(expected, i);
    if (!same(a, e)) {
      if (bad === 0) first = `element ${i}: got ${fmt(a)}, expected ${fmt(e)}`;
      bad++;
    }
  }
  return bad ? `${bad} of ${n} element(s) differ (${what}); first at ${first}` : undefined;
}

export function checkEq(actual: Tensor, expected: Tensor): string | undefined {
  const eq = (a: Elem, b: Elem): boolean =>
    Array.isArray(a) ? a[0] === (b as readonly number[])[0] && a[1] === (b as readonly number[])[1] : a === b;
  return firstMismatch(actual, expected, eq, 'exact');
}

function almost(x: number, y: number, tol: number): boolean {
  if (x === y) return true;
  if (Number.isNaN(x) && Number.isNaN(y)) return true;
  if (Number.isNaN(x) || Number.isNaN(y)) return false;
  if (!Number.isFinite(x) || !Number.isFinite(y)) return false;
  return Math.abs(x - y) <= tol;
}

export function checkAlmostEq(actual: Tensor, expected: Tensor, tol: number): string | undefined {
  const e = storageElem(actual.type.elem);
  if (e.kind === 'int' || e.kind === 'bool') return checkEq(actual, expected);
  const same = (a: Elem, b: Elem): boolean =>
    Array.isArray(a)
      ? almost(a[0], (b as readonly number[])[0]!, tol) && almost(a[1], (b as readonly number[])[1]!, tol)
      : almost(a as number, b as number, tol);
  return firstMismatch(actual, expected, same, `absolute tolerance ${tol}`);
}

/** ULP distance as defined by the upstream check dialect (NaN == NaN, +0 == -0). */
function ulpDistance(f: FloatElem, x: number, y: number): number {
  const bx = BigInt(encodeFloat(f.format, x));
  const by = BigInt(encodeFloat(f.format, y));
  if (bx === by) return 0;
  if (Number.isNaN(x) && Number.isNaN(y)) return 0;
  if (!Number.isFinite(x) || !Number.isFinite(y)) return Infinity;
  const signBit = 1n << BigInt(f.format.bits - 1);
  const ax = bx & (signBit - 1n);
  const ay = by & (signBit - 1n);
  const sameSign = (bx & signBit) === (by & signBit);
  return Number(sameSign ? (ax > ay ? ax - ay : ay - ax) : ax + ay);
}

export function checkClose(actual: Tensor, expected: Tensor, minUlp: number, maxUlp: number): string | undefined {
  const e = storageElem(actual.type.elem);
  if (e.kind !== 'float' && e.kind !== 'complex')
    return `expect_close needs a float or complex type, got ${typeToString(actual.type)}`;
  const part = e.kind === 'complex' ? e.part : e;
  const dist = (a: Elem, b: Elem): number =>
    Array.isArray(a)
      ? Math.max(
          ulpDistance(part, a[0], (b as readonly number[])[0]!),
          ulpDistance(part, a[1], (b as readonly number[])[1]!),
        )
      : ulpDistance(part, a as number, b as number);
  return firstMismatch(
    actual,
    expected,
    (a, b) => {
      const d = dist(a, b);
      return d >= minUlp && d <= maxUlp;
    },
    `ULP distance in [${minUlp}, ${maxUlp}]`,
  );
}
