/* runtime-lite for CUDA: what generated .cu files need beside rl.h. The CUDA runtime API only (no
 * cuBLAS, cuDNN or NVRTC); no allocation: the caller passes a device arena and a stream.
 *
 * Built with RL_CUDA_HOST_EMULATION (a host C++ compiler, no GPU), the same source runs on the CPU:
 * the CUDA types and calls below become plain C++ (device memory is host memory, a stream runs
 * in order at once). A kernel whose threads are independent (RL_CUDA_LAUNCH: grid-stride loops,
 * single-thread kernels) runs every (block, thread) one after another. A kernel whose threads
 * cooperate (RL_CUDA_LAUNCH_SYNCED: block reductions, tiled GEMMs) runs each block's threads as
 * fibers, switched at every barrier: __syncthreads waits for every thread of the block, a
 * warp shuffle for every thread of the warp (lockstep: all write, then all read), and a barrier
 * that some thread never reaches is reported as a deadlock instead of hanging; tensor-core
 * instructions (mma.sync, ldmatrix, wgmma) are computed from the layouts the PTX ISA documents,
 * wgmma when a wait retires its group (see below). `__shared__`
 * variables are statics, one per kernel, as blocks run one at a time. This checks the kernels'
 * logic and data flow, not their timing, memory model or occupancy: it is no substitute for a GPU. */
#ifndef RL_CUDA_H
#define RL_CUDA_H

#ifdef RL_CUDA_HOST_EMULATION
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define __global__
#define __host__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(...)
#define __align__(n) __attribute__((aligned(n)))
#define RL_UNROLL /* nvcc's #pragma unroll: no meaning here */
#define RL_UNROLL_BY(n)
#define __restrict__ __restrict

struct rl_dim3 { unsigned x, y, z; };
struct __align__(16) float4 { float x, y, z, w; };
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

/* ---- cooperating threads: one fiber per thread of a block ---- */
#define RL_EMU_MAX_THREADS 1024
#define RL_EMU_STACK_BYTES (128u * 1024u)
#define __shared__ static
struct rl_emu_state {
  unsigned char done[RL_EMU_MAX_THREADS];
  unsigned char* stacks;
  unsigned threads, current;
  unsigned long events; /* barrier arrivals, releases and finished threads: progress */
  unsigned block_arrived, block_generation;
  unsigned warp_arrived[RL_EMU_MAX_THREADS / 32], warp_generation[RL_EMU_MAX_THREADS / 32];
  unsigned long long lane_value[RL_EMU_MAX_THREADS]; /* what each thread offers a shuffle */
  void (*body)(void*);
  void* arg;
  const void* scheduler_stack; /* for AddressSanitizer */
  size_t scheduler_stack_size;
};
static rl_emu_state rl_emu;

/* AddressSanitizer is told of every stack switch (else it may report false positives). */
#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define RL_EMU_SWITCH_START(save, bottom, size) __sanitizer_start_switch_fiber(save, bottom, size)
#define RL_EMU_SWITCH_FINISH(save, bottom, size) __sanitizer_finish_switch_fiber(save, bottom, size)
#else
#define RL_EMU_SWITCH_START(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#define RL_EMU_SWITCH_FINISH(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#endif
#define RL_EMU_STACK(t) (rl_emu.stacks + (size_t)(t) * RL_EMU_STACK_BYTES)

static void rl_emu_fiber_main(void);

#if defined(__x86_64__)
/* Switching stacks is most of the emulation's time: on x86-64 a switch saves the callee-saved
 * registers on the current stack, stores its pointer in *from and resumes the stack at `to`
 * (System V ABI; a few nanoseconds, where swapcontext makes a system call). */
static __attribute__((naked, noinline)) void rl_emu_switch(void** /* from: %rdi */, void* /* to: %rsi */) {
  __asm__ volatile(
      "pushq %rbp\n\tpushq %rbx\n\tpushq %r12\n\tpushq %r13\n\tpushq %r14\n\tpushq %r15\n\t"
      "movq %rsp, (%rdi)\n\tmovq %rsi, %rsp\n\t"
      "popq %r15\n\tpopq %r14\n\tpopq %r13\n\tpopq %r12\n\tpopq %rbx\n\tpopq %rbp\n\tret");
}
static void* rl_emu_scheduler_sp;
static void* rl_emu_fiber_sp[RL_EMU_MAX_THREADS];
/* A new fiber's stack: six zero registers, then rl_emu_fiber_main as the return address (entered
 * with the stack aligned as after a call). */
static void rl_emu_start_fiber(unsigned t) {
  uintptr_t top = ((uintptr_t)RL_EMU_STACK(t + 1)) & ~(uintptr_t)15;
  void** sp = (void**)(top - 64);
  for (int i = 0; i < 6; ++i) sp[i] = NULL;
  sp[6] = (void*)rl_emu_fiber_main;
  sp[7] = NULL;
  rl_emu_fiber_sp[t] = sp;
  rl_emu.done[t] = 0;
}
static void rl_emu_enter_fiber(unsigned t) { rl_emu_switch(&rl_emu_scheduler_sp, rl_emu_fiber_sp[t]); }
static void rl_emu_leave_fiber(void) { rl_emu_switch(&rl_emu_fiber_sp[rl_emu.current], rl_emu_scheduler_sp); }
#else
/* Elsewhere, ucontext (getcontext and swapcontext return twice: kept out of loops, -Wclobbered). */
#include <ucontext.h>
static ucontext_t rl_emu_scheduler_context, rl_emu_fiber_context[RL_EMU_MAX_THREADS];
static __attribute__((noinline)) void rl_emu_start_fiber(unsigned t) {
  ucontext_t* c = &rl_emu_fiber_context[t];
  getcontext(c);
  c->uc_stack.ss_sp = RL_EMU_STACK(t);
  c->uc_stack.ss_size = RL_EMU_STACK_BYTES;
  c->uc_link = NULL;
  makecontext(c, rl_emu_fiber_main, 0);
  rl_emu.done[t] = 0;
}
static __attribute__((noinline)) void rl_emu_enter_fiber(unsigned t) {
  swapcontext(&rl_emu_scheduler_context, &rl_emu_fiber_context[t]);
}
static __attribute__((noinline)) void rl_emu_leave_fiber(void) {
  swapcontext(&rl_emu_fiber_context[rl_emu.current], &rl_emu_scheduler_context);
}
#endif

/* The running fiber gives the CPU back to the scheduler. */
static __attribute__((noinline)) void rl_emu_yield(void) {
  void* fake_stack = NULL;
  RL_EMU_SWITCH_START(&fake_stack, rl_emu.scheduler_stack, rl_emu.scheduler_stack_size);
  rl_emu_leave_fiber();
  RL_EMU_SWITCH_FINISH(fake_stack, &rl_emu.scheduler_stack, &rl_emu.scheduler_stack_size);
}

/* Arrive; wait (yielding) until `participants` threads have arrived. */
static void rl_emu_barrier(unsigned* arrived, unsigned* generation, unsigned participants) {
  unsigned g = *generation;
  ++rl_emu.events;
  if (++*arrived == participants) {
    *arrived = 0;
    ++*generation;
    return;
  }
  while (*generation == g) rl_emu_yield();
}

static inline void __syncthreads(void) {
  rl_emu_barrier(&rl_emu.block_arrived, &rl_emu.block_generation, rl_emu.threads);
}

static void rl_emu_warp_barrier(void) {
  unsigned warp = threadIdx.x / 32, first = warp * 32;
  unsigned lanes = rl_emu.threads - first < 32 ? rl_emu.threads - first : 32;
  rl_emu_barrier(&rl_emu.warp_arrived[warp], &rl_emu.warp_generation[warp], lanes);
}

/* __shfl_down_sync over the full warp: every lane publishes its value, then reads lane + delta's
 * (its own past the warp's end). */
template <typename T>
static T rl_shfl_down(T v, unsigned delta) {
  static_assert(sizeof(T) <= sizeof(unsigned long long), "a shuffle moves at most 64 bits");
  unsigned t = threadIdx.x, lane = t % 32;
  memcpy(&rl_emu.lane_value[t], &v, sizeof(T));
  rl_emu_warp_barrier();
  T r = v;
  if (lane + delta < 32 && t + delta < rl_emu.threads) memcpy(&r, &rl_emu.lane_value[t + delta], sizeof(T));
  rl_emu_warp_barrier();
  return r;
}

/* A fiber's whole life: the kernel for its thread, then back to the scheduler for good. */
static void rl_emu_fiber_main(void) {
  RL_EMU_SWITCH_FINISH(NULL, &rl_emu.scheduler_stack, &rl_emu.scheduler_stack_size);
  rl_emu.body(rl_emu.arg);
  rl_emu.done[rl_emu.current] = 1;
  ++rl_emu.events;
  RL_EMU_SWITCH_START(NULL, rl_emu.scheduler_stack, rl_emu.scheduler_stack_size); /* this fiber ends */
  rl_emu_leave_fiber();
  abort(); /* a finished fiber is never resumed */
}

template <typename F>
static void rl_emu_call(void* f) { (*(F*)f)(); }

static __attribute__((noinline)) void rl_emu_resume(unsigned t) {
  rl_emu.current = t;
  threadIdx = rl_dim3{t, 0, 0};
  void* fake_stack = NULL;
  RL_EMU_SWITCH_START(&fake_stack, RL_EMU_STACK(t), RL_EMU_STACK_BYTES);
  rl_emu_enter_fiber(t);
  RL_EMU_SWITCH_FINISH(fake_stack, NULL, NULL);
}

template <typename F>
static void rl_cuda_emulate_synced(unsigned blocks, unsigned threads, F run) {
  if (threads > RL_EMU_MAX_THREADS) abort();
  if (!rl_emu.stacks) rl_emu.stacks = (unsigned char*)malloc((size_t)RL_EMU_MAX_THREADS * RL_EMU_STACK_BYTES);
  if (!rl_emu.stacks) abort();
  gridDim = rl_dim3{blocks, 1, 1};
  blockDim = rl_dim3{threads, 1, 1};
  rl_emu.threads = threads;
  rl_emu.body = rl_emu_call<F>;
  rl_emu.arg = &run;
  for (unsigned b = 0; b < blocks; ++b) {
    blockIdx = rl_dim3{b, 0, 0};
    for (unsigned t = 0; t < threads; ++t) rl_emu_start_fiber(t);
    for (unsigned left = threads; left;) {
      unsigned long before = rl_emu.events;
      for (unsigned t = 0; t < threads; ++t) {
        if (rl_emu.done[t]) continue;
        rl_emu_resume(t);
        if (rl_emu.done[t]) --left;
      }
      if (left && rl_emu.events == before) {
        fprintf(stderr, "rl_cuda emulation: block %u deadlocked: its threads wait at a barrier not all of them reach\n", b);
        abort();
      }
    }
  }
}
#define RL_CUDA_LAUNCH_SYNCED(kernel, blocks, threads, stream, ...) \
  rl_cuda_emulate_synced((blocks), (threads), [&]() { kernel(__VA_ARGS__); })
/* Dynamic shared memory: one static buffer, as __shared__ variables are (a kernel checks its size),
 * 1024-byte aligned as the device's window is (wgmma's swizzle depends on address bits 4 to 9). */
#define RL_EMU_DYNAMIC_SHARED_BYTES (227u * 1024u)
[[maybe_unused]] static unsigned char rl_emu_dynamic_shared[RL_EMU_DYNAMIC_SHARED_BYTES] __attribute__((aligned(1024)));
#define RL_DYNAMIC_SHARED(name) unsigned char* name = rl_emu_dynamic_shared
#define RL_CUDA_LAUNCH_SHARED(kernel, blocks, threads, bytes, stream, ...) \
  do {                                                                  \
    if ((bytes) > RL_EMU_DYNAMIC_SHARED_BYTES) abort();                 \
    RL_CUDA_LAUNCH_SYNCED(kernel, blocks, threads, stream, __VA_ARGS__); \
  } while (0)
#else
#include <stdint.h>
#include <cuda_runtime.h>
#define RL_CUDA_LAUNCH(kernel, blocks, threads, stream, ...) kernel<<<(blocks), (threads), 0, (stream)>>>(__VA_ARGS__)
#define RL_CUDA_LAUNCH_SYNCED RL_CUDA_LAUNCH
/* A kernel's dynamic shared memory (the bytes its launch names), 16-byte aligned. */
#define RL_DYNAMIC_SHARED(name) extern __shared__ __align__(16) unsigned char name[]
/* A launch with `bytes` of dynamic shared memory; past 48 KB the kernel must be allowed them first. */
#define RL_CUDA_LAUNCH_SHARED(kernel, blocks, threads, bytes, stream, ...)                        \
  do {                                                                                         \
    cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)(bytes));   \
    kernel<<<(blocks), (threads), (bytes), (stream)>>>(__VA_ARGS__);                            \
  } while (0)
/* Unroll the loop that follows (fragment arrays indexed by its variable stay in registers);
 * RL_UNROLL_BY(n): n iterations at a time (their loads in flight together). */
#define RL_UNROLL _Pragma("unroll")
#define RL_UNROLL_PRAGMA(x) _Pragma(#x)
#define RL_UNROLL_BY(n) RL_UNROLL_PRAGMA(unroll n)
/* One tensor-core mma (sm_80 and later): see the emulation below for the fragment layouts. Not
 * volatile: it touches registers only, so the compiler may interleave it with the next fragments'
 * loads (ldmatrix and cp.async stay volatile: they touch shared memory, ordered by barriers). */
static __device__ __forceinline__ void rl_mma_m16n8k16_f16(float c[4], const uint32_t a[4], const uint32_t b[2]) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
static __device__ __forceinline__ void rl_mma_m16n8k16_bf16(float c[4], const uint32_t a[4], const uint32_t b[2]) {
  asm("mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, {%0,%1,%2,%3};"
               : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
               : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b[0]), "r"(b[1]));
}
/* ldmatrix (sm_75 and later): four 8 x 8 matrices of 16-bit elements from shared memory, lane
 * 8j + r giving the address of row r of matrix j; register j of every lane gets, of matrix j,
 * row lane / 4, columns 2 (lane % 4) and + 1 (low half first); `_trans`: the transpose's, i.e.
 * rows 2 (lane % 4) and + 1 of column lane / 4. These are the layouts of an mma.m16n8k16 A
 * fragment (rows of A) and of two B fragments (A's k rows, stored [k][n]). */
static __device__ __forceinline__ void rl_ldmatrix_x4(uint32_t r[4], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"((unsigned)__cvta_generic_to_shared(row)));
}
static __device__ __forceinline__ void rl_ldmatrix_x4_trans(uint32_t r[4], const void* row) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"((unsigned)__cvta_generic_to_shared(row)));
}
/* cp.async (sm_80 and later): 16 bytes global -> shared without passing through registers, the
 * destination zero-filled where `valid` is false (src-size 0: nothing is read); commit closes a
 * group of copies, wait<N> waits until at most N groups are still in flight. */
static __device__ __forceinline__ void rl_cp_async16(void* dst, const void* src, bool valid) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;" ::"r"((unsigned)__cvta_generic_to_shared(dst)),
               "l"(src), "r"(valid ? 16 : 0)
               : "memory");
}
static __device__ __forceinline__ void rl_cp_async_commit(void) { asm volatile("cp.async.commit_group;" ::: "memory"); }
template <int N>
static __device__ __forceinline__ void rl_cp_async_wait(void) {
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
}
/* wgmma (sm_90a: Hopper's warpgroup MMA): a warpgroup (four consecutive warps) multiplies a 64 x 16
 * A tile by a 16 x N B tile, both read from shared memory through 64-bit descriptors, adding into
 * f32 accumulators spread over its 128 threads as mma.m16n8's D fragments are (warp w of the group
 * rows 16w.., register 4j + i: row lane / 4 (+8 for i >= 2), column 8j + 2 (lane % 4) + i % 2).
 * Asynchronous: wgmma's are grouped by commit and waited for by wait<N> (at most N groups still in
 * flight); their accumulators and shared tiles must not be touched before. The tiles use the
 * 128-byte swizzle (16-byte chunk c of a 128-byte row at address bits 7..9 = r holds chunk c ^ r),
 * A K-major (rows of 64 k; SBO: bytes between 8-row groups), B MN-major (rows of 64 n; LBO: bytes
 * between 64-column groups, SBO: between 8-row k groups), tiles 1024-byte aligned. These are the
 * canonical layouts of the PTX ISA ("Shared Memory Matrix Layout", "Matrix Descriptor Format"). Only
 * an sm_90a build has them: elsewhere the helpers compile to nothing (no kernel calls them there). */
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define RL_WGMMA_ASM(x) asm volatile(x ::: "memory")
#else
#define RL_WGMMA_ASM(x) ((void)0)
#endif
static __device__ __forceinline__ void rl_wgmma_fence(void) { RL_WGMMA_ASM("wgmma.fence.sync.aligned;"); }
static __device__ __forceinline__ void rl_wgmma_commit(void) { RL_WGMMA_ASM("wgmma.commit_group.sync.aligned;"); }
template <int N>
static __device__ __forceinline__ void rl_wgmma_wait(void) {
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
  asm volatile("wgmma.wait_group.sync.aligned %0;" ::"n"(N) : "memory");
#endif
}
/* Shared memory written by ordinary stores or cp.async, before wgmma (the async proxy) reads it. */
static __device__ __forceinline__ void rl_fence_proxy_async(void) { RL_WGMMA_ASM("fence.proxy.async.shared::cta;"); }
/* Keeps the compiler from moving accesses of an accumulator across the asynchronous wgmma. */
static __device__ __forceinline__ void rl_wgmma_fence_operand(float& x) { asm volatile("" : "+f"(x)::"memory"); }
static __device__ __forceinline__ uint32_t rl_shared_offset(const void* p) { return (uint32_t)__cvta_generic_to_shared(p); }
#define RL_WGMMA_D0_63 \
  "%0, %1, %2, %3, %4, %5, %6, %7, %8, %9, %10, %11, %12, %13, %14, %15, %16, %17," \
  " %18, %19, %20, %21, %22, %23, %24, %25, %26, %27, %28, %29, %30, %31, %32, %33," \
  " %34, %35, %36, %37, %38, %39, %40, %41, %42, %43, %44, %45, %46, %47, %48, %49," \
  " %50, %51, %52, %53, %54, %55, %56, %57, %58, %59, %60, %61, %62, %63"
#define RL_WGMMA_D64_127 \
  ", %64, %65, %66, %67, %68, %69, %70, %71, %72, %73, %74, %75, %76, %77, %78, %79," \
  " %80, %81, %82, %83, %84, %85, %86, %87, %88, %89, %90, %91, %92, %93, %94, %95," \
  " %96, %97, %98, %99, %100, %101, %102, %103, %104, %105, %106, %107, %108, %109," \
  " %110, %111, %112, %113, %114, %115, %116, %117, %118, %119, %120, %121, %122," \
  " %123, %124, %125, %126, %127"
#define RL_WGMMA_F8(d, i) \
  "+f"(d[i]), "+f"(d[i + 1]), "+f"(d[i + 2]), "+f"(d[i + 3]), "+f"(d[i + 4]), "+f"(d[i + 5]), "+f"(d[i + 6]), "+f"(d[i + 7])
#define RL_WGMMA_F64(d, i)                                                                                   \
  RL_WGMMA_F8(d, i), RL_WGMMA_F8(d, i + 8), RL_WGMMA_F8(d, i + 16), RL_WGMMA_F8(d, i + 24), RL_WGMMA_F8(d, i + 32), \
      RL_WGMMA_F8(d, i + 40), RL_WGMMA_F8(d, i + 48), RL_WGMMA_F8(d, i + 56)
/* D (64 x N, f32) += A (64 x 16, K-major) * B (16 x N, MN-major), scale-d 1 (accumulate). */
#if defined(__CUDA_ARCH_FEAT_SM90_ALL)
#define RL_WGMMA_DEFINE(name, n, ab, regs, descs, one, ...)                                                    \
  static __device__ __forceinline__ void name(float* d, uint64_t a, uint64_t b) {                              \
    asm volatile("{\n.reg .pred p;\nsetp.ne.b32 p, " one ", 0;\nwgmma.mma_async.sync.aligned.m64n" n "k16.f32." ab \
                 " {" regs "}, " descs ", p, 1, 1, 0, 1;\n}\n"                                               \
                 : __VA_ARGS__                                                                                 \
                 : "l"(a), "l"(b), "r"(1));                                                                    \
  }
#else
#define RL_WGMMA_DEFINE(name, n, ab, regs, descs, one, ...) \
  static __device__ __forceinline__ void name(float* d, uint64_t a, uint64_t b) { (void)d, (void)a, (void)b; }
#endif
RL_WGMMA_DEFINE(rl_wgmma_m64n128k16_f16, "128", "f16.f16", RL_WGMMA_D0_63, "%64, %65", "%66", RL_WGMMA_F64(d, 0))
RL_WGMMA_DEFINE(rl_wgmma_m64n128k16_bf16, "128", "bf16.bf16", RL_WGMMA_D0_63, "%64, %65", "%66", RL_WGMMA_F64(d, 0))
RL_WGMMA_DEFINE(rl_wgmma_m64n256k16_f16, "256", "f16.f16", RL_WGMMA_D0_63 RL_WGMMA_D64_127, "%128, %129", "%130",
                RL_WGMMA_F64(d, 0), RL_WGMMA_F64(d, 64))
RL_WGMMA_DEFINE(rl_wgmma_m64n256k16_bf16, "256", "bf16.bf16", RL_WGMMA_D0_63 RL_WGMMA_D64_127, "%128, %129", "%130",
                RL_WGMMA_F64(d, 0), RL_WGMMA_F64(d, 64))
/* __shfl_down_sync over the full warp; narrower types than int travel as int. */
template <typename T>
static __device__ __forceinline__ T rl_shfl_down(T v, unsigned delta) {
  if constexpr (sizeof(T) < sizeof(int)) return (T)__shfl_down_sync(0xffffffffu, (int)v, delta);
  else return __shfl_down_sync(0xffffffffu, v, delta);
}
#endif

#include "rl.h"


#ifdef RL_CUDA_HOST_EMULATION
/* mma.sync.aligned.m16n8k16.row.col.f32.{f16,bf16}: D = A (16 x 16) * B (16 x 8) + C, f32
 * accumulation, each lane holding the fragments the PTX ISA lays out ("Matrix Fragments for
 * mma.m16n8k16 with floating point type"): with g = lane / 4 and q = lane % 4, A element i (two
 * per 32-bit register, low half first) is row g (+8 for i in 2, 3, 6, 7), column 2q + i % 2
 * (+8 for i >= 4); B element i is row 2q + i % 2 (+8 for i >= 2), column g; C/D element i is row g
 * (+8 for i >= 2), column 2q + i % 2. Every lane publishes its fragments, then computes its own
 * D elements from the lanes holding the A row and B column (k in order, fmaf). */
static uint32_t rl_emu_mma_a[RL_EMU_MAX_THREADS][4], rl_emu_mma_b[RL_EMU_MAX_THREADS][2];
static inline float rl_emu_half_bits(uint16_t h, bool bf16) { return bf16 ? rl_bf16_to_f32(h) : rl_f16_to_f32(h); }
static inline void rl_emu_mma_m16n8k16(float c[4], const uint32_t a[4], const uint32_t b[2], bool bf16) {
  unsigned t = threadIdx.x, first = t / 32 * 32, lane = t % 32;
  memcpy(rl_emu_mma_a[t], a, sizeof(uint32_t) * 4);
  memcpy(rl_emu_mma_b[t], b, sizeof(uint32_t) * 2);
  rl_emu_warp_barrier();
  for (int i = 0; i < 4; ++i) {
    unsigned row = lane / 4 + (i >= 2 ? 8 : 0), col = 2 * (lane % 4) + i % 2;
    float d = c[i];
    for (unsigned k = 0; k < 16; ++k) {
      unsigned ai = k % 2 + (row >= 8 ? 2 : 0) + (k >= 8 ? 4 : 0), bi = k % 2 + (k >= 8 ? 2 : 0);
      unsigned a_lane = (row % 8) * 4 + (k % 8) / 2, b_lane = col * 4 + (k % 8) / 2;
      uint16_t x = (uint16_t)(rl_emu_mma_a[first + a_lane][ai / 2] >> (16 * (ai % 2)));
      uint16_t y = (uint16_t)(rl_emu_mma_b[first + b_lane][bi / 2] >> (16 * (bi % 2)));
      d = fmaf(rl_emu_half_bits(x, bf16), rl_emu_half_bits(y, bf16), d);
    }
    c[i] = d;
  }
  rl_emu_warp_barrier();
}
/* ldmatrix: every lane publishes its row address, then reads its elements from the rows its
 * warp's lanes gave (the layouts above, at the device definitions). */
static inline void rl_emu_ldmatrix_x4(uint32_t r[4], const void* row, bool trans) {
  unsigned t = threadIdx.x, first = t / 32 * 32, lane = t % 32;
  rl_emu.lane_value[t] = (unsigned long long)(uintptr_t)row;
  rl_emu_warp_barrier();
  for (unsigned j = 0; j < 4; ++j) {
    uint16_t e[2];
    for (unsigned h = 0; h < 2; ++h) {
      unsigned rw = trans ? 2 * (lane % 4) + h : lane / 4, col = trans ? lane / 4 : 2 * (lane % 4) + h;
      memcpy(&e[h], (const uint16_t*)(uintptr_t)rl_emu.lane_value[first + 8 * j + rw] + col, sizeof e[h]);
    }
    r[j] = (uint32_t)e[0] | ((uint32_t)e[1] << 16);
  }
  rl_emu_warp_barrier();
}
#define rl_ldmatrix_x4(r, row) rl_emu_ldmatrix_x4(r, row, false)
#define rl_ldmatrix_x4_trans(r, row) rl_emu_ldmatrix_x4(r, row, true)
/* cp.async: the copy (or the zero fill) happens at once, so waiting has nothing left to wait for. */
static inline void rl_cp_async16(void* dst, const void* src, bool valid) {
  if (valid) memcpy(dst, src, 16);
  else memset(dst, 0, 16);
}
static inline void rl_cp_async_commit(void) {}
template <int N>
static inline void rl_cp_async_wait(void) {}
#define rl_mma_m16n8k16_f16(c, a, b) rl_emu_mma_m16n8k16(c, a, b, false)
#define rl_mma_m16n8k16_bf16(c, a, b) rl_emu_mma_m16n8k16(c, a, b, true)
/* wgmma: each thread queues its share of a warpgroup's products (its own D elements) and computes
 * them when a wait lets fewer groups than it has committed stay in flight, reading the shared tiles
 * then, not at issue: a kernel that overwrites a tile before waiting for the wgmma reading it gets
 * wrong results here too. The descriptors are decoded as the PTX ISA states (see the device
 * definitions above); k in order, fmaf. */
#define RL_EMU_WGMMA_QUEUE 16
struct rl_emu_wgmma_op {
  float* d;
  uint64_t a, b;
  unsigned n, group;
  bool bf16;
};
static rl_emu_wgmma_op rl_emu_wgmma_ops[RL_EMU_MAX_THREADS][RL_EMU_WGMMA_QUEUE];
static unsigned rl_emu_wgmma_queued[RL_EMU_MAX_THREADS], rl_emu_wgmma_groups[RL_EMU_MAX_THREADS];
static inline uint32_t rl_shared_offset(const void* p) {
  const unsigned char* c = (const unsigned char*)p;
  if (c < rl_emu_dynamic_shared || c >= rl_emu_dynamic_shared + RL_EMU_DYNAMIC_SHARED_BYTES) abort();
  return (uint32_t)(c - rl_emu_dynamic_shared);
}
/* The 16-bit element at byte `offset` of a 128-byte-swizzled tile: chunk bits 4..6 ^= bits 7..9. */
static inline uint16_t rl_emu_swizzled(uint32_t offset) {
  uint16_t h;
  memcpy(&h, rl_emu_dynamic_shared + (offset ^ (((offset >> 7) & 7) << 4)), sizeof h);
  return h;
}
static inline void rl_emu_wgmma_run(const rl_emu_wgmma_op& op, unsigned t) {
  if (op.a >> 62 != 1 || op.b >> 62 != 1) abort(); /* only the 128-byte swizzle is emulated */
  const uint32_t a_start = (uint32_t)(op.a & 0x3FFF) << 4, a_sbo = (uint32_t)(op.a >> 32 & 0x3FFF) << 4;
  const uint32_t b_start = (uint32_t)(op.b & 0x3FFF) << 4, b_lbo = (uint32_t)(op.b >> 16 & 0x3FFF) << 4;
  const uint32_t b_sbo = (uint32_t)(op.b >> 32 & 0x3FFF) << 4;
  const unsigned warp = t % 128 / 32, lane = t % 32;
  for (unsigned v = 0; v < op.n / 2; ++v) {
    const unsigned row = warp * 16 + lane / 4 + (v & 2 ? 8 : 0), col = v / 4 * 8 + lane % 4 * 2 + v % 2;
    float d = op.d[v];
    for (unsigned k = 0; k < 16; ++k) {
      uint16_t x = rl_emu_swizzled(a_start + row / 8 * a_sbo + row % 8 * 128 + k * 2);
      uint16_t y = rl_emu_swizzled(b_start + col / 64 * b_lbo + k / 8 * b_sbo + k % 8 * 128 + col % 64 * 2);
      d = fmaf(rl_emu_half_bits(x, op.bf16), rl_emu_half_bits(y, op.bf16), d);
    }
    op.d[v] = d;
  }
}
static inline void rl_emu_wgmma(float* d, uint64_t a, uint64_t b, unsigned n, bool bf16) {
  unsigned t = threadIdx.x;
  if (rl_emu_wgmma_queued[t] == RL_EMU_WGMMA_QUEUE) abort();
  rl_emu_wgmma_ops[t][rl_emu_wgmma_queued[t]++] = rl_emu_wgmma_op{d, a, b, n, rl_emu_wgmma_groups[t], bf16};
}
static inline void rl_wgmma_fence(void) {}
static inline void rl_wgmma_commit(void) { ++rl_emu_wgmma_groups[threadIdx.x]; }
template <int N>
static inline void rl_wgmma_wait(void) {
  unsigned t = threadIdx.x, kept = 0;
  for (unsigned i = 0; i < rl_emu_wgmma_queued[t]; ++i) {
    const rl_emu_wgmma_op& op = rl_emu_wgmma_ops[t][i];
    if (op.group + N < rl_emu_wgmma_groups[t]) rl_emu_wgmma_run(op, t);
    else rl_emu_wgmma_ops[t][kept++] = op;
  }
  rl_emu_wgmma_queued[t] = kept;
}
static inline void rl_fence_proxy_async(void) {}
static inline void rl_wgmma_fence_operand(float&) {}
#define rl_wgmma_m64n128k16_f16(d, a, b) rl_emu_wgmma(d, a, b, 128, false)
#define rl_wgmma_m64n128k16_bf16(d, a, b) rl_emu_wgmma(d, a, b, 128, true)
#define rl_wgmma_m64n256k16_f16(d, a, b) rl_emu_wgmma(d, a, b, 256, false)
#define rl_wgmma_m64n256k16_bf16(d, a, b) rl_emu_wgmma(d, a, b, 256, true)
#endif

/* The wgmma descriptor of a 128-byte-swizzled tile at `tile` in shared memory (offsets in bytes). */
static __device__ inline uint64_t rl_wgmma_desc(const void* tile, uint32_t lbo, uint32_t sbo) {
  return (uint64_t)((rl_shared_offset(tile) & 0x3FFFF) >> 4) | (uint64_t)(lbo >> 4 & 0x3FFF) << 16 |
         (uint64_t)(sbo >> 4 & 0x3FFF) << 32 | 1ull << 62;
}

/* Four consecutive elements, aligned to their size: one 128-bit load or store for 4-byte types
 * (elementwise loops, src/emit-cuda/vector-io.ts). */
template <typename T>
struct alignas(4 * sizeof(T)) rl_vec4 {
  T v[4];
};

/* Threads per block of a grid-stride kernel, and blocks for n iterations: a thread for every
 * iteration, or for every 4 from a million on (the generated loops take 4 per pass, their loads
 * together), capped (the loop strides over the rest). */
#define RL_CUDA_BLOCK 256
#define RL_CUDA_MAX_BLOCKS 65535
static inline unsigned rl_cuda_blocks(int64_t n) {
  int64_t per = n >= (1 << 20) ? 4 : 1;
  int64_t b = (n + RL_CUDA_BLOCK * per - 1) / (RL_CUDA_BLOCK * per);
  return b < 1 ? 1u : b > RL_CUDA_MAX_BLOCKS ? (unsigned)RL_CUDA_MAX_BLOCKS : (unsigned)b;
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
