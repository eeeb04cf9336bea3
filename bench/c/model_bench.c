/* Latency of one compiled model (single input, single output): median seconds per call over
 * SAMPLES samples, after WARMUP untimed calls (the same warm-up as the ONNX Runtime side). Reads
 * the input from in.bin, writes the output of the first call to out.bin (the driver compares it
 * with ONNX Runtime's), prints one JSON object with the worst status any call returned.
 * With `--lockstep` the driver paces the samples, alternating them with ONNX Runtime's (ort.mjs
 * --lockstep): after the warm-up it prints "ready", then per line read from stdin takes one
 * sample and prints its seconds per call, until end of input. */
#include <stdio.h>
#include <string.h>
#include "bench.h"
#include "model.h"

typedef struct {
  const void* in[1];
  void* out[1];
  void* arena;
  rl_status_t status; /* the first status other than RL_OK, if any */
} ctx_t;

static void run(void* p) {
  ctx_t* x = (ctx_t*)p;
  rl_status_t st = model_run(x->in, x->out, x->arena);
  if (x->status == RL_OK) x->status = st;
}

int main(int argc, char** argv) {
  void* in = malloc(MODEL_INPUT0_BYTES);
  void* out = malloc(MODEL_OUTPUT0_BYTES);
  void* arena = aligned_alloc(MODEL_ARENA_ALIGNMENT, ((MODEL_ARENA_BYTES + MODEL_ARENA_ALIGNMENT) / MODEL_ARENA_ALIGNMENT) * MODEL_ARENA_ALIGNMENT);
  FILE* f = fopen("in.bin", "rb");
  if (!in || !out || !arena || !f || fread(in, 1, MODEL_INPUT0_BYTES, f) != MODEL_INPUT0_BYTES) return 1;
  fclose(f);
  if (model_init(arena) != RL_OK) return 1;
  ctx_t x = {{in}, {out}, arena, RL_OK};
  run(&x);
  f = fopen("out.bin", "wb");
  if (!f || fwrite(out, 1, MODEL_OUTPUT0_BYTES, f) != MODEL_OUTPUT0_BYTES) return 1;
  fclose(f);
  for (int i = 0; i < WARMUP; i++) run(&x);
  if (argc > 1 && strcmp(argv[1], "--lockstep") == 0) {
    char line[16];
    printf("ready\n");
    fflush(stdout);
    while (fgets(line, sizeof line, stdin)) {
      printf("%.9g\n", bench_sample(run, &x, MIN_SECONDS));
      fflush(stdout);
    }
    model_fini(arena);
    printf("{\"status\":%d}\n", (int)x.status);
    return 0;
  }
  double t[SAMPLES];
  for (int s = 0; s < SAMPLES; s++) t[s] = bench_sample(run, &x, MIN_SECONDS);
  model_fini(arena);
  printf("{\"ours_s\":%.9g,\"status\":%d}\n", bench_median(t, SAMPLES), (int)x.status);
  return 0;
}
