/* Part of xla-aot's GPU benchmark (make bench-gpu), included by bench.cu and bench_cublas.cu. */
#ifndef BENCH_FILL_H
#define BENCH_FILL_H
#include <stdio.h>
#include <stdlib.h>
#include <cuda_runtime.h>

/* Input bytes 0x30-0x3F from a fixed LCG: finite, normal and varied values in every float type
 * (a constant fill can run faster than real data does). */
static int fill_device(void* dst, size_t bytes) {
  unsigned char* h = (unsigned char*)malloc(bytes ? bytes : 1);
  if (!h) return 1;
  unsigned s = 12345u;
  for (size_t i = 0; i < bytes; i++) {
    s = s * 1664525u + 1013904223u;
    h[i] = (unsigned char)(0x30u | (s >> 28));
  }
  int bad = cudaMemcpy(dst, h, bytes, cudaMemcpyHostToDevice) != cudaSuccess;
  free(h);
  return bad;
}

/* The device buffer `src` to the file `path` (the GEMMs' outputs, compared with cuBLAS's there). */
static int save_device(const char* path, const void* src, size_t bytes) {
  unsigned char* h = (unsigned char*)malloc(bytes ? bytes : 1);
  FILE* f = fopen(path, "wb");
  int bad = !h || !f || cudaMemcpy(h, src, bytes, cudaMemcpyDeviceToHost) != cudaSuccess ||
            fwrite(h, 1, bytes, f) != bytes;
  if (f) fclose(f);
  free(h);
  return bad;
}

#endif
