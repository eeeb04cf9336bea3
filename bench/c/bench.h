/* Timing helpers of the benchmark harnesses: monotonic clock, and the median over samples of the
 * mean time per call, each sample repeating the call until it has run for at least min_seconds. */
#ifndef XLA_AOT_BENCH_H
#define XLA_AOT_BENCH_H
#include <stdlib.h>
#include <time.h>

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int bench_cmp(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static inline double bench_median(double* v, int n) {
  qsort(v, (size_t)n, sizeof *v, bench_cmp);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Seconds per call of fn(ctx) for one sample: repeat until min_seconds have passed. */
static inline double bench_sample(void (*fn)(void*), void* ctx, double min_seconds) {
  long reps = 0;
  double t0 = bench_now(), t;
  do {
    fn(ctx);
    reps++;
    t = bench_now();
  } while (t - t0 < min_seconds);
  return (t - t0) / (double)reps;
}
#endif
