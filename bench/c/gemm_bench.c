/* GEMM side by side: the compiled model MODEL (C[GEMM_M][GEMM_N] = A[GEMM_M][GEMM_K] * W[GEMM_K][GEMM_N], W a weight of the
 * model) against OpenBLAS cblas_sgemm (1 thread) on the same A and W (read from a.bin and w.bin).
 * After WARMUP untimed calls of each, samples alternate between the two (who goes first alternates
 * too); prints one JSON object: median seconds per call of each, the median of the samples' speed
 * ratios (OpenBLAS's time over ours, per pair: the two samples of a pair see the same machine),
 * the kernel OpenBLAS picked, the largest difference between the two results (NaN if either has
 * a NaN), and the worst status the model returned. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include "bench.h"
#include "model.h"

extern char* openblas_get_corename(void);
extern void openblas_set_num_threads(int);

typedef struct {
  const float *a, *w;
  float* c;
  void* arena;
  rl_status_t status; /* the first status other than RL_OK, if any */
} ctx_t;

static void run_ours(void* p) {
  ctx_t* x = (ctx_t*)p;
  const void* in[1] = {x->a};
  void* out[1] = {x->c};
  rl_status_t st = model_run(in, out, x->arena);
  if (x->status == RL_OK) x->status = st;
}

static void run_blas(void* p) {
  ctx_t* x = (ctx_t*)p;
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, GEMM_M, GEMM_N, GEMM_K, 1.0f, x->a, GEMM_K, x->w, GEMM_N, 0.0f, x->c, GEMM_N);
}

static int read_all(const char* path, void* buf, size_t bytes) {
  FILE* f = fopen(path, "rb");
  if (!f) return 1;
  size_t got = fread(buf, 1, bytes, f);
  fclose(f);
  return got != bytes;
}

int main(void) {
  openblas_set_num_threads(1);
  float* a = (float*)malloc(sizeof(float) * GEMM_M * GEMM_K);
  float* w = (float*)malloc(sizeof(float) * GEMM_K * GEMM_N);
  float* c_ours = (float*)malloc(sizeof(float) * GEMM_M * GEMM_N);
  float* c_blas = (float*)malloc(sizeof(float) * GEMM_M * GEMM_N);
  void* arena = aligned_alloc(MODEL_ARENA_ALIGNMENT, ((MODEL_ARENA_BYTES + MODEL_ARENA_ALIGNMENT) / MODEL_ARENA_ALIGNMENT) * MODEL_ARENA_ALIGNMENT);
  if (!a || !w || !c_ours || !c_blas || !arena || read_all("a.bin", a, sizeof(float) * GEMM_M * GEMM_K) || read_all("w.bin", w, sizeof(float) * GEMM_K * GEMM_N)) return 1;
  if (model_init(arena) != RL_OK) return 1;
  ctx_t ours = {a, w, c_ours, arena, RL_OK}, blas = {a, w, c_blas, arena, RL_OK};
  run_ours(&ours);
  run_blas(&blas);
  double max_rel = 0;
  for (long i = 0; i < (long)GEMM_M * GEMM_N; i++) {
    double d = fabs((double)c_ours[i] - c_blas[i]) / (fabs((double)c_blas[i]) + 1e-3);
    if (isnan(d) || d > max_rel) max_rel = d; /* a NaN sticks: no later d compares greater */
  }
  for (int i = 0; i < WARMUP; i++) {
    run_ours(&ours);
    run_blas(&blas);
  }
  double t_ours[SAMPLES], t_blas[SAMPLES], speed[SAMPLES];
  for (int s = 0; s < SAMPLES; s++) {
    if (s % 2) t_blas[s] = bench_sample(run_blas, &blas, MIN_SECONDS);
    t_ours[s] = bench_sample(run_ours, &ours, MIN_SECONDS);
    if (s % 2 == 0) t_blas[s] = bench_sample(run_blas, &blas, MIN_SECONDS);
    speed[s] = t_blas[s] / t_ours[s];
  }
  model_fini(arena);
  printf("{\"ours_s\":%.9g,\"openblas_s\":%.9g,\"speed\":%.9g,\"openblas_core\":\"%s\",\"max_rel_diff\":\"%.3g\",\"status\":%d}\n", bench_median(t_ours, SAMPLES), bench_median(t_blas, SAMPLES), bench_median(speed, SAMPLES), openblas_get_corename(), max_rel, (int)ours.status);
  return 0;
}
