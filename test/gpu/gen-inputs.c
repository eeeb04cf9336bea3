/* Part of xla-aot's GPU bundle (test/gpu/pack.ts): draws, on the GPU machine, the seeded inputs
 * that src/interpret/inputs.ts randomTensor draws, for inputs too big to carry there. pack.ts
 * checks on this machine that every file it writes is byte for byte the one the TypeScript drew.
 * Usage: gen-inputs FILE KIND COUNT SEED SCALE INT_BOUND [...]: KIND f32, f64, bool, or iN / uN
 * (N = 8, 16, 32, 64); SEED the generator's (the parameter's) seed. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int draw(const char* path, const char* kind, long long count, double seed, double scale, double int_bound) {
  FILE* f = fopen(path, "wb");
  if (!f) return 1;
  /* The seed through murmur3's finalizer, then xorshift32 (as randomTensor). */
  uint32_t s = (uint32_t)fmod(seed, 4294967296.0);
  s = (s ^ (s >> 16)) * 0x85ebca6bu;
  s = (s ^ (s >> 13)) * 0xc2b2ae35u;
  s = s ^ (s >> 16);
  if (!s) s = 0x9e3779b9u;
  int bits = kind[0] == 'f' || kind[0] == 'b' ? 0 : atoi(kind + 1);
  double bound = int_bound < 8 ? int_bound : 8;
  for (long long i = 0; i < count; i++) {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    double u = s / 4294967296.0;
    unsigned char b[8];
    size_t n;
    if (!strcmp(kind, "f32")) {
      float x = (float)((2 * u - 1) * scale);
      memcpy(b, &x, n = 4);
    } else if (!strcmp(kind, "f64")) {
      double x = (2 * u - 1) * scale;
      memcpy(b, &x, n = 8);
    } else if (!strcmp(kind, "bool")) {
      b[0] = u < 0.5 ? 1 : 0;
      n = 1;
    } else if (bits == 8 || bits == 16 || bits == 32 || bits == 64) {
      int64_t x = (int64_t)floor(u * bound);
      for (n = 0; n < (size_t)bits / 8; n++) b[n] = (unsigned char)((uint64_t)x >> (8 * n));
    } else {
      fprintf(stderr, "gen-inputs: unknown kind %s\n", kind);
      fclose(f);
      return 1;
    }
    if (fwrite(b, 1, n, f) != n) {
      fclose(f);
      return 1;
    }
  }
  return fclose(f) != 0;
}

int main(int argc, char** argv) {
  if (argc < 2 || (argc - 1) % 6) {
    fprintf(stderr, "usage: %s FILE KIND COUNT SEED SCALE INT_BOUND [...]\n", argv[0]);
    return 2;
  }
  for (int a = 1; a < argc; a += 6)
    if (draw(argv[a], argv[a + 1], atoll(argv[a + 2]), strtod(argv[a + 3], NULL), strtod(argv[a + 4], NULL),
             strtod(argv[a + 5], NULL))) {
      fprintf(stderr, "gen-inputs: cannot write %s\n", argv[a]);
      return 1;
    }
  return 0;
}
