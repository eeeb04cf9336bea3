/* Peak single-thread fp32 FMA throughput: 12 independent FMA chains per vector width, enough to
 * cover FMA latency x throughput on current x86 cores. The best of 7 runs: a capability, so
 * interference from other processes (which a median would average in) should not lower it.
 * Prints one JSON object (GFLOP/s). */
#include <immintrin.h>
#include <stdio.h>
#include "bench.h"

#define ITERS 20000000L

/* Twelve named accumulators (not an array: at -O2 an array may live in memory). */
#define CHAINS(V, FMA, SET1)                                                                             \
  V a0 = SET1(0.f), a1 = SET1(1.f), a2 = SET1(2.f), a3 = SET1(3.f), a4 = SET1(4.f), a5 = SET1(5.f);    \
  V a6 = SET1(6.f), a7 = SET1(7.f), a8 = SET1(8.f), a9 = SET1(9.f), a10 = SET1(10.f), a11 = SET1(11.f); \
  V m = SET1(0.999999f), c = SET1(1e-7f);                                                              \
  double t0 = bench_now();                                                                             \
  for (long it = 0; it < ITERS; it++) {                                                                \
    a0 = FMA(a0, m, c); a1 = FMA(a1, m, c); a2 = FMA(a2, m, c); a3 = FMA(a3, m, c);                    \
    a4 = FMA(a4, m, c); a5 = FMA(a5, m, c); a6 = FMA(a6, m, c); a7 = FMA(a7, m, c);                    \
    a8 = FMA(a8, m, c); a9 = FMA(a9, m, c); a10 = FMA(a10, m, c); a11 = FMA(a11, m, c);                \
  }                                                                                                    \
  double t = bench_now() - t0;                                                                         \
  V s = a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11;                                    \
  volatile float sink = s[0];                                                                          \
  (void)sink;

#if defined(__AVX512F__)
static double peak512(void) {
  CHAINS(__m512, _mm512_fmadd_ps, _mm512_set1_ps)
  return 12.0 * 16 * 2 * ITERS / t * 1e-9;
}
#endif

static double peak256(void) {
  CHAINS(__m256, _mm256_fmadd_ps, _mm256_set1_ps)
  return 12.0 * 8 * 2 * ITERS / t * 1e-9;
}

static double best_of_7(double (*run)(void)) {
  double best = 0;
  for (int i = 0; i < 7; i++) {
    const double v = run();
    if (v > best) best = v;
  }
  return best;
}

int main(void) {
#if defined(__AVX512F__)
  const double p512 = best_of_7(peak512);
#else
  const double p512 = 0;
#endif
  printf("{\"avx512_gflops\":%.1f,\"avx2_gflops\":%.1f}\n", p512, best_of_7(peak256));
  return 0;
}
