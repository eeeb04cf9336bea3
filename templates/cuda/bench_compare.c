/* Part of xla-aot's GPU benchmark (src/bench/gpu.ts, test/gpu/pack.ts): compares a GEMM output of
 * the bench with cuBLAS's for the same inputs (too big to bring back). Prints one JSON line:
 * the relative error ||ours - cublas|| / ||cublas|| (2-norms, in double), the count of elements
 * and of non-finite ones in ours. Usage: compare f16|bf16|f32 OURS CUBLAS */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double value(const unsigned char* p, const char* kind) {
  if (!strcmp(kind, "f32")) {
    float f;
    memcpy(&f, p, 4);
    return f;
  }
  uint16_t h = (uint16_t)(p[0] | (p[1] << 8));
  if (!strcmp(kind, "bf16")) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
  }
  int e = (h >> 10) & 0x1f, m = h & 0x3ff;
  double v = e == 0 ? ldexp(m, -24) : e == 31 ? (m ? NAN : INFINITY) : ldexp(m + 1024, e - 25);
  return h & 0x8000 ? -v : v;
}

static unsigned char* slurp(const char* path, long* n) {
  FILE* f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  *n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char* b = (unsigned char*)malloc(*n ? (size_t)*n : 1);
  if (b && fread(b, 1, (size_t)*n, f) != (size_t)*n) b = NULL;
  fclose(f);
  return b;
}

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: %s f16|bf16|f32 OURS CUBLAS\n", argv[0]);
    return 2;
  }
  long na, nb;
  unsigned char *a = slurp(argv[2], &na), *b = slurp(argv[3], &nb);
  int size = strcmp(argv[1], "f32") ? 2 : 4;
  if (!a || !b || na != nb || na % size) {
    fprintf(stderr, "compare: unreadable or different sizes\n");
    return 1;
  }
  double diff = 0, norm = 0;
  long nonfinite = 0;
  for (long i = 0; i < na; i += size) {
    double x = value(a + i, argv[1]), y = value(b + i, argv[1]);
    if (!isfinite(x)) nonfinite++;
    else diff += (x - y) * (x - y);
    norm += y * y;
  }
  printf("{\"rel\": %.3e, \"n\": %ld, \"nonfinite\": %ld}\n", sqrt(diff / norm), na / size, nonfinite);
  return 0;
}
