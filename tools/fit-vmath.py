#!/usr/bin/env python3
"""Coefficients of the polynomial approximations in runtime-lite/include/rl_simd.h (rl_vf_erf,
rl_vf_tanh). A developer tool, not part of the build: the coefficients are checked in, and
`make test` measures the resulting ULP error of every function (test/c/vmath_ulp.c).

Each function is fitted by least squares at Chebyshev nodes (close to minimax) against mpmath at
30 digits, on the variable the C code evaluates, then printed as f32 literals, lowest order first.
Usage: python3 tools/fit-vmath.py   (needs numpy and mpmath)
"""
import mpmath as mp
import numpy as np

mp.mp.dps = 30
NODES = 400


def fit(f, lo, hi, degree):
    """Monomial coefficients in v in [lo, hi] of the degree-`degree` fit of f(v); max relative error."""
    k = np.arange(NODES)
    v = (lo + hi) / 2 + (hi - lo) / 2 * np.cos(np.pi * (k + 0.5) / NODES)
    y = np.array([f(x) for x in v])
    cheb = np.polynomial.chebyshev.Chebyshev.fit(v, y, degree, domain=[lo, hi])
    mono = cheb.convert(kind=np.polynomial.Polynomial, domain=[lo, hi], window=[lo, hi]).coef
    mono32 = mono.astype(np.float32).astype(np.float64)
    xs = np.linspace(lo, hi, 20001)
    err = max(abs(np.polynomial.polynomial.polyval(x, mono32) / f(x) - 1) for x in xs)
    return mono32, err


def show(name, coefs, err):
    print(f"{name}: max relative error {err:.2e} (f32 coefficients, exact arithmetic)")
    print("  " + ", ".join(f"{np.float32(c)!r}f".replace("np.float32(", "").replace(")", "") for c in coefs))


# erf(x) = x (2/sqrt(pi) + x^2 P(x^2)) for |x| < 1 (2/sqrt(pi) split into two f32 in the C code).
TWO_OVER_SQRT_PI = 2 / mp.sqrt(mp.pi)
HI = np.float32(TWO_OVER_SQRT_PI)
print(f"2/sqrt(pi) = {float(HI)!r}f + {float(np.float32(TWO_OVER_SQRT_PI - mp.mpf(float(HI))))!r}f")
show("erf small: (erf(x)/x - 2/sqrt(pi)) / x^2 in s = x^2 on [0, 1], degree 5",
     *fit(lambda s: float((mp.erf(mp.sqrt(s)) / mp.sqrt(s) - TWO_OVER_SQRT_PI) / s) if s > 0 else float(-TWO_OVER_SQRT_PI / 3), 0.0, 1.0, 5))
# erfc(a) = exp(-a^2) * Q(u), u = 8/3 t - 5/3 with t = 1/a, for 1 <= a < 4 (t in [1/4, 1]).
show("erfc scaled: erfc(a) * exp(a^2) in u = 8/3 / a - 5/3 on [-1, 1], degree 10",
     *fit(lambda u: float(mp.erfc(1 / ((u + mp.mpf(5) / 3) * 3 / 8)) * mp.exp((1 / ((u + mp.mpf(5) / 3) * 3 / 8)) ** 2)), -1.0, 1.0, 10))
# tanh(x) = x + x^3 * R(x^2) for |x| < 0.625.
show("tanh small: (tanh(x) - x) / x^3 in s = x^2 on [0, 0.390625], degree 5",
     *fit(lambda s: float((mp.tanh(mp.sqrt(s)) - mp.sqrt(s)) / mp.sqrt(s) ** 3) if s > 0 else -1 / 3, 0.0, 0.390625, 5))
