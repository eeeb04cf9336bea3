/* runtime-lite for CUDA: what generated .cu files need beside rl.h. The CUDA runtime API only (no
 * cuBLAS, cuDNN or NVRTC); no allocation: the caller passes a device arena and a stream.
 *
 * Built with RL_CUDA_HOST_EMULATION (a host C++ compiler, no GPU), the same source runs on the CPU:
 * the CUDA types and calls below become plain C++ (device memory is host memory, a stream runs
 * in order at once) and a kernel launch runs every (block, thread) one after another. That is
 * exact for the kernels xla-aot generates today: each thread's work is independent (grid-stride
 * loops, single-thread kernels), none uses shared memory, barriers or warp operations. */
#ifndef RL_CUDA_H
#define RL_CUDA_H

#ifdef RL_CUDA_HOST_EMULATION
#include <stdint.h>
#include <string.h>

#define __global__
#define __host__
#define __device__
#define __restrict__ __restrict

struct rl_dim3 { unsigned x, y, z; };
typedef rl_dim3 dim3;
static rl_dim3 threadIdx, blockIdx, blockDim, gridDim;

typedef int cudaError_t;
typedef void* cudaStream_t;
enum { cudaSuccess = 0 };
enum cudaMemcpyKind { cudaMemcpyHostToDevice, cudaMemcpyDeviceToHost, cudaMemcpyDeviceToDevice };
static inline cudaError_t cudaMemcpyAsync(void* dst, const void* src, size_t n, cudaMemcpyKind, cudaStream_t) {
  if (n) memmove(dst, src, n);
  return cudaSuccess;
}
static inline cudaError_t cudaMemsetAsync(void* dst, int byte, size_t n, cudaStream_t) {
  if (n) memset(dst, byte, n);
  return cudaSuccess;
}
static inline cudaError_t cudaStreamSynchronize(cudaStream_t) { return cudaSuccess; }
static inline cudaError_t cudaGetLastError(void) { return cudaSuccess; }

/* Every block, then every thread of it, in order. */
template <typename F>
static void rl_cuda_emulate(unsigned blocks, unsigned threads, F run) {
  gridDim = rl_dim3{blocks, 1, 1};
  blockDim = rl_dim3{threads, 1, 1};
  for (unsigned b = 0; b < blocks; ++b)
    for (unsigned t = 0; t < threads; ++t) {
      blockIdx = rl_dim3{b, 0, 0};
      threadIdx = rl_dim3{t, 0, 0};
      run();
    }
}
#define RL_CUDA_LAUNCH(kernel, blocks, threads, stream, ...) \
  rl_cuda_emulate((blocks), (threads), [&]() { kernel(__VA_ARGS__); })
#else
#include <cuda_runtime.h>
#define RL_CUDA_LAUNCH(kernel, blocks, threads, stream, ...) kernel<<<(blocks), (threads), 0, (stream)>>>(__VA_ARGS__)
#endif

#include "rl.h"

/* Threads per block of a grid-stride kernel, and blocks for n iterations: enough blocks to give
 * every iteration a thread, capped (the loop strides over the rest). */
#define RL_CUDA_BLOCK 256
static inline unsigned rl_cuda_blocks(int64_t n) {
  int64_t b = (n + RL_CUDA_BLOCK - 1) / RL_CUDA_BLOCK;
  return b < 1 ? 1u : b > 65535 ? 65535u : (unsigned)b;
}

/* A scalar the host needs (a branch condition, a switch index): copied back, the stream drained. */
template <typename T>
static inline T rl_cuda_read(const T* device_ptr, cudaStream_t stream) {
  T value;
  cudaMemcpyAsync(&value, device_ptr, sizeof(T), cudaMemcpyDeviceToHost, stream);
  cudaStreamSynchronize(stream);
  return value;
}

/* Inside a function returning rl_status_t: a failed CUDA call returns RL_INTERNAL. */
#define RL_CUDA_CHECK(call)                                 \
  do {                                                      \
    if ((call) != cudaSuccess) return RL_INTERNAL;          \
  } while (0)

/* A CUDA error as an rl_status_t. */
static inline rl_status_t rl_cuda_status(cudaError_t e) { return e == cudaSuccess ? RL_OK : RL_INTERNAL; }

#endif /* RL_CUDA_H */
