/**
 * @fileoverview Special functions for CHLO ops, computed in f64: erf/erfc (series and continued
 * fraction, no cancellation), erf_inv (approximation + Newton), lgamma (Lanczos + reflection),
 * digamma (recurrence + asymptotic series + reflection), bessel_i1e (series / asymptotic), and
 * complex inverse-trig/hyperbolic helpers.
 */
import { cadd, cdiv, clog, cmul, csqrt, csub, type C } from './scalar.js';

const SQRT_PI = Math.sqrt(Math.PI);

/** erf(x) = 2x/sqrt(pi) e^{-x^2} sum (2x^2)^n / (1*3*...*(2n+1)) -- positive terms only. */
function erfSeries(x: number): number {
  const x2 = x * x;
  let term = 1;
  let sum = 1;
  let comp = 0; // Kahan compensation
  for (let n = 1; n < 500; n++) {
    term *= (2 * x2) / (2 * n + 1);
    const y = term - comp;
    const t = sum + y;
    comp = t - sum - y;
    sum = t;
    if (term < sum * 1e-18) break;
  }
  return ((2 * x) / SQRT_PI) * expNegSquare(x) * sum;
}

/** exp(-x*x) without the rounding error of x*x (Dekker split: x*x = hi + lo exactly). */
function expNegSquare(x: number): number {
  const split = 134217729 * x; // 2^27 + 1
  const xh = split - (split - x);
  const xl = x - xh;
  const hi = x * x;
  const lo = xh * xh - hi + 2 * xh * xl + xl * xl;
  return Math.exp(-hi) * (1 - lo);
}

/** erfc(x) for x >= 2 by the Laplace continued fraction (modified Lentz). */
function erfcContinuedFraction(x: number): number {
  const tiny = 1e-300;
  let f = x;
  let c = x;
  let d = 0;
  for (let n = 1; n < 5000; n++) {
    const an = n / 2;
    d = x + an * d;
    d = d === 0 ? tiny : d;
    c = x + an / c;
    c = c === 0 ? tiny : c;
    d = 1 / d;
    const delta = c * d;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-17) break;
  }
  return Math.exp(-x * x) / (SQRT_PI * f);
}

export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (Math.abs(x) > 6) return Math.sign(x);
  if (Math.abs(x) < 2) return erfSeries(x);
  const c = erfcContinuedFraction(Math.abs(x));
  return x > 0 ? 1 - c : c - 1;
}

export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2) return 1 - erfSeries(x);
  if (x > 27.3) return 0;
  return erfcContinuedFraction(x);
}

export function erfInv(y: number): number {
  if (Number.isNaN(y) || y < -1 || y > 1) return NaN;
  if (y === 1) return Infinity;
  if (y === -1) return -Infinity;
  // Giles' single-precision approximation, then Newton steps on erf.
  let w = -Math.log((1 - y) * (1 + y));
  let x: number;
  if (w < 5) {
    w -= 2.5;
    let p = 2.81022636e-8;
    for (const c of [
      3.43273939e-7, -3.5233877e-6, -4.39150654e-6, 0.00021858087, -0.00125372503, -0.00417768164, 0.246640727,
      1.50140941,
    ])
      p = c + p * w;
    x = p * y;
  } else {
    w = Math.sqrt(w) - 3;
    let p = -0.000200214257;
    for (const c of [
      0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047, 1.00167406,
      2.83297682,
    ])
      p = c + p * w;
    x = p * y;
  }
  for (let i = 0; i < 3; i++) {
    const err = erf(x) - y;
    const deriv = (2 / SQRT_PI) * Math.exp(-x * x);
    if (deriv === 0 || !Number.isFinite(deriv)) break;
    x -= err / (deriv + x * err); // Halley step
  }
  return x;
}

const LANCZOS_G = 7;
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

export function lgamma(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (!Number.isFinite(x)) return Infinity;
  if (x <= 0 && Number.isInteger(x)) return Infinity;
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - lgamma(1 - x);
  if (x === 1 || x === 2) return 0;
  if (x > 1e7) return x * (Math.log(x) - 1) - 0.5 * Math.log(x) + 0.5 * Math.log(2 * Math.PI) + 1 / (12 * x);
  const z = x - 1;
  let a = LANCZOS[0]!;
  const t = z + LANCZOS_G + 0.5;
  for (let i = 1; i < LANCZOS.length; i++) a += LANCZOS[i]! / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

export function digamma(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x === Infinity) return Infinity;
  if (x === -Infinity) return NaN;
  if (x <= 0 && Number.isInteger(x)) return NaN;
  if (x < 0) return digamma(1 - x) - Math.PI / Math.tan(Math.PI * x);
  let r = 0;
  while (x < 6) {
    r -= 1 / x;
    x += 1;
  }
  const f = 1 / (x * x);
  const t =
    f * (-1 / 12 + f * (1 / 120 + f * (-1 / 252 + f * (1 / 240 + f * (-1 / 132 + f * (691 / 32760 + f * (-1 / 12)))))));
  return r + Math.log(x) - 0.5 / x + t;
}

/** exp(-|x|) I1(x). */
export function besselI1e(x: number): number {
  if (Number.isNaN(x)) return NaN;
  const ax = Math.abs(x);
  if (ax <= 40) {
    const h = ax / 2;
    let term = h;
    let sum = term;
    for (let k = 1; k < 500; k++) {
      term *= (h * h) / (k * (k + 1));
      sum += term;
      if (term < sum * 1e-17) break;
    }
    return Math.sign(x) * sum * Math.exp(-ax);
  }
  // Asymptotic expansion: I1(x) e^{-x} ~ 1/sqrt(2 pi x) * sum_k (-1)^k prod_{j<=k} (4 - (2j-1)^2) / (k! (8x)^k)
  let term = 1;
  let sum = 1;
  for (let k = 1; k < 30; k++) {
    term *= -(4 - (2 * k - 1) ** 2) / (k * 8 * ax);
    sum += term;
    if (Math.abs(term) < 1e-17) break;
  }
  return (Math.sign(x) * sum) / Math.sqrt(2 * Math.PI * ax);
}

// ---- complex inverse trigonometric and hyperbolic functions ------------------------------------
const I: C = [0, 1];
const ONE: C = [1, 0];
export const casinh = (z: C): C => clog(cadd(z, csqrt(cadd(cmul(z, z), ONE))));
export const cacosh = (z: C): C => clog(cadd(z, cmul(csqrt(cadd(z, ONE)), csqrt(csub(z, ONE)))));
export const catanh = (z: C): C => cmul([0.5, 0], csub(clog(cadd(ONE, z)), clog(csub(ONE, z))));
export const casin = (z: C): C => {
  const w = casinh(cmul(I, z)); // asin z = -i asinh(i z)
  return [w[1], -w[0]];
};
export const catan = (z: C): C => {
  const w = catanh(cmul(I, z)); // atan z = -i atanh(i z)
  return [w[1], -w[0]];
};
export const csinh = (z: C): C => [Math.sinh(z[0]) * Math.cos(z[1]), Math.cosh(z[0]) * Math.sin(z[1])];
export const ccosh = (z: C): C => [Math.cosh(z[0]) * Math.cos(z[1]), Math.sinh(z[0]) * Math.sin(z[1])];
export { cdiv };
