/* Measures the error of rl_simd.h's vector transcendental functions in ULP of the f32 result,
 * against double-precision libm, on every STRIDE-th f32 bit pattern (so every binade of both
 * signs, subnormals, infinities and NaNs) plus the edges of each function's ranges.
 * Built by test/e2e/vmath.test.ts with one RL_SIMD_* macro per target. Usage: vmath_ulp STRIDE [ftz]
 * `ftz`: the target's vector unit flushes subnormals to zero (32-bit NEON): a subnormal input
 * counts as a zero of its sign, and a result below the normal range may also be zero.
 * Prints one JSON line per function: {"function": ..., "max_ulp": ..., "at": x, "samples": n}, then
 * one for rl_vf_max/rl_vf_min against rl.h's scalar rl_maxf/rl_minf, bit for bit (any NaN for NaN),
 * on every pair of special values (signed zeros, NaNs, infinities, subnormals):
 * {"check": "max_min", "mismatches": n, "pairs": n}. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rl.h"
#include "rl_simd.h"

static double ref_exp(double x) { return exp(x); }
static double ref_logistic(double x) { return 1.0 / (1.0 + exp(-x)); }
static double ref_tanh(double x) { return tanh(x); }
static double ref_erf(double x) { return erf(x); }

static rl_vf vf_exp(rl_vf x) { return rl_vf_exp(x); }
static rl_vf vf_logistic(rl_vf x) { return rl_vf_logistic(x); }
static rl_vf vf_tanh(rl_vf x) { return rl_vf_tanh(x); }
static rl_vf vf_erf(rl_vf x) { return rl_vf_erf(x); }

/* |y - ref| in units of the spacing of f32 values at ref (2^-149 below the normal range);
 * NaN must give NaN and an infinite reference the same infinity. */
static double ulp_error(float y, double ref) {
  if (isnan(ref) || isnan(y)) return isnan(ref) && isnan(y) ? 0.0 : INFINITY;
  if (isinf(ref) || isinf(y)) return (double)y == ref || (float)ref == y ? 0.0 : INFINITY;
  int e;
  frexp(fabs(ref), &e); /* |ref| in [2^(e-1), 2^e) */
  const double ulp = ldexp(1.0, e - 24 < -149 ? -149 : e - 24);
  return fabs((double)y - ref) / ulp;
}

/* With a flush-to-zero vector unit, a subnormal counts as the zero of its sign. */
static float flushed(float x, int ftz) { return ftz && fabsf(x) < 1.17549435e-38f ? copysignf(0.0f, x) : x; }

static float from_bits(uint32_t b) {
  float f;
  memcpy(&f, &b, 4);
  return f;
}

static const float EDGES[] = {0.0f, -0.0f, 1e-30f, 1e-45f, 0.5f, 0.625f, 0.62499994f, 1.0f, 0.99999994f, 3.9999998f, 4.0f, 9.0f, 88.72f, 88.7228f, 88.72284f, 88.8f, 89.0f, -87.33f, -87.34f, -103.9f, -104.0f, -105.0f, 1e30f};

int main(int argc, char** argv) {
  const uint64_t stride = argc > 1 ? strtoull(argv[1], NULL, 10) : 257;
  const int ftz = argc > 2 && strcmp(argv[2], "ftz") == 0;
  const struct { const char* name; rl_vf (*f)(rl_vf); double (*ref)(double); } fns[] = {
    {"exp", vf_exp, ref_exp}, {"logistic", vf_logistic, ref_logistic}, {"tanh", vf_tanh, ref_tanh}, {"erf", vf_erf, ref_erf}};
  const size_t nedges = sizeof EDGES / sizeof EDGES[0];
  for (size_t k = 0; k < sizeof fns / sizeof fns[0]; k++) {
    double worst = 0.0;
    float worst_at = 0.0f;
    uint64_t samples = 0;
    float in[RL_VF_LANES], out[RL_VF_LANES];
    int filled = 0;
    /* Inputs: the bit-pattern sweep, then each edge and its negation, then NaN and the infinities. */
    const uint64_t sweep = (UINT64_C(1) << 32) / stride + 1;
    const uint64_t total = sweep + 2 * nedges + 3;
    for (uint64_t i = 0; i < total; i++) {
      float x;
      if (i < sweep) x = from_bits((uint32_t)(i * stride));
      else if (i < sweep + 2 * nedges) x = (i - sweep) % 2 ? -EDGES[(i - sweep) / 2] : EDGES[(i - sweep) / 2];
      else x = i == total - 3 ? NAN : (i == total - 2 ? INFINITY : -INFINITY);
      in[filled++] = x;
      if (filled < RL_VF_LANES && i + 1 < total) continue;
      rl_vf_store(out, fns[k].f(rl_vf_load(in)));
      for (int j = 0; j < filled; j++) {
        const float x = flushed(in[j], ftz);
        const double ref = fns[k].ref((double)x);
        double err = ulp_error(out[j], ref);
        if (ftz && fabs(ref) < 1.17549435e-38 && out[j] == 0.0f) err = 0.0;
        samples++;
        if (!(err <= worst)) {
          worst = err;
          worst_at = in[j];
        }
      }
      filled = 0;
    }
    printf("{\"function\": \"%s\", \"max_ulp\": %.4f, \"at\": %.9g, \"samples\": %llu}\n", fns[k].name, isinf(worst) ? 1e9 : worst, worst_at, (unsigned long long)samples);
  }
  /* StableHLO maximum/minimum: the vector forms must give the scalar forms' bits. */
  const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 1e-45f, -1e-45f, INFINITY, -INFINITY, NAN, -NAN, 3.5f, 3.5f};
  const int nspecial = (int)(sizeof special / sizeof special[0]);
  int mismatches = 0, pairs = 0;
  for (int i = 0; i < nspecial; i++) {
    float a[RL_VF_LANES], b[RL_VF_LANES], mx[RL_VF_LANES], mn[RL_VF_LANES];
    for (int j = 0; j < nspecial; j += RL_VF_LANES) {
      int n = 0;
      for (; n < RL_VF_LANES; n++) {
        a[n] = special[i];
        b[n] = special[(j + n) % nspecial];
      }
      rl_vf_store(mx, rl_vf_max(rl_vf_load(a), rl_vf_load(b)));
      rl_vf_store(mn, rl_vf_min(rl_vf_load(a), rl_vf_load(b)));
      for (int k = 0; k < n; k++, pairs++) {
        const float x = flushed(a[k], ftz), y = flushed(b[k], ftz);
        const float smx = rl_maxf(x, y), smn = rl_minf(x, y), vmx = flushed(mx[k], ftz), vmn = flushed(mn[k], ftz);
        /* bit for bit, except that any NaN stands for NaN (the payload is not specified) */
        mismatches += !(isnan(vmx) && isnan(smx)) && memcmp(&vmx, &smx, 4) != 0;
        mismatches += !(isnan(vmn) && isnan(smn)) && memcmp(&vmn, &smn, 4) != 0;
      }
    }
  }
  printf("{\"check\": \"max_min\", \"mismatches\": %d, \"pairs\": %d}\n", mismatches, pairs);
  return 0;
}
