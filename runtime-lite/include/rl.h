/* runtime-lite: the tiny static runtime of xla-aot generated code.
 * Standalone: needs only <stdint.h>, <stddef.h>, <string.h> and, for float math, <math.h>.
 * No allocation, no globals, no OS. Versioned like a schema: RL_ABI_VERSION changes when the
 * generated-code ABI below changes. */
#ifndef RL_H
#define RL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RL_ABI_VERSION 1

/* Loop counters and element indexes of generated kernels: the machine's word. Every tensor has
 * fewer than 2^31 elements (the importer refuses larger), so 32 bits suffice on 32-bit targets,
 * where 64-bit counters cost several instructions per loop step. */
typedef ptrdiff_t rl_index_t;

typedef enum { RL_OK = 0, RL_INVALID_ARGUMENT, RL_OUT_OF_RANGE, RL_UNAVAILABLE, RL_INTERNAL } rl_status_t;

typedef enum {
  RL_I1, RL_I8, RL_I16, RL_I32, RL_I64, RL_U8, RL_U16, RL_U32, RL_U64, RL_F16, RL_BF16, RL_F32, RL_F64, RL_C64, RL_C128
} rl_dtype_t;

/** Shape and type of one model input or output. */
typedef struct {
  const char* name;
  rl_dtype_t dtype;
  uint32_t rank;
  const int64_t* dims;
  size_t bytes;
} rl_tensor_info_t;

/** A compiled model: tables describing its I/O, and its entry point. */
typedef struct {
  uint32_t abi_version;
  const char* name;
  const char* compiler_version;
  uint32_t num_inputs;
  const rl_tensor_info_t* inputs;
  uint32_t num_outputs;
  const rl_tensor_info_t* outputs;
  size_t arena_bytes;     /* caller allocates; generated code never allocates */
  size_t arena_alignment;
  rl_status_t (*run)(const void* const* inputs, void* const* outputs, void* arena);
} rl_model_t;

/** The app's host feeds, for models whose StableHLO reads an infeed or writes an outfeed: bound
 * to an arena with <prefix>_bind_feeds. Every infeed op calls `infeed` once with its results'
 * buffers and sizes, to be filled with the next values of the app's queue; every outfeed op calls
 * `outfeed` once with its operands'. Both run on the thread (device) that runs the model and
 * return RL_OK, or an error that ends the run with that status. */
typedef struct {
  rl_status_t (*infeed)(void* user, uint32_t count, void* const* buffers, const size_t* bytes);
  rl_status_t (*outfeed)(void* user, uint32_t count, const void* const* buffers, const size_t* bytes);
  void* user;
} rl_feeds_t;

/* Each kernel stays a function of its own (one per op or fusion group): per-kernel code size in
 * `--report`, per-kernel time in a profiler, and no gain from inlining a whole loop nest into run. */
#if defined(__GNUC__)
#define RL_KERNEL static __attribute__((noinline))
#else
#define RL_KERNEL static
#endif

/* ---- scalar helpers used by generated kernels (semantics match the StableHLO spec / XLA) ---- */

/* Plain static inline functions in C; compiled as CUDA they are callable on the host and the device. */
#if defined(__CUDACC__)
#define RL_FN static inline __host__ __device__
#else
#define RL_FN static inline
#endif

/* f16 and bf16 are stored as uint16_t bit patterns and computed in float. */
RL_FN float rl_f16_to_f32(uint16_t h) {
#if defined(__CUDA_ARCH__)
  /* On the GPU one conversion instruction (exact: every f16 value is an f32 value). */
  float r;
  asm("cvt.f32.f16 %0, %1;" : "=f"(r) : "h"(h));
  return r;
#else
  uint32_t sign = (uint32_t)(h & 0x8000u) << 16, exp = (h >> 10) & 0x1fu, man = h & 0x3ffu, bits;
  if (exp == 0x1fu) bits = sign | 0x7f800000u | (man << 13);
  else if (exp != 0) bits = sign | ((exp + 112u) << 23) | (man << 13);
  else if (man == 0) bits = sign;
  else {
    int e = -1;
    do { e++; man <<= 1; } while ((man & 0x400u) == 0);
    bits = sign | ((uint32_t)(112 - e) << 23) | ((man & 0x3ffu) << 13);
  }
  float f;
  memcpy(&f, &bits, 4);
  return f;
#endif
}

RL_FN uint16_t rl_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  uint32_t sign = (x >> 16) & 0x8000u, exp = (x >> 23) & 0xffu, man = x & 0x7fffffu;
  if (exp == 0xffu) return (uint16_t)(sign | 0x7c00u | (man ? 0x200u | (man >> 13) : 0u));
  int e = (int)exp - 127 + 15;
  if (e >= 0x1f) return (uint16_t)(sign | 0x7c00u);
  if (e <= 0) {
    if (e < -10) return (uint16_t)sign;
    man |= 0x800000u;
    uint32_t shift = (uint32_t)(14 - e), half = 1u << (shift - 1), rest = man & ((1u << shift) - 1u);
    uint32_t h = man >> shift;
    if (rest > half || (rest == half && (h & 1u))) h++;
    return (uint16_t)(sign | h);
  }
  uint32_t h = ((uint32_t)e << 10) | (man >> 13), rest = man & 0x1fffu;
  if (rest > 0x1000u || (rest == 0x1000u && (h & 1u))) h++; /* may carry into the exponent: correct */
  return (uint16_t)(sign | h);
}

RL_FN float rl_bf16_to_f32(uint16_t h) {
  uint32_t bits = (uint32_t)h << 16;
  float f;
  memcpy(&f, &bits, 4);
  return f;
}

RL_FN uint16_t rl_f32_to_bf16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40u); /* quiet NaN */
  x += 0x7fffu + ((x >> 16) & 1u);
  return (uint16_t)(x >> 16);
}

/* acc + a * b of contractions that accumulate in f32 (targets whose FPU is single precision or
 * absent): one fused VFMA where the FPU has an f32 FMA, two roundings otherwise (no libm call). */
#if defined(__FP_FAST_FMAF)
#define rl_fmaf(a, b, acc) __builtin_fmaf((a), (b), (acc))
#else
#define rl_fmaf(a, b, acc) ((a) * (b) + (acc))
#endif

/* Integer GEMM micro-kernels (emit-c/int-gemm.ts): acc + x.lo * y.lo + x.hi * y.hi on 16-bit halves,
 * wrapping as StableHLO's integer dot does; one SMLAD on cores with the DSP extension. */
#if defined(__ARM_FEATURE_DSP) && !defined(__CUDACC__)
#include <arm_acle.h>
#define rl_smlad(x, y, acc) __smlad((int32_t)(x), (int32_t)(y), (acc))
#else
RL_FN int32_t rl_smlad(uint32_t x, uint32_t y, int32_t acc) {
  const int32_t lo = (int32_t)(int16_t)(uint16_t)x * (int16_t)(uint16_t)y;
  const int32_t hi = (int32_t)(int16_t)(uint16_t)(x >> 16) * (int16_t)(uint16_t)(y >> 16);
  return (int32_t)((uint32_t)acc + (uint32_t)lo + (uint32_t)hi);
}
#endif
/* Four int8 in a word (k0..k3, k0 lowest) as two words of sign-extended 16-bit halves, (k0, k2)
 * and (k1, k3): two SMLAD operands from one load (CMSIS-NN's SXTB16 step; the weights are packed
 * to match). rl_load2 reads two words and advances p past them: one LDRD, which gcc does not form
 * from two loads itself. */
#if defined(__ARM_FEATURE_DSP) && defined(__GNUC__) && !defined(__CUDACC__)
#define rl_sxtb16(w) ((uint32_t)__sxtb16((int32_t)(w)))
RL_FN uint32_t rl_sxtb16_ror8(uint32_t w) {
  uint32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(w));
  return r;
}
#define rl_load2(p, lo, hi) __asm__("ldrd %0, %1, [%2], #8" : "=r"(lo), "=r"(hi), "+r"(p) : "m"(*(const uint32_t(*)[2])(p)))
/* The DSP micro-kernel's step for four columns (emit-c/int-gemm-mcu.ts fourColumnSteps): A's
 * four k as pair words x0, x1 against each column's two pair words (B packed column after
 * column), eight SMLAD; B's eight words come in two LDMs and p advances past them. One asm
 * statement, so the loads stay two instructions (gcc formed LDRDs at best: 4) and nothing moves
 * between steps.
 * r7 (Thumb's frame pointer) and r9 (the platform register) are left alone; "memory" rather than
 * a memory operand, whose address would take one more register. */
#define rl_dsp_step4(x0, x1, p, c0, c1, c2, c3)                                                \
  __asm__("ldmia %[pb]!, {r4, r5, r6, r8}\n\t"                                              \
          "smlad %[s0], %[u], r4, %[s0]\n\t"                                                \
          "smlad %[s0], %[v], r5, %[s0]\n\t"                                                \
          "smlad %[s1], %[u], r6, %[s1]\n\t"                                                \
          "smlad %[s1], %[v], r8, %[s1]\n\t"                                                \
          "ldmia %[pb]!, {r4, r5, r6, r8}\n\t"                                              \
          "smlad %[s2], %[u], r4, %[s2]\n\t"                                                \
          "smlad %[s2], %[v], r5, %[s2]\n\t"                                                \
          "smlad %[s3], %[u], r6, %[s3]\n\t"                                                \
          "smlad %[s3], %[v], r8, %[s3]"                                                      \
          : [pb] "+r"(p), [s0] "+r"(c0), [s1] "+r"(c1), [s2] "+r"(c2), [s3] "+r"(c3)           \
          : [u] "r"(x0), [v] "r"(x1)                                                          \
          : "r4", "r5", "r6", "r8", "memory")
/* The first step: SMUAD starts each column's sum (no accumulators to zero first). */
#define rl_dsp_first4(x0, x1, p, c0, c1, c2, c3)                                               \
  __asm__("ldmia %[pb]!, {r4, r5, r6, r8}\n\t"                                              \
          "smuad %[s0], %[u], r4\n\t"                                                       \
          "smlad %[s0], %[v], r5, %[s0]\n\t"                                                \
          "smuad %[s1], %[u], r6\n\t"                                                       \
          "smlad %[s1], %[v], r8, %[s1]\n\t"                                                \
          "ldmia %[pb]!, {r4, r5, r6, r8}\n\t"                                              \
          "smuad %[s2], %[u], r4\n\t"                                                       \
          "smlad %[s2], %[v], r5, %[s2]\n\t"                                                \
          "smuad %[s3], %[u], r6\n\t"                                                       \
          "smlad %[s3], %[v], r8, %[s3]"                                                      \
          : [pb] "+r"(p), [s0] "=&r"(c0), [s1] "=&r"(c1), [s2] "=&r"(c2), [s3] "=&r"(c3)       \
          : [u] "r"(x0), [v] "r"(x1)                                                          \
          : "r4", "r5", "r6", "r8", "memory")
/* n bytes (a multiple of 4, dst word-aligned) 16 at a time by LDM/STM of four words: a
 * convolution window's rows into scratch (newlib's memcpy took 0.7 instructions a byte). An
 * image that is not on a word (a caller's input buffer: the API does not align those; LDM would
 * fault) goes to memcpy. volatile: the stores are its only effect, which gcc does not see in the
 * operands. */
RL_FN void rl_copy_words(void* restrict dst, const void* restrict src, uint32_t n) {
  if ((uintptr_t)src % 4 != 0) {
    memcpy(dst, src, n);
    return;
  }
  uint32_t* restrict d = (uint32_t*)dst;
  const uint32_t* restrict s = (const uint32_t*)src;
#pragma GCC unroll 8
  for (uint32_t i = 0; i + 16 <= n; i += 16)
    __asm__ volatile("ldmia %[ps]!, {r4, r5, r6, r8}\n\tstmia %[pd]!, {r4, r5, r6, r8}"
            : [ps] "+r"(s), [pd] "+r"(d)
            :
            : "r4", "r5", "r6", "r8", "memory");
  for (uint32_t i = n & ~15u; i < n; i += 4) *d++ = *s++;
}
/* A last pair of k (or a single k, its high halves zero) for four columns: one LDM, four SMLAD. */
#define rl_dsp_pair4(x0, p, c0, c1, c2, c3)                                                     \
  __asm__("ldmia %[pb]!, {r4, r5, r6, r8}\n\t"                                              \
          "smlad %[s0], %[u], r4, %[s0]\n\t"                                                \
          "smlad %[s1], %[u], r5, %[s1]\n\t"                                                \
          "smlad %[s2], %[u], r6, %[s2]\n\t"                                                \
          "smlad %[s3], %[u], r8, %[s3]"                                                      \
          : [pb] "+r"(p), [s0] "+r"(c0), [s1] "+r"(c1), [s2] "+r"(c2), [s3] "+r"(c3)           \
          : [u] "r"(x0)                                                                       \
          : "r4", "r5", "r6", "r8", "memory")
#else
RL_FN uint32_t rl_sxtb16(uint32_t w) { return (uint32_t)(uint16_t)(int16_t)(int8_t)w | (uint32_t)(uint16_t)(int16_t)(int8_t)(w >> 16) << 16; }
RL_FN uint32_t rl_sxtb16_ror8(uint32_t w) { return rl_sxtb16(w >> 8 | w << 24); }
#define rl_load2(p, lo, hi) ((lo) = (p)[0], (hi) = (p)[1], (p) += 2)
#define rl_dsp_step4(x0, x1, p, c0, c1, c2, c3)                                       \
  ((c0) = rl_smlad(x0, (p)[0], c0), (c0) = rl_smlad(x1, (p)[1], c0), (c1) = rl_smlad(x0, (p)[2], c1), \
   (c1) = rl_smlad(x1, (p)[3], c1), (c2) = rl_smlad(x0, (p)[4], c2), (c2) = rl_smlad(x1, (p)[5], c2), \
   (c3) = rl_smlad(x0, (p)[6], c3), (c3) = rl_smlad(x1, (p)[7], c3), (p) += 8)
#define rl_dsp_first4(x0, x1, p, c0, c1, c2, c3) \
  ((c0) = (c1) = (c2) = (c3) = 0, rl_dsp_step4(x0, x1, p, c0, c1, c2, c3))
#define rl_copy_words(dst, src, n) memcpy(dst, src, n)
#define rl_dsp_pair4(x0, p, c0, c1, c2, c3)                                                   \
  ((c0) = rl_smlad(x0, (p)[0], c0), (c1) = rl_smlad(x0, (p)[1], c1), (c2) = rl_smlad(x0, (p)[2], c2), \
   (c3) = rl_smlad(x0, (p)[3], c3), (p) += 4)
#endif
RL_FN uint32_t rl_word(const void* p) { uint32_t v; memcpy(&v, p, 4); return v; } /* one (unaligned) load */
/* Two consecutive 8- or 16-bit values as the 16-bit halves of a word (the first one low). */
RL_FN uint32_t rl_pair_i8(const int8_t* p) { return (uint32_t)(uint16_t)(int16_t)p[0] | (uint32_t)(uint16_t)(int16_t)p[1] << 16; }
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
RL_FN uint32_t rl_pair_i16(const int16_t* p) { uint32_t v; memcpy(&v, p, 4); return v; } /* one (unaligned) load */
#else
RL_FN uint32_t rl_pair_i16(const int16_t* p) { return (uint32_t)(uint16_t)p[0] | (uint32_t)(uint16_t)p[1] << 16; }
#endif

/* StableHLO maximum/minimum: NaN if either operand is NaN, and +0 > -0. Branch-free (bit selects
 * around the compare), so data-dependent maxima (pooling, ReLU) cost no mispredictions; on
 * M-profile cores (in order, no branch predictor to miss) two compares and branches settle the
 * usual case in a third of the instructions, with the same results. */
#if defined(__ARM_ARCH_PROFILE) && __ARM_ARCH_PROFILE == 'M'
#define RL_MINMAX(NAME, T, U, QNAN, CMP, MERGE)                                                   \
  RL_FN T NAME(T a, T b) {                                                              \
    if (a CMP b) return a;                                                                      \
    if (b CMP a) return b;                                                                      \
    U bits = QNAN, ba, bb;                                                                      \
    if (a == b) {                                                                               \
      memcpy(&ba, &a, sizeof a);                                                                \
      memcpy(&bb, &b, sizeof b);                                                                \
      bits = ba MERGE bb; /* equal: max ANDs the sign bits, min ORs them */                     \
    }                                                                                           \
    memcpy(&a, &bits, sizeof a);                                                                \
    return a;                                                                                   \
  }
#else
#define RL_MINMAX(NAME, T, U, QNAN, CMP, MERGE)                                                   \
  RL_FN T NAME(T a, T b) {                                                              \
    T m = a CMP b ? a : b;                                                                      \
    U bm, ba, bb;                                                                               \
    memcpy(&bm, &m, sizeof m);                                                                  \
    memcpy(&ba, &a, sizeof a);                                                                  \
    memcpy(&bb, &b, sizeof b);                                                                  \
    const U eq = (U)0 - (U)(a == b), nan = (U)0 - (U)((a != a) | (b != b));                     \
    bm = (bm & ~eq) | ((ba MERGE bb) & eq); /* equal: max ANDs the sign bits, min ORs them */    \
    bm = (bm & ~nan) | (QNAN & nan);                                                            \
    memcpy(&m, &bm, sizeof m);                                                                  \
    return m;                                                                                   \
  }
#endif
RL_MINMAX(rl_max, double, uint64_t, UINT64_C(0x7ff8000000000000), >, &)
RL_MINMAX(rl_min, double, uint64_t, UINT64_C(0x7ff8000000000000), <, |)
RL_MINMAX(rl_maxf, float, uint32_t, UINT32_C(0x7fc00000), >, &)
RL_MINMAX(rl_minf, float, uint32_t, UINT32_C(0x7fc00000), <, |)
/* Unsigned comparisons (stablehlo.compare on unsigned or boolean values, or UNSIGNED) go through
 * functions: fused loops spell splat operands as literals, and gcc rejects `x < 0u` as always
 * false (-Wtype-limits) under -Werror. */
RL_FN int rl_ucmp_eq(uint64_t a, uint64_t b) { return a == b; }
RL_FN int rl_ucmp_ne(uint64_t a, uint64_t b) { return a != b; }
RL_FN int rl_ucmp_lt(uint64_t a, uint64_t b) { return a < b; }
RL_FN int rl_ucmp_le(uint64_t a, uint64_t b) { return a <= b; }
RL_FN int rl_ucmp_gt(uint64_t a, uint64_t b) { return a > b; }
RL_FN int rl_ucmp_ge(uint64_t a, uint64_t b) { return a >= b; }
/* Random numbers of stablehlo.rng: Threefry-2x32 with 20 rounds, the generator of the reference
 * interpreter (src/ops/random.ts), so compiled and interpreted programs draw identical numbers. */
RL_FN void rl_threefry2x32(uint32_t k0, uint32_t k1, uint32_t c0, uint32_t c1, uint32_t out[2]) {
  static const int rot[8] = {13, 15, 26, 6, 17, 29, 16, 24};
  const uint32_t ks[3] = {k0, k1, 0x1bd11bdau ^ k0 ^ k1};
  uint32_t x0 = c0 + ks[0], x1 = c1 + ks[1];
  for (int r = 0; r < 20; ++r) {
    x0 += x1;
    x1 = (x1 << rot[r % 8]) | (x1 >> (32 - rot[r % 8]));
    x1 ^= x0;
    if (r % 4 == 3) {
      const uint32_t i = (uint32_t)(r + 1) / 4u;
      x0 += ks[i % 3u];
      x1 += ks[(i + 1u) % 3u] + i;
    }
  }
  out[0] = x0;
  out[1] = x1;
}
/* Uniform in [0, 1) from 53 bits: element `index` of the op keyed `key`, draw `pair`. */
RL_FN double rl_uniform01(uint32_t key, uint64_t index, uint32_t pair) {
  uint32_t w[2];
  rl_threefry2x32(key, pair, (uint32_t)index, (uint32_t)(index >> 32), w);
  return ((double)(w[0] >> 5) * 67108864.0 + (double)(w[1] >> 6)) / 9007199254740992.0;
}
RL_FN double rl_sign(double x) { return x != x ? x : (x > 0 ? 1.0 : (x < 0 ? -1.0 : x)); }
RL_FN double rl_round_afz(double x) { return round(x); }
RL_FN double rl_round_even(double x) { return nearbyint(x); }
RL_FN double rl_logistic(double x) { return 1.0 / (1.0 + exp(-x)); }
RL_FN float rl_logisticf(float x) { return 1.0f / (1.0f + expf(-x)); }
RL_FN double rl_pow(double a, double b) { return pow(a, b); }

/* Integer helpers, one set per width, wrap-around semantics via unsigned arithmetic. */
#define RL_INT_COMMON(T, U, BITS)                                                                  \
  RL_FN T rl_add_##T(T a, T b) { return (T)((U)a + (U)b); }                               \
  RL_FN T rl_sub_##T(T a, T b) { return (T)((U)a - (U)b); }                               \
  RL_FN T rl_mul_##T(T a, T b) { return (T)((U)a * (U)b); }                               \
  RL_FN T rl_neg_##T(T a) { return (T)(0u - (U)a); }                                      \
  /* max/min as functions: a literal bound (0) compared inline with an unsigned value would trip -Wtype-limits */ \
  RL_FN T rl_imax_##T(T a, T b) { return a > b ? a : b; }                                 \
  RL_FN T rl_imin_##T(T a, T b) { return a < b ? a : b; }                                 \
  RL_FN T rl_shl_##T(T a, T b) { return ((U)b >= (BITS)) ? (T)0 : (T)((U)a << (U)b); }  \
  RL_FN T rl_shrl_##T(T a, T b) { return ((U)b >= (BITS)) ? (T)0 : (T)((U)a >> (U)b); } \
  RL_FN T rl_popcnt_##T(T a) { U v = (U)a; T c = 0; while (v) { c = (T)(c + (T)(v & 1u)); v = (U)(v >> 1); } return c; } \
  RL_FN T rl_clz_##T(T a) { U v = (U)a; T n = 0; for (int i = (BITS) - 1; i >= 0 && !((v >> i) & 1u); i--) n++; return n; } \
  RL_FN T rl_upow_##T(U base, U e) { U r = 1; while (e) { if (e & 1u) r = (U)(r * base); base = (U)(base * base); e = (U)(e >> 1); } return (T)r; }

/* An i32 saturated to the signed range of `bits` (a literal, 1 < bits < 32): clamp(-2^(bits-1),
 * x, 2^(bits-1) - 1), one SSAT on Arm cores with the saturation instructions (v7-M and up, not v6-M). */
#if defined(__ARM_FEATURE_SAT) && !defined(__CUDACC__)
#include <arm_acle.h>
#define rl_ssat_int32(x, bits) ((int32_t)__ssat((x), (bits)))
#else
#define rl_ssat_int32(x, bits) \
  rl_imin_int32_t(rl_imax_int32_t((x), (int32_t)-(INT32_C(1) << ((bits) - 1))), (int32_t)((INT32_C(1) << ((bits) - 1)) - 1))
#endif

/* Arithmetic shift right of a signed value by 0 <= b < its width. gcc and clang define >> of a
 * negative value as sign-extending (gcc manual, "Integers implementation"): one instruction.
 * Elsewhere the complement is shifted, so the vacated bits fill with ones after ~. */
#if defined(__GNUC__)
#define RL_ASR(T, U, a, b) ((T)((a) >> (U)(b)))
#else
#define RL_ASR(T, U, a, b) ((a) < 0 ? (T)(U)~(U)((U)~(U)(a) >> (U)(b)) : (T)((U)(a) >> (U)(b)))
#endif

#define RL_INT_SIGNED(T, U, BITS, MIN)                                                             \
  RL_INT_COMMON(T, U, BITS)                                                                        \
  RL_FN T rl_div_##T(T a, T b) { return b == 0 ? (T)-1 : (a == (MIN) && b == -1) ? a : (T)(a / b); } \
  RL_FN T rl_rem_##T(T a, T b) { return b == 0 ? a : (a == (MIN) && b == -1) ? (T)0 : (T)(a % b); } \
  RL_FN T rl_shra_##T(T a, T b) {                                                         \
    if ((U)b >= (BITS)) return a < 0 ? (T)-1 : (T)0;                                             \
    return RL_ASR(T, U, a, b);                                                                   \
  }                                                                                              \
  RL_FN T rl_pow_##T(T a, T b) {                                                          \
    if (b < 0) return a == 1 ? (T)1 : (a == -1 ? ((b & 1) ? (T)-1 : (T)1) : (T)0);                \
    return rl_upow_##T((U)a, (U)b);                                                               \
  }                                                                                              \
  RL_FN T rl_abs_##T(T a) { return a < 0 ? (T)(0u - (U)a) : a; }

#define RL_INT_UNSIGNED(T, BITS)                                                                   \
  RL_INT_COMMON(T, T, BITS)                                                                        \
  RL_FN T rl_div_##T(T a, T b) { return b == 0 ? (T)-1 : (T)(a / b); }                    \
  RL_FN T rl_rem_##T(T a, T b) { return b == 0 ? a : (T)(a % b); }                        \
  RL_FN T rl_shra_##T(T a, T b) { return rl_shrl_##T(a, b); }                             \
  RL_FN T rl_pow_##T(T a, T b) { return rl_upow_##T(a, b); }                              \
  RL_FN T rl_abs_##T(T a) { return a; }

RL_INT_SIGNED(int8_t, uint8_t, 8, INT8_MIN)
RL_INT_SIGNED(int16_t, uint16_t, 16, INT16_MIN)
RL_INT_SIGNED(int32_t, uint32_t, 32, INT32_MIN)
RL_INT_SIGNED(int64_t, uint64_t, 64, INT64_MIN)
RL_INT_UNSIGNED(uint8_t, 8)
RL_INT_UNSIGNED(uint16_t, 16)
RL_INT_UNSIGNED(uint32_t, 32)
RL_INT_UNSIGNED(uint64_t, 64)

/* Sub-byte integers (i2, i4, ui2, ui4) live one per byte: wrap a result to the type's bits. */
RL_FN int8_t rl_sext4(int64_t v) { int8_t x = (int8_t)(v & 0xf); return x >= 8 ? (int8_t)(x - 16) : x; }
RL_FN int8_t rl_sext2(int64_t v) { int8_t x = (int8_t)(v & 0x3); return x >= 2 ? (int8_t)(x - 4) : x; }
RL_FN uint8_t rl_zext4(int64_t v) { return (uint8_t)(v & 0xf); }
RL_FN uint8_t rl_zext2(int64_t v) { return (uint8_t)(v & 0x3); }

/* float -> int conversion: truncate, NaN -> 0, saturate at the type's range (as XLA). */
#define RL_F2I(T, LO, HI)                                                                          \
  RL_FN T rl_f2i_##T(double x) { return x != x ? (T)0 : x <= (double)(LO) ? (T)(LO) : x >= (double)(HI) ? (T)(HI) : (T)x; }
/* The unsigned versions compare with 0.0 directly (no integer type-limit comparison). */
RL_F2I(int8_t, INT8_MIN, INT8_MAX)
RL_F2I(int16_t, INT16_MIN, INT16_MAX)
RL_F2I(int32_t, INT32_MIN, INT32_MAX)
RL_F2I(int64_t, INT64_MIN, INT64_MAX)
RL_F2I(uint8_t, 0, UINT8_MAX)
RL_F2I(uint16_t, 0, UINT16_MAX)
RL_F2I(uint32_t, 0, UINT32_MAX)
RL_F2I(uint64_t, 0, UINT64_MAX)

/* chlo.mulhi: the high half of the double-width product. */
RL_FN int8_t rl_mulhi_int8_t(int8_t a, int8_t b) { return (int8_t)(((int32_t)a * b) >> 8); }
RL_FN int16_t rl_mulhi_int16_t(int16_t a, int16_t b) { return (int16_t)(((int32_t)a * b) >> 16); }
RL_FN int32_t rl_mulhi_int32_t(int32_t a, int32_t b) { return (int32_t)(((int64_t)a * b) >> 32); }
RL_FN uint8_t rl_mulhi_uint8_t(uint8_t a, uint8_t b) { return (uint8_t)(((uint32_t)a * b) >> 8); }
RL_FN uint16_t rl_mulhi_uint16_t(uint16_t a, uint16_t b) { return (uint16_t)(((uint32_t)a * b) >> 16); }
RL_FN uint32_t rl_mulhi_uint32_t(uint32_t a, uint32_t b) { return (uint32_t)(((uint64_t)a * b) >> 32); }
/* 64-bit: schoolbook on 32-bit halves (no __int128, which 32-bit targets lack). */
RL_FN uint64_t rl_mulhi_uint64_t(uint64_t a, uint64_t b) {
  uint64_t al = a & 0xffffffffu, ah = a >> 32, bl = b & 0xffffffffu, bh = b >> 32;
  uint64_t ll = al * bl, lh = al * bh, hl = ah * bl, hh = ah * bh;
  uint64_t mid = (ll >> 32) + (lh & 0xffffffffu) + (hl & 0xffffffffu);
  return hh + (lh >> 32) + (hl >> 32) + (mid >> 32);
}
RL_FN int64_t rl_mulhi_int64_t(int64_t a, int64_t b) {
  uint64_t hi = rl_mulhi_uint64_t((uint64_t)a, (uint64_t)b);
  if (a < 0) hi -= (uint64_t)b; /* signed correction of the unsigned high half */
  if (b < 0) hi -= (uint64_t)a;
  return (int64_t)hi;
}

/* reduce_precision: round to a float format with e exponent and m mantissa bits (ties to even). */
RL_FN double rl_reduce_precision(double x, int e, int m) {
  if (x != x || x == 0 || isinf(x)) return x;
  int bias = (1 << (e - 1)) - 1, ex;
  (void)frexp(x, &ex);
  ex -= 1; /* |x| = f * 2^ex with f in [1, 2) */
  if (ex < 1 - bias) ex = 1 - bias;
  double v = ldexp(nearbyint(ldexp(fabs(x), m - ex)), ex - m);
  if (v > ldexp(2.0 - ldexp(1.0, -m), bias)) v = INFINITY;
  return x < 0 ? -v : v;
}

/* Special functions of CHLO that libm lacks (double precision; same algorithms as the interpreter). */
RL_FN double rl_erfinv(double y) {
  if (y != y || y < -1 || y > 1) return NAN;
  if (y == 1) return INFINITY;
  if (y == -1) return -INFINITY;
  double w = -log((1 - y) * (1 + y)), p, x;
  if (w < 5) {
    static const double c[9] = {2.81022636e-8, 3.43273939e-7, -3.5233877e-6, -4.39150654e-6, 0.00021858087, -0.00125372503, -0.00417768164, 0.246640727, 1.50140941};
    w -= 2.5;
    p = c[0];
    for (int i = 1; i < 9; i++) p = c[i] + p * w;
  } else {
    static const double c[9] = {-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773, -0.0076224613, 0.00943887047, 1.00167406, 2.83297682};
    w = sqrt(w) - 3;
    p = c[0];
    for (int i = 1; i < 9; i++) p = c[i] + p * w;
  }
  x = p * y;
  for (int i = 0; i < 3; i++) { /* Halley steps on erf */
    double err = erf(x) - y, d = 1.1283791670955126 * exp(-x * x);
    if (d == 0 || isinf(d)) break;
    x -= err / (d + x * err);
  }
  return x;
}

RL_FN double rl_digamma(double x) {
  if (x != x || x == -INFINITY) return NAN;
  if (x == INFINITY) return INFINITY;
  if (x <= 0 && floor(x) == x) return NAN;
  double r = 0;
  if (x < 0) { r = -3.141592653589793 / tan(3.141592653589793 * x); x = 1 - x; }
  while (x < 6) { r -= 1 / x; x += 1; }
  double f = 1 / (x * x);
  double t = f * (-1.0 / 12 + f * (1.0 / 120 + f * (-1.0 / 252 + f * (1.0 / 240 + f * (-1.0 / 132 + f * (691.0 / 32760 + f * (-1.0 / 12)))))));
  return r + log(x) - 0.5 / x + t;
}

RL_FN double rl_bessel_i1e(double x) {
  if (x != x) return x;
  double ax = fabs(x), sum, term;
  if (ax <= 40) {
    double h = ax / 2;
    term = h;
    sum = term;
    for (int k = 1; k < 500; k++) { term *= (h * h) / ((double)k * (k + 1)); sum += term; if (term < sum * 1e-17) break; }
    return (x < 0 ? -sum : sum) * exp(-ax);
  }
  term = 1;
  sum = 1;
  for (int k = 1; k < 30; k++) { term *= -(4.0 - (2.0 * k - 1) * (2.0 * k - 1)) / (k * 8 * ax); sum += term; if (fabs(term) < 1e-17) break; }
  return (x < 0 ? -sum : sum) / sqrt(2 * 3.141592653589793 * ax);
}

/* Uniform quantization (per tensor): round_nearest_even(x / scale) + zero_point, clamped. Below
 * 2^22 in magnitude, adding and taking away 1.5 * 2^23 rounds to the nearest integer, ties to
 * even, in f32 alone (FPUs without a round-to-integer instruction would call libm in double). */
RL_FN int32_t rl_round_even_small(float q) { return (int32_t)((q + 12582912.0f) - 12582912.0f); } /* |q| < 2^22 */
RL_FN int64_t rl_quantize(float x, float scale, int64_t zero_point, int64_t lo, int64_t hi) {
  float q = x / scale;
  int64_t v;
  if (q != q) v = 0;
  else if (q > 1e30f) v = hi;
  else if (q < -1e30f) v = lo;
  else if (q > -4194304.0f && q < 4194304.0f) v = rl_round_even_small(q) + zero_point;
  else v = (int64_t)nearbyintf(q) + zero_point;
  return v < lo ? lo : (v > hi ? hi : v);
}
/* The same for storage types of at most 16 bits (|zero_point| <= 2^16): the clamp first, in f32,
 * to the integer bounds less the zero point (rounding is monotonic: the same result), then every
 * value is below 2^22 and rounds in f32; NaN is 0 as above. */
RL_FN int32_t rl_quantize_narrow(float x, float scale, int32_t zero_point, int32_t lo, int32_t hi) {
  const float below = (float)(lo - zero_point), above = (float)(hi - zero_point);
  float q = x / scale;
  q = q != q ? (float)-zero_point : q;
#if defined(__ARM_FEATURE_NUMERIC_MAXMIN) || (defined(__ARM_ARCH_8M_MAIN__) && defined(__ARM_FP))
  q = fminf(fmaxf(q, below), above); /* one VMAXNM and one VMINNM (Armv8 FP; Armv8-M's FPv5) */
#else
  q = q < below ? below : q;
  q = q > above ? above : q;
#endif
  return rl_round_even_small(q) + zero_point;
}

/* TOTALORDER comparison keys: -NaN < -Inf < ... < -0 < +0 < ... < +Inf < +NaN. */
RL_FN int64_t rl_total_key_f64(double x) { int64_t b; memcpy(&b, &x, 8); return b < 0 ? b ^ INT64_MAX : b; }
RL_FN int64_t rl_total_key_f32(float x) { int32_t b; memcpy(&b, &x, 4); return b < 0 ? (int64_t)(b ^ INT32_MAX) : (int64_t)b; }

/* Complex numbers: rl_c64_t (complex<f32>) and rl_c128_t (complex<f64>). In C they are C99 _Complex
 * (complex.h only where complex types are used); in C++ (CUDA, or its host emulation) a struct of
 * the same layout below, with the operators and the complex.h functions generated code calls. */
#if !defined(RL_NO_COMPLEX) && !defined(__cplusplus)
#include <complex.h>
typedef float _Complex rl_c64_t;
typedef double _Complex rl_c128_t;
RL_FN rl_c64_t rl_cmplxf(float re, float im) { rl_c64_t z; ((float*)&z)[0] = re; ((float*)&z)[1] = im; return z; }
RL_FN rl_c128_t rl_cmplx(double re, double im) { rl_c128_t z; ((double*)&z)[0] = re; ((double*)&z)[1] = im; return z; }
/* maximum/minimum of complex numbers: lexicographic on (real, imaginary). */
RL_FN rl_c128_t rl_cmax(rl_c128_t a, rl_c128_t b) { return (creal(a) > creal(b) || (creal(a) == creal(b) && cimag(a) >= cimag(b))) ? a : b; }
RL_FN rl_c128_t rl_cmin(rl_c128_t a, rl_c128_t b) { return (creal(a) < creal(b) || (creal(a) == creal(b) && cimag(a) <= cimag(b))) ? a : b; }
RL_FN rl_c128_t rl_csign(rl_c128_t z) { double r = cabs(z); return r == 0 ? rl_cmplx(0, 0) : (r != r ? rl_cmplx(NAN, NAN) : z / r); }
#elif !defined(RL_NO_COMPLEX)
/* The C++ complex: arithmetic in the promoted part type, as C's usual arithmetic conversions do
 * (complex<f32> op double is complex<f64>); a real operand acts on the parts (C11 Annex G). The
 * functions compute in double, with the interpreter's formulas (src/ops/scalar.ts, special.ts),
 * and the f-suffixed ones round the result to float. */
#include <type_traits>
#if defined(__CUDACC__)
#define RL_CX __host__ __device__
#else
#define RL_CX
#endif
template <typename T>
struct rl_complex {
  T re, im;
  rl_complex() = default;
  RL_CX rl_complex(T r, T i = 0) : re(r), im(i) {}
  template <typename U>
  RL_CX rl_complex(const rl_complex<U>& z) : re((T)z.re), im((T)z.im) {}
};
typedef rl_complex<float> rl_c64_t;
typedef rl_complex<double> rl_c128_t;
template <typename A, typename B>
using rl_cx_of = rl_complex<decltype(A() + B())>;
#define RL_REAL(B) typename std::enable_if<std::is_arithmetic<B>::value, int>::type = 0

template <typename A, typename B>
RL_FN rl_cx_of<A, B> operator+(rl_complex<A> a, rl_complex<B> b) { return {a.re + b.re, a.im + b.im}; }
template <typename A, typename B>
RL_FN rl_cx_of<A, B> operator-(rl_complex<A> a, rl_complex<B> b) { return {a.re - b.re, a.im - b.im}; }
template <typename A, typename B>
RL_FN rl_cx_of<A, B> operator*(rl_complex<A> a, rl_complex<B> b) {
  return {a.re * b.re - a.im * b.im, a.re * b.im + a.im * b.re};
}
/* Smith's algorithm (no overflow in c*c + d*d). */
template <typename A, typename B>
RL_FN rl_cx_of<A, B> operator/(rl_complex<A> a, rl_complex<B> b) {
  typedef decltype(A() + B()) P;
  P x = a.re, y = a.im, c = b.re, d = b.im;
  if ((c < 0 ? -c : c) >= (d < 0 ? -d : d)) {
    if (c == 0 && d == 0) return {x / c, y / c};
    P r = d / c, den = c + d * r;
    return {(x + y * r) / den, (y - x * r) / den};
  }
  P r = c / d, den = c * r + d;
  return {(x * r + y) / den, (y * r - x) / den};
}
template <typename A, typename B, RL_REAL(B)>
RL_FN rl_cx_of<A, B> operator+(rl_complex<A> a, B b) { return {a.re + b, (decltype(A() + B()))a.im}; }
template <typename A, typename B, RL_REAL(A)>
RL_FN rl_cx_of<A, B> operator+(A a, rl_complex<B> b) { return {a + b.re, (decltype(A() + B()))b.im}; }
template <typename A, typename B, RL_REAL(B)>
RL_FN rl_cx_of<A, B> operator-(rl_complex<A> a, B b) { return {a.re - b, (decltype(A() + B()))a.im}; }
template <typename A, typename B, RL_REAL(A)>
RL_FN rl_cx_of<A, B> operator-(A a, rl_complex<B> b) { return {a - b.re, -(decltype(A() + B()))b.im}; }
template <typename A, typename B, RL_REAL(B)>
RL_FN rl_cx_of<A, B> operator*(rl_complex<A> a, B b) { return {a.re * b, a.im * b}; }
template <typename A, typename B, RL_REAL(A)>
RL_FN rl_cx_of<A, B> operator*(A a, rl_complex<B> b) { return {a * b.re, a * b.im}; }
template <typename A, typename B, RL_REAL(B)>
RL_FN rl_cx_of<A, B> operator/(rl_complex<A> a, B b) { return {a.re / b, a.im / b}; }
template <typename A, typename B, RL_REAL(A)>
RL_FN rl_cx_of<A, B> operator/(A a, rl_complex<B> b) { return rl_complex<A>(a) / b; }
template <typename T>
RL_FN rl_complex<T> operator-(rl_complex<T> a) { return {-a.re, -a.im}; }
template <typename A, typename B>
RL_FN bool operator==(rl_complex<A> a, rl_complex<B> b) { return a.re == b.re && a.im == b.im; }
template <typename A, typename B>
RL_FN bool operator!=(rl_complex<A> a, rl_complex<B> b) { return !(a == b); }

template <typename T>
RL_FN T creal(rl_complex<T> z) { return z.re; }
template <typename T>
RL_FN T cimag(rl_complex<T> z) { return z.im; }
RL_FN rl_c64_t rl_cmplxf(float re, float im) { return {re, im}; }
RL_FN rl_c128_t rl_cmplx(double re, double im) { return {re, im}; }
RL_FN rl_c128_t rl_cmax(rl_c128_t a, rl_c128_t b) { return (a.re > b.re || (a.re == b.re && a.im >= b.im)) ? a : b; }
RL_FN rl_c128_t rl_cmin(rl_c128_t a, rl_c128_t b) { return (a.re < b.re || (a.re == b.re && a.im <= b.im)) ? a : b; }
RL_FN double cabs(rl_c128_t z) { return hypot(z.re, z.im); }
RL_FN rl_c128_t rl_csign(rl_c128_t z) { double r = cabs(z); return r == 0 ? rl_c128_t(0, 0) : (r != r ? rl_c128_t(NAN, NAN) : z / r); }
RL_FN rl_c128_t conj(rl_c128_t z) { return {z.re, -z.im}; }
RL_FN rl_c128_t cexp(rl_c128_t z) {
  if (z.im == 0) return {exp(z.re), z.im};
  double e = exp(z.re);
  return {e * cos(z.im), e * sin(z.im)};
}
RL_FN rl_c128_t clog(rl_c128_t z) { return {log(hypot(z.re, z.im)), atan2(z.im, z.re)}; }
RL_FN rl_c128_t csqrt(rl_c128_t z) {
  double x = z.re, y = z.im;
  if (x == 0 && y == 0) return {0.0, y};
  if (isinf(y)) return {INFINITY, y};
  double r = hypot(x, y);
  if (x >= 0) {
    double t = sqrt((r + x) / 2);
    return {t, y / (2 * t)};
  }
  double t = sqrt((r - x) / 2);
  return {fabs(y) / (2 * t), copysign(t, y)};
}
RL_FN rl_c128_t cpow(rl_c128_t a, rl_c128_t b) {
  if (a.re == 0 && a.im == 0) {
    if (b.re == 0 && b.im == 0) return {1.0, 0.0};
    if (b.im == 0 && b.re > 0) return {0.0, 0.0};
  }
  return cexp(b * clog(a));
}
RL_FN rl_c128_t csin(rl_c128_t z) { return {sin(z.re) * cosh(z.im), cos(z.re) * sinh(z.im)}; }
RL_FN rl_c128_t ccos(rl_c128_t z) { return {cos(z.re) * cosh(z.im), -sin(z.re) * sinh(z.im)}; }
RL_FN rl_c128_t csinh(rl_c128_t z) { return {sinh(z.re) * cos(z.im), cosh(z.re) * sin(z.im)}; }
RL_FN rl_c128_t ccosh(rl_c128_t z) { return {cosh(z.re) * cos(z.im), sinh(z.re) * sin(z.im)}; }
RL_FN rl_c128_t ctanh(rl_c128_t z) {
  if (fabs(z.re) > 20) return {z.re > 0 ? 1.0 : -1.0, 0 * sin(2 * z.im)};
  double den = cosh(2 * z.re) + cos(2 * z.im);
  return {sinh(2 * z.re) / den, sin(2 * z.im) / den};
}
/* tan z = -i tanh(i z); asin z = -i asinh(i z); atan z = -i atanh(i z). */
RL_FN rl_c128_t rl_cmul_minus_i(rl_c128_t w) { return {w.im, -w.re}; }
RL_FN rl_c128_t ctan(rl_c128_t z) { return rl_cmul_minus_i(ctanh(rl_c128_t(-z.im, z.re))); }
RL_FN rl_c128_t casinh(rl_c128_t z) { return clog(z + csqrt(z * z + 1.0)); }
RL_FN rl_c128_t cacosh(rl_c128_t z) { return clog(z + csqrt(z + 1.0) * csqrt(z - 1.0)); }
RL_FN rl_c128_t catanh(rl_c128_t z) { return 0.5 * (clog(1.0 + z) - clog(1.0 - z)); }
RL_FN rl_c128_t casin(rl_c128_t z) { return rl_cmul_minus_i(casinh(rl_c128_t(-z.im, z.re))); }
RL_FN rl_c128_t catan(rl_c128_t z) { return rl_cmul_minus_i(catanh(rl_c128_t(-z.im, z.re))); }
/* complex<f32>: the same in double, rounded once. */
RL_FN float cabsf(rl_c64_t z) { return (float)cabs(z); }
#define RL_CX_F32(name) \
  RL_FN rl_c64_t name##f(rl_c64_t z) { return rl_c64_t(name(rl_c128_t(z))); }
RL_CX_F32(conj) RL_CX_F32(cexp) RL_CX_F32(clog) RL_CX_F32(csqrt) RL_CX_F32(csin) RL_CX_F32(ccos) RL_CX_F32(ctan)
RL_CX_F32(csinh) RL_CX_F32(ccosh) RL_CX_F32(ctanh) RL_CX_F32(casinh) RL_CX_F32(cacosh) RL_CX_F32(catanh)
RL_CX_F32(casin) RL_CX_F32(catan)
RL_FN rl_c64_t cpowf(rl_c64_t a, rl_c64_t b) { return rl_c64_t(cpow(rl_c128_t(a), rl_c128_t(b))); }
#endif

RL_FN int64_t rl_clamp_index(int64_t i, int64_t lo, int64_t hi) { return i < lo ? lo : (i > hi ? hi : i); }

#endif /* RL_H */
