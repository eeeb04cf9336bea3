/* runtime-lite SIMD abstraction: one vector-of-f32 type and the operations generated kernels use,
 * for each instruction set a target can select (src/target/targets.ts, field `simd`). The
 * generated model.c defines exactly one of RL_SIMD_AVX512, RL_SIMD_AVX2, RL_SIMD_NEON,
 * RL_SIMD_HELIUM (or RL_SIMD_SCALAR: one-lane "vectors" for the scalar micro-kernels of
 * microcontrollers) before including this header; kernels are written once against rl_vf_*.
 *
 * Semantics match the scalar code: add/sub/mul/div/sqrt round as IEEE f32 does, rl_vf_fma rounds
 * once (fused; RL_SIMD_SCALAR without a hardware FMA rounds twice), rl_vf_max/min follow StableHLO (NaN if either operand is NaN; +0 > -0).
 * Each block defines the same primitives; the transcendental functions after the blocks are
 * written once on top of them (rl_vf_exp, rl_vf_logistic, rl_vf_tanh, rl_vf_erf), with the
 * maximum errors stated there and checked by `make test` (test/e2e/vmath.test.ts) on AVX-512, AVX2,
 * NEON and Helium. 32-bit NEON flushes subnormals to zero (hardware), so there they do too. */
#ifndef RL_SIMD_H
#define RL_SIMD_H

#include <stdint.h>

#if defined(RL_SIMD_AVX512)
#include <immintrin.h>
#define RL_VF_LANES 16
typedef __m512 rl_vf;
static inline rl_vf rl_vf_load(const float* p) { return _mm512_loadu_ps(p); }
static inline void rl_vf_store(float* p, rl_vf v) { _mm512_storeu_ps(p, v); }
static inline rl_vf rl_vf_splat(float x) { return _mm512_set1_ps(x); }
static inline rl_vf rl_vf_zero(void) { return _mm512_setzero_ps(); }
static inline rl_vf rl_vf_add(rl_vf a, rl_vf b) { return _mm512_add_ps(a, b); }
static inline rl_vf rl_vf_mul(rl_vf a, rl_vf b) { return _mm512_mul_ps(a, b); }
static inline rl_vf rl_vf_fma(rl_vf a, rl_vf b, rl_vf c) { return _mm512_fmadd_ps(a, b, c); }
static inline rl_vf rl_vf_fma_scalar(rl_vf a, float b, rl_vf c) { return _mm512_fmadd_ps(a, _mm512_set1_ps(b), c); }
typedef __mmask16 rl_vm; /* lane mask */
static inline rl_vf rl_vf_sub(rl_vf a, rl_vf b) { return _mm512_sub_ps(a, b); }
static inline rl_vf rl_vf_div(rl_vf a, rl_vf b) { return _mm512_div_ps(a, b); }
static inline rl_vf rl_vf_sqrt(rl_vf a) { return _mm512_sqrt_ps(a); }
static inline rl_vf rl_vf_bits_and(rl_vf a, uint32_t m) { return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(a), _mm512_set1_epi32((int)m))); }
static inline rl_vf rl_vf_bits_xor(rl_vf a, rl_vf b) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_castps_si512(b))); }
static inline rl_vm rl_vf_lt(rl_vf a, rl_vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
static inline rl_vm rl_vf_eq(rl_vf a, rl_vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
static inline rl_vm rl_vf_unordered(rl_vf a, rl_vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q); }
static inline rl_vf rl_vf_and(rl_vf a, rl_vf b) { return _mm512_and_ps(a, b); }
static inline rl_vf rl_vf_or(rl_vf a, rl_vf b) { return _mm512_or_ps(a, b); }
/* max/min of ordered, unequal lanes (rl_vf_max/min below settle NaN and +-0) */
static inline rl_vf rl_vf_max_ordered(rl_vf a, rl_vf b) { return _mm512_max_ps(a, b); }
static inline rl_vf rl_vf_min_ordered(rl_vf a, rl_vf b) { return _mm512_min_ps(a, b); }
static inline rl_vf rl_vf_select(rl_vm m, rl_vf t, rl_vf f) { return _mm512_mask_blend_ps(m, f, t); }
/* 2^n for integral n in [-126, 127]: the biased exponent shifted into place. */
static inline rl_vf rl_vf_pow2i(rl_vf n) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127)), 23)); }

#elif defined(RL_SIMD_AVX2)
#include <immintrin.h>
#define RL_VF_LANES 8
typedef __m256 rl_vf;
static inline rl_vf rl_vf_load(const float* p) { return _mm256_loadu_ps(p); }
static inline void rl_vf_store(float* p, rl_vf v) { _mm256_storeu_ps(p, v); }
static inline rl_vf rl_vf_splat(float x) { return _mm256_set1_ps(x); }
static inline rl_vf rl_vf_zero(void) { return _mm256_setzero_ps(); }
static inline rl_vf rl_vf_add(rl_vf a, rl_vf b) { return _mm256_add_ps(a, b); }
static inline rl_vf rl_vf_mul(rl_vf a, rl_vf b) { return _mm256_mul_ps(a, b); }
static inline rl_vf rl_vf_fma(rl_vf a, rl_vf b, rl_vf c) { return _mm256_fmadd_ps(a, b, c); }
static inline rl_vf rl_vf_fma_scalar(rl_vf a, float b, rl_vf c) { return _mm256_fmadd_ps(a, _mm256_set1_ps(b), c); }
typedef __m256 rl_vm; /* lane mask: all ones or all zeros per lane */
static inline rl_vf rl_vf_sub(rl_vf a, rl_vf b) { return _mm256_sub_ps(a, b); }
static inline rl_vf rl_vf_div(rl_vf a, rl_vf b) { return _mm256_div_ps(a, b); }
static inline rl_vf rl_vf_sqrt(rl_vf a) { return _mm256_sqrt_ps(a); }
static inline rl_vf rl_vf_bits_and(rl_vf a, uint32_t m) { return _mm256_and_ps(a, _mm256_castsi256_ps(_mm256_set1_epi32((int)m))); }
static inline rl_vf rl_vf_bits_xor(rl_vf a, rl_vf b) { return _mm256_xor_ps(a, b); }
static inline rl_vm rl_vf_lt(rl_vf a, rl_vf b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
static inline rl_vm rl_vf_eq(rl_vf a, rl_vf b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
static inline rl_vm rl_vf_unordered(rl_vf a, rl_vf b) { return _mm256_cmp_ps(a, b, _CMP_UNORD_Q); }
static inline rl_vf rl_vf_and(rl_vf a, rl_vf b) { return _mm256_and_ps(a, b); }
static inline rl_vf rl_vf_or(rl_vf a, rl_vf b) { return _mm256_or_ps(a, b); }
static inline rl_vf rl_vf_max_ordered(rl_vf a, rl_vf b) { return _mm256_max_ps(a, b); }
static inline rl_vf rl_vf_min_ordered(rl_vf a, rl_vf b) { return _mm256_min_ps(a, b); }
static inline rl_vf rl_vf_select(rl_vm m, rl_vf t, rl_vf f) { return _mm256_blendv_ps(f, t, m); }
static inline rl_vf rl_vf_pow2i(rl_vf n) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(127)), 23)); }

#elif defined(RL_SIMD_NEON)
#include <arm_neon.h>
#define RL_VF_LANES 4
typedef float32x4_t rl_vf;
static inline rl_vf rl_vf_load(const float* p) { return vld1q_f32(p); }
static inline void rl_vf_store(float* p, rl_vf v) { vst1q_f32(p, v); }
static inline rl_vf rl_vf_splat(float x) { return vdupq_n_f32(x); }
static inline rl_vf rl_vf_zero(void) { return vdupq_n_f32(0.0f); }
static inline rl_vf rl_vf_add(rl_vf a, rl_vf b) { return vaddq_f32(a, b); }
static inline rl_vf rl_vf_mul(rl_vf a, rl_vf b) { return vmulq_f32(a, b); }
static inline rl_vf rl_vf_fma(rl_vf a, rl_vf b, rl_vf c) { return vfmaq_f32(c, a, b); }
static inline rl_vf rl_vf_fma_scalar(rl_vf a, float b, rl_vf c) { return vfmaq_f32(c, a, vdupq_n_f32(b)); }
typedef uint32x4_t rl_vm;
static inline rl_vf rl_vf_sub(rl_vf a, rl_vf b) { return vsubq_f32(a, b); }
#if defined(__aarch64__)
static inline rl_vf rl_vf_div(rl_vf a, rl_vf b) { return vdivq_f32(a, b); }
static inline rl_vf rl_vf_sqrt(rl_vf a) { return vsqrtq_f32(a); }
#else
#define RL_VF_PER_LANE_DIV_SQRT /* 32-bit NEON has neither: per lane, correctly rounded (see below) */
#endif
static inline rl_vf rl_vf_bits_and(rl_vf a, uint32_t m) { return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vdupq_n_u32(m))); }
static inline rl_vf rl_vf_bits_xor(rl_vf a, rl_vf b) { return vreinterpretq_f32_u32(veorq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b))); }
static inline rl_vm rl_vf_lt(rl_vf a, rl_vf b) { return vcltq_f32(a, b); }
static inline rl_vm rl_vf_eq(rl_vf a, rl_vf b) { return vceqq_f32(a, b); }
static inline rl_vm rl_vf_unordered(rl_vf a, rl_vf b) { return vmvnq_u32(vandq_u32(vceqq_f32(a, a), vceqq_f32(b, b))); }
static inline rl_vf rl_vf_and(rl_vf a, rl_vf b) { return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b))); }
static inline rl_vf rl_vf_or(rl_vf a, rl_vf b) { return vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b))); }
static inline rl_vf rl_vf_max_ordered(rl_vf a, rl_vf b) { return vmaxq_f32(a, b); }
static inline rl_vf rl_vf_min_ordered(rl_vf a, rl_vf b) { return vminq_f32(a, b); }
static inline rl_vf rl_vf_select(rl_vm m, rl_vf t, rl_vf f) { return vbslq_f32(m, t, f); }
static inline rl_vf rl_vf_pow2i(rl_vf n) { return vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23)); }
/* StableHLO maximum/minimum are NEON's FMAX/FMIN (Arm's FPMax/FPMin): NaN if either lane is NaN
 * (the operand's, quieted, as a + b gives), +0 above -0; one instruction for the shared form's
 * seven. */
#define RL_VF_NATIVE_MAX_MIN
static inline rl_vf rl_vf_max(rl_vf a, rl_vf b) { return vmaxq_f32(a, b); }
static inline rl_vf rl_vf_min(rl_vf a, rl_vf b) { return vminq_f32(a, b); }

#elif defined(RL_SIMD_HELIUM)
#include <arm_mve.h>
#define RL_VF_LANES 4
typedef float32x4_t rl_vf;
static inline rl_vf rl_vf_load(const float* p) { return vld1q_f32(p); }
static inline void rl_vf_store(float* p, rl_vf v) { vst1q_f32(p, v); }
static inline rl_vf rl_vf_splat(float x) { return vdupq_n_f32(x); }
static inline rl_vf rl_vf_zero(void) { return vdupq_n_f32(0.0f); }
static inline rl_vf rl_vf_add(rl_vf a, rl_vf b) { return vaddq_f32(a, b); }
static inline rl_vf rl_vf_mul(rl_vf a, rl_vf b) { return vmulq_f32(a, b); }
static inline rl_vf rl_vf_fma(rl_vf a, rl_vf b, rl_vf c) { return vfmaq_f32(c, a, b); }
/* The scalar operand stays in a general register (VFMA.F32 Qd, Qn, Rm): no broadcast, no Q register. */
static inline rl_vf rl_vf_fma_scalar(rl_vf a, float b, rl_vf c) { return vfmaq_n_f32(c, a, b); }
/* v = the vector at p, p advanced past it: one VLDRW with writeback (gcc does not form it). */
#define RL_VF_LOAD_NEXT(p, v) __asm__("vldrw.u32 %q0, [%1], #16" : "=w"(v), "+r"(p) : "m"(*(const float(*)[4])(p)))
/* x, y = the two floats at p, in general registers (rl_vf_fma_scalar's scalar operand), p advanced
 * past them: one LDRD with writeback, where gcc made two LDRs. */
#define RL_F32_PAIR_NEXT(p, x, y) __asm__("ldrd %0, %1, [%2], #8" : "=r"(x), "=r"(y), "+r"(p) : "m"(*(const float(*)[2])(p)))
typedef mve_pred16_t rl_vm;
static inline rl_vf rl_vf_sub(rl_vf a, rl_vf b) { return vsubq_f32(a, b); }
#define RL_VF_PER_LANE_DIV_SQRT /* MVE has neither: per lane, correctly rounded (see below) */
static inline rl_vf rl_vf_bits_and(rl_vf a, uint32_t m) { return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vdupq_n_u32(m))); }
static inline rl_vf rl_vf_bits_xor(rl_vf a, rl_vf b) { return vreinterpretq_f32_u32(veorq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b))); }
static inline rl_vm rl_vf_lt(rl_vf a, rl_vf b) { return vcmpltq_f32(a, b); }
static inline rl_vm rl_vf_eq(rl_vf a, rl_vf b) { return vcmpeqq_f32(a, b); }
static inline rl_vm rl_vf_unordered(rl_vf a, rl_vf b) { return (mve_pred16_t)~(vcmpeqq_f32(a, a) & vcmpeqq_f32(b, b)); }
static inline rl_vf rl_vf_and(rl_vf a, rl_vf b) { return vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b))); }
static inline rl_vf rl_vf_or(rl_vf a, rl_vf b) { return vreinterpretq_f32_u32(vorrq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b))); }
static inline rl_vf rl_vf_max_ordered(rl_vf a, rl_vf b) { return vmaxnmq_f32(a, b); }
static inline rl_vf rl_vf_min_ordered(rl_vf a, rl_vf b) { return vminnmq_f32(a, b); }
static inline rl_vf rl_vf_select(rl_vm m, rl_vf t, rl_vf f) { return vpselq_f32(t, f, m); }
static inline rl_vf rl_vf_pow2i(rl_vf n) { return vreinterpretq_f32_s32(vshlq_n_s32(vaddq_s32(vcvtq_s32_f32(n), vdupq_n_s32(127)), 23)); }
/* StableHLO maximum/minimum in fewer steps than the shared form below: VMAXNM/VMINNM already order
 * +0 above -0 (Arm's FPMaxNum/FPMinNum), so only NaN needs settling: a + b (the operand's quiet
 * NaN, as the shared form gives) where a lane of either is NaN, found by two compares, the second
 * predicated on the first (VPT). Same results. In asm with gcc: given the intrinsics it moved the
 * predicate through a general register (and sign-extended it) around each compare, 12-14
 * instructions; here 8, saving and restoring P0 (gcc may hold a predicate there and has no name
 * for it in a clobber list). */
#define RL_VF_NATIVE_MAX_MIN
#if defined(__GNUC__) && !defined(__clang__)
#define RL_VF_MAXMIN_NAN(op, a, b)                                                                  \
  ({                                                                                              \
    rl_vf r_, s_;                                                                                 \
    unsigned p_;                                                                                  \
    __asm__("vmrs %[p], p0\n\tvcmp.f32 eq, %q[x], %q[x]\n\tvpst\n\tvcmpt.f32 eq, %q[y], %q[y]\n\t"     \
            op " %q[r], %q[x], %q[y]\n\tvadd.f32 %q[s], %q[x], %q[y]\n\tvpsel %q[r], %q[r], %q[s]\n\t" \
            "vmsr p0, %[p]"                                                                        \
            : [r] "=&w"(r_), [s] "=&w"(s_), [p] "=&r"(p_)                                          \
            : [x] "w"(a), [y] "w"(b));                                                            \
    r_;                                                                                           \
  })
static inline rl_vf rl_vf_max(rl_vf a, rl_vf b) { return RL_VF_MAXMIN_NAN("vmaxnm.f32", a, b); }
/* max(x, +0): VMAXNM with +0 (which orders +0 above -0), then x itself where x is NaN (VMAXNM
 * would give +0). In asm for the reason above (a compare's predicate through a general register
 * in gcc's code); 5 instructions with P0 saved and restored, where rl_vf_max takes 8. (VCMP's le
 * and lt hold for unordered lanes too: a select on x <= 0 would turn NaN into +0.) */
#define RL_VF_NATIVE_RELU
static inline rl_vf rl_vf_relu(rl_vf x) {
  rl_vf r;
  unsigned p;
  __asm__("vmrs %[p], p0\n\tvmaxnm.f32 %q[r], %q[x], %q[zero]\n\tvcmp.f32 eq, %q[x], %q[x]\n\t"
          "vpsel %q[r], %q[r], %q[x]\n\tvmsr p0, %[p]"
          : [r] "=&w"(r), [p] "=&r"(p)
          : [x] "w"(x), [zero] "w"(vdupq_n_f32(0.0f)));
  return r;
}
static inline rl_vf rl_vf_min(rl_vf a, rl_vf b) { return RL_VF_MAXMIN_NAN("vminnm.f32", a, b); }
#else
static inline rl_vf rl_vf_max(rl_vf a, rl_vf b) {
  return vpselq_f32(vmaxnmq_f32(a, b), vaddq_f32(a, b), vcmpeqq_m_f32(b, b, vcmpeqq_f32(a, a)));
}
static inline rl_vf rl_vf_min(rl_vf a, rl_vf b) {
  return vpselq_f32(vminnmq_f32(a, b), vaddq_f32(a, b), vcmpeqq_m_f32(b, b, vcmpeqq_f32(a, a)));
}
#endif

#elif defined(RL_SIMD_SCALAR)
/* One lane: the scalar micro-kernels (GEMM, direct convolution) of microcontrollers without f32
 * SIMD, written once against these primitives. The multiply-add is fused where the FPU has it
 * (VFMA on Cortex-M4/M7/M33), two roundings otherwise (soft-float: no libm fmaf routine). */
#include <string.h>
#include "rl.h" /* rl_fmaf: fused where the FPU has an f32 FMA */
#define RL_VF_LANES 1
typedef float rl_vf;
typedef int rl_vm;
static inline rl_vf rl_vf_load(const float* p) { return *p; }
static inline void rl_vf_store(float* p, rl_vf v) { *p = v; }
static inline rl_vf rl_vf_splat(float x) { return x; }
static inline rl_vf rl_vf_zero(void) { return 0.0f; }
static inline rl_vf rl_vf_add(rl_vf a, rl_vf b) { return a + b; }
static inline rl_vf rl_vf_sub(rl_vf a, rl_vf b) { return a - b; }
static inline rl_vf rl_vf_mul(rl_vf a, rl_vf b) { return a * b; }
static inline rl_vf rl_vf_fma(rl_vf a, rl_vf b, rl_vf c) { return rl_fmaf(a, b, c); }
static inline rl_vf rl_vf_fma_scalar(rl_vf a, float b, rl_vf c) { return rl_vf_fma(a, b, c); }
static inline rl_vf rl_vf_div(rl_vf a, rl_vf b) { return a / b; }
static inline rl_vf rl_vf_sqrt(rl_vf a) { return __builtin_sqrtf(a); }
static inline uint32_t rl_vf_bits(rl_vf a) { uint32_t u; memcpy(&u, &a, 4); return u; }
static inline rl_vf rl_vf_from_bits(uint32_t u) { rl_vf a; memcpy(&a, &u, 4); return a; }
static inline rl_vf rl_vf_bits_and(rl_vf a, uint32_t m) { return rl_vf_from_bits(rl_vf_bits(a) & m); }
static inline rl_vf rl_vf_bits_xor(rl_vf a, rl_vf b) { return rl_vf_from_bits(rl_vf_bits(a) ^ rl_vf_bits(b)); }
static inline rl_vm rl_vf_lt(rl_vf a, rl_vf b) { return a < b; }
static inline rl_vm rl_vf_eq(rl_vf a, rl_vf b) { return a == b; }
static inline rl_vm rl_vf_unordered(rl_vf a, rl_vf b) { return a != a || b != b; }
static inline rl_vf rl_vf_and(rl_vf a, rl_vf b) { return rl_vf_from_bits(rl_vf_bits(a) & rl_vf_bits(b)); }
static inline rl_vf rl_vf_or(rl_vf a, rl_vf b) { return rl_vf_from_bits(rl_vf_bits(a) | rl_vf_bits(b)); }
static inline rl_vf rl_vf_max_ordered(rl_vf a, rl_vf b) { return a > b ? a : b; }
static inline rl_vf rl_vf_min_ordered(rl_vf a, rl_vf b) { return a < b ? a : b; }
static inline rl_vf rl_vf_select(rl_vm m, rl_vf t, rl_vf f) { return m ? t : f; }
static inline rl_vf rl_vf_pow2i(rl_vf n) { return rl_vf_from_bits((uint32_t)((int32_t)n + 127) << 23); }

#else
#error "rl_simd.h: define one of RL_SIMD_AVX512, RL_SIMD_AVX2, RL_SIMD_NEON, RL_SIMD_HELIUM, RL_SIMD_SCALAR"
#endif


#if !defined(RL_VF_LOAD_NEXT)
/* v = the vector at p, p advanced past it (the in-order GEMM micro-kernels stream B this way). */
#define RL_VF_LOAD_NEXT(p, v) ((v) = rl_vf_load(p), (p) += RL_VF_LANES)
#endif
/* Asks for the cache line at p, to be written (a hint: never faults, does nothing elsewhere). */
#if defined(__GNUC__)
#define RL_PREFETCH_WRITE(p) __builtin_prefetch((p), 1, 3)
#else
#define RL_PREFETCH_WRITE(p) ((void)(p))
#endif
/* Keeps what follows after what precedes (loads included) in gcc's schedule: the in-order GEMM
 * micro-kernels' second k step of a pass, whose B loads gcc otherwise hoisted above the first's
 * FMAs, needing a ninth Helium Q register (two VORR moves per pass). */
#define RL_SCHEDULE_BARRIER() __asm__ volatile("" ::: "memory")
#if !defined(RL_F32_PAIR_NEXT)
/* x, y = the two floats at p, p advanced past them. */
#define RL_F32_PAIR_NEXT(p, x, y) ((x) = (p)[0], (y) = (p)[1], (p) += 2)
#endif
#if defined(RL_VF_PER_LANE_DIV_SQRT)
#include <math.h>
static inline rl_vf rl_vf_div(rl_vf a, rl_vf b) {
  float x[RL_VF_LANES], y[RL_VF_LANES];
  rl_vf_store(x, a);
  rl_vf_store(y, b);
  for (int i = 0; i < RL_VF_LANES; i++) x[i] /= y[i];
  return rl_vf_load(x);
}
static inline rl_vf rl_vf_sqrt(rl_vf a) {
  float x[RL_VF_LANES];
  rl_vf_store(x, a);
  for (int i = 0; i < RL_VF_LANES; i++) x[i] = sqrtf(x[i]);
  return rl_vf_load(x);
}
#endif

/* ---- integer pair vectors: the integer GEMM's micro-kernel (src/emit-c/int-gemm.ts) -------------
 * rl_vi holds RL_VI_LANES i32 accumulators, one per output column. The packed weights hold, per
 * column, two consecutive k's 16-bit values in one 32-bit word; rl_vi_dot2(acc, x, y) adds to each
 * lane the two products of the signed 16-bit halves of x's and y's words (x: one A pair splat to
 * every lane), wrapping modulo 2^32 as the interpreter's i32 contraction does: vpmaddwd (whose one
 * overflowing case, -32768 * -32768 twice, wraps too) then vpaddd, or VNNI's vpdpwssd (the
 * non-saturating form) where the compiler targets it; NEON's widening products added in pairs;
 * SMLAD on Arm DSP cores (rl.h rl_smlad, one lane). */
#if defined(RL_SIMD_AVX512)
#define RL_VI_LANES 16
typedef __m512i rl_vi;
static inline rl_vi rl_vi_zero(void) { return _mm512_setzero_si512(); }
static inline rl_vi rl_vi_splat(uint32_t x) { return _mm512_set1_epi32((int)x); }
static inline rl_vi rl_vi_load(const uint32_t* p) { return _mm512_loadu_si512((const void*)p); }
static inline void rl_vi_store(int32_t* p, rl_vi v) { _mm512_storeu_si512((void*)p, v); }
#if defined(__AVX512VNNI__)
static inline rl_vi rl_vi_dot2(rl_vi acc, rl_vi x, rl_vi y) { return _mm512_dpwssd_epi32(acc, x, y); }
#else
static inline rl_vi rl_vi_dot2(rl_vi acc, rl_vi x, rl_vi y) { return _mm512_add_epi32(acc, _mm512_madd_epi16(x, y)); }
#endif
#elif defined(RL_SIMD_AVX2)
#define RL_VI_LANES 8
typedef __m256i rl_vi;
static inline rl_vi rl_vi_zero(void) { return _mm256_setzero_si256(); }
static inline rl_vi rl_vi_splat(uint32_t x) { return _mm256_set1_epi32((int)x); }
static inline rl_vi rl_vi_load(const uint32_t* p) { return _mm256_loadu_si256((const __m256i*)p); }
static inline void rl_vi_store(int32_t* p, rl_vi v) { _mm256_storeu_si256((__m256i*)p, v); }
#if defined(__AVXVNNI__)
static inline rl_vi rl_vi_dot2(rl_vi acc, rl_vi x, rl_vi y) { return _mm256_dpwssd_avx_epi32(acc, x, y); }
#elif defined(__AVX512VNNI__) && defined(__AVX512VL__)
static inline rl_vi rl_vi_dot2(rl_vi acc, rl_vi x, rl_vi y) { return _mm256_dpwssd_epi32(acc, x, y); }
#else
static inline rl_vi rl_vi_dot2(rl_vi acc, rl_vi x, rl_vi y) { return _mm256_add_epi32(acc, _mm256_madd_epi16(x, y)); }
#endif
#elif defined(RL_SIMD_NEON)
/* NEON has no lane-wise pair product: the eight 16-bit products (SMULL of each half) added in
 * adjacent pairs (ADDP), then to acc; the products fit i32, their pair sums wrap (-32768 * -32768
 * twice) as vpmaddwd's do. With the dot product extension int8 tiles use SDOT (rl_vi_dot4). */
#define RL_VI_LANES 4
typedef int32x4_t rl_vi;
static inline rl_vi rl_vi_zero(void) { return vdupq_n_s32(0); }
static inline rl_vi rl_vi_splat(uint32_t x) { return vreinterpretq_s32_u32(vdupq_n_u32(x)); }
static inline rl_vi rl_vi_load(const uint32_t* p) { return vreinterpretq_s32_u32(vld1q_u32(p)); }
static inline void rl_vi_store(int32_t* p, rl_vi v) { vst1q_s32(p, v); }
static inline rl_vi rl_vi_dot2(rl_vi acc, rl_vi x, rl_vi y) {
  const int16x8_t a = vreinterpretq_s16_s32(x), b = vreinterpretq_s16_s32(y);
  const int32x4_t lo = vmull_s16(vget_low_s16(a), vget_low_s16(b));
#if defined(__aarch64__)
  return vaddq_s32(acc, vpaddq_s32(lo, vmull_high_s16(a, b)));
#else
  const int32x4_t hi = vmull_s16(vget_high_s16(a), vget_high_s16(b));
  return vaddq_s32(acc, vcombine_s32(vpadd_s32(vget_low_s32(lo), vget_high_s32(lo)), vpadd_s32(vget_low_s32(hi), vget_high_s32(hi))));
#endif
}
#if defined(__ARM_FEATURE_DOTPROD)
/* Armv8.2's dot product: each lane of acc plus the four int8 products of its bytes in x and y
 * (SDOT; exact in i32, wrapping as the i32 sums do). */
static inline rl_vi rl_vi_dot4(rl_vi acc, rl_vi x, rl_vi y) { return vdotq_s32(acc, vreinterpretq_s8_s32(x), vreinterpretq_s8_s32(y)); }
#endif
#else
#include "rl.h" /* rl_smlad */
#define RL_VI_LANES 1
typedef int32_t rl_vi;
static inline rl_vi rl_vi_zero(void) { return 0; }
static inline rl_vi rl_vi_splat(uint32_t x) { return (rl_vi)x; }
static inline rl_vi rl_vi_load(const uint32_t* p) { return (rl_vi)*p; }
static inline void rl_vi_store(int32_t* p, rl_vi v) { *p = v; }
static inline rl_vi rl_vi_dot2(rl_vi acc, rl_vi x, rl_vi y) { return rl_smlad((uint32_t)x, (uint32_t)y, acc); }
#endif
#if defined(RL_SIMD_HELIUM)
/* Helium's integer dot products (the integer GEMM's column-dot kernels on Cortex-M55): a vector of
 * k's of one A row meets the same k's of one weight column, and VMLADAVA adds the whole vector's
 * products to a general-register accumulator (16 products of 8-bit lanes or 8 of 16-bit lanes per
 * instruction, exact in i32 and wrapping as the i32 dot does). The _tail loads keep the first n
 * lanes and zero the rest (predicated: no read past the row). */
static inline int8x16_t rl_vd_load_s8(const int8_t* p) { return vld1q_s8(p); }
static inline int8x16_t rl_vd_tail_s8(const int8_t* p, uint32_t n) { return vldrbq_z_s8(p, vctp8q(n)); }
static inline int32_t rl_vd_dot_s8(int32_t acc, int8x16_t a, int8x16_t b) { return vmladavaq_s8(acc, a, b); }
static inline int32_t rl_vd_dot0_s8(int8x16_t a, int8x16_t b) { return vmladavq_s8(a, b); }
static inline int16x8_t rl_vd_load_s16(const int16_t* p) { return vld1q_s16(p); }
static inline int16x8_t rl_vd_tail_s16(const int16_t* p, uint32_t n) { return vldrhq_z_s16(p, vctp16q(n)); }
static inline int32_t rl_vd_dot_s16(int32_t acc, int16x8_t a, int16x8_t b) { return vmladavaq_s16(acc, a, b); }
static inline int32_t rl_vd_dot0_s16(int16x8_t a, int16x8_t b) { return vmladavq_s16(a, b); }
/* A window's taps read in place: lane i from p + offsets[i] elements (a gather load; a
 * one-vector convolution window needs no copy into scratch). */
static inline int8x16_t rl_vd_gather_s8(const int8_t* p, uint8x16_t offsets) { return vldrbq_gather_offset_s8(p, offsets); }
static inline int16x8_t rl_vd_gather_s16(const int16_t* p, uint16x8_t offsets) {
  return vldrhq_gather_shifted_offset_s16(p, offsets);
}
/* n bytes (a constant once inlined: the loop unrolls) a vector at a time, the last one
 * predicated: a convolution window's row copied into its row of scratch. */
static inline void rl_vd_copy(void* restrict dst, const void* restrict src, uint32_t n) {
  uint8_t* restrict d = (uint8_t*)dst;
  const uint8_t* restrict s = (const uint8_t*)src;
  uint32_t i = 0;
#pragma GCC unroll 16
  for (; i + 16 <= n; i += 16) vst1q_u8(d + i, vld1q_u8(s + i));
  if (i < n) {
    const mve_pred16_t p = vctp8q(n - i);
    vstrbq_p_u8(d + i, vldrbq_z_u8(s + i, p), p);
  }
}

/* Integers in i32 lanes (rl_vn: the vectorized integer loops, e.g. a requantization): 8- and
 * 16-bit values are held exactly, loads widen them (VLDRB/VLDRH.S32/U32), stores keep the low
 * bits (VSTRB/VSTRH.32), a convert wraps the lanes to its type. VMULH is chlo.mulhi's high word. */
typedef int32x4_t rl_vn;
static inline rl_vn rl_vn_load_s8(const int8_t* p) { return vldrbq_s32(p); }
static inline rl_vn rl_vn_load_u8(const uint8_t* p) { return vreinterpretq_s32_u32(vldrbq_u32(p)); }
static inline rl_vn rl_vn_load_s16(const int16_t* p) { return vldrhq_s32(p); }
static inline rl_vn rl_vn_load_u16(const uint16_t* p) { return vreinterpretq_s32_u32(vldrhq_u32(p)); }
static inline rl_vn rl_vn_load_s32(const int32_t* p) { return vld1q_s32(p); }
static inline void rl_vn_store_s8(int8_t* p, rl_vn v) { vstrbq_s32(p, v); }
static inline void rl_vn_store_u8(uint8_t* p, rl_vn v) { vstrbq_u32(p, vreinterpretq_u32_s32(v)); }
static inline void rl_vn_store_s16(int16_t* p, rl_vn v) { vstrhq_s32(p, v); }
static inline void rl_vn_store_u16(uint16_t* p, rl_vn v) { vstrhq_u32(p, vreinterpretq_u32_s32(v)); }
static inline void rl_vn_store_s32(int32_t* p, rl_vn v) { vst1q_s32(p, v); }
static inline rl_vn rl_vn_splat(int32_t x) { return vdupq_n_s32(x); }
static inline rl_vn rl_vn_add(rl_vn a, rl_vn b) { return vaddq_s32(a, b); }
static inline rl_vn rl_vn_sub(rl_vn a, rl_vn b) { return vsubq_s32(a, b); }
static inline rl_vn rl_vn_mul(rl_vn a, rl_vn b) { return vmulq_s32(a, b); }
static inline rl_vn rl_vn_mulhi(rl_vn a, rl_vn b) { return vmulhq_s32(a, b); }
static inline rl_vn rl_vn_max(rl_vn a, rl_vn b) { return vmaxq_s32(a, b); }
static inline rl_vn rl_vn_min(rl_vn a, rl_vn b) { return vminq_s32(a, b); }
static inline rl_vn rl_vn_wrap_s8(rl_vn v) { return vshrq_n_s32(vshlq_n_s32(v, 24), 24); }
static inline rl_vn rl_vn_wrap_u8(rl_vn v) { return vandq_s32(v, vdupq_n_s32(0xff)); }
static inline rl_vn rl_vn_wrap_s16(rl_vn v) { return vshrq_n_s32(vshlq_n_s32(v, 16), 16); }
static inline rl_vn rl_vn_wrap_u16(rl_vn v) { return vandq_s32(v, vdupq_n_s32(0xffff)); }
#endif
#if defined(__ARM_FEATURE_SIMD32) && !defined(RL_SIMD_HELIUM)
/* Four int8 in a general register (rl_vb: the vectorized int8 loops of cores with the DSP
 * extension, e.g. a max pooling): SSUB8 sets each byte's GE flag where a >= b, SEL picks by them. */
#include <string.h>
typedef uint32_t rl_vb;
static inline rl_vb rl_vb_load(const int8_t* p) { rl_vb v; memcpy(&v, p, 4); return v; }
static inline void rl_vb_store(int8_t* p, rl_vb v) { memcpy(p, &v, 4); }
static inline rl_vb rl_vb_splat(int8_t x) { return (uint32_t)(uint8_t)x * 0x01010101u; }
static inline rl_vb rl_vb_max(rl_vb a, rl_vb b) {
  rl_vb r;
  __asm__("ssub8 %0, %1, %2\n\tsel %0, %1, %2" : "=&r"(r) : "r"(a), "r"(b) : "cc");
  return r;
}
static inline rl_vb rl_vb_min(rl_vb a, rl_vb b) {
  rl_vb r;
  __asm__("ssub8 %0, %1, %2\n\tsel %0, %2, %1" : "=&r"(r) : "r"(a), "r"(b) : "cc");
  return r;
}
/* Two i16 in a word (rl_vh, one load) and two i32 accumulators (rl_vp): a depthwise convolution's
 * channel pairs, acc + x * w lane by lane in one SMLABB and one SMLATT (wrapping as the scalar
 * rl_add/rl_mul do). */
#include <arm_acle.h>
typedef uint32_t rl_vh;
typedef struct { int32_t lo, hi; } rl_vp;
static inline rl_vh rl_vh_load_s16(const int16_t* p) { rl_vh v; memcpy(&v, p, 4); return v; }
static inline rl_vp rl_vp_load_s32(const int32_t* p) { rl_vp v = {p[0], p[1]}; return v; }
static inline void rl_vp_store_s32(int32_t* p, rl_vp v) { p[0] = v.lo; p[1] = v.hi; }
static inline rl_vp rl_vp_splat(int32_t x) { rl_vp v = {x, x}; return v; }
static inline rl_vp rl_vp_mac(rl_vp acc, rl_vh x, rl_vh w) {
  rl_vp r = {__smlabb((int32_t)x, (int32_t)w, acc.lo), __smlatt((int32_t)x, (int32_t)w, acc.hi)};
  return r;
}
#endif
/* The first n (< RL_VI_LANES) lanes of v. */
static inline void rl_vi_store_n(int32_t* p, rl_vi v, int n) {
  int32_t lanes[RL_VI_LANES];
  rl_vi_store(lanes, v);
  for (int i = 0; i < n; i++) p[i] = lanes[i];
}

/* ---- on top of the primitives: identical code (and results) on every instruction set ---------- */

/* StableHLO maximum/minimum: NaN (a + b, so the operand's quiet NaN) if either lane is NaN; of
 * equal lanes (+0 and -0 included) max ANDs the bits and min ORs them, so +0 > -0. */
#if !defined(RL_VF_NATIVE_MAX_MIN)
static inline rl_vf rl_vf_max(rl_vf a, rl_vf b) {
  const rl_vf r = rl_vf_select(rl_vf_eq(a, b), rl_vf_and(a, b), rl_vf_max_ordered(a, b));
  return rl_vf_select(rl_vf_unordered(a, b), rl_vf_add(a, b), r);
}
static inline rl_vf rl_vf_min(rl_vf a, rl_vf b) {
  const rl_vf r = rl_vf_select(rl_vf_eq(a, b), rl_vf_or(a, b), rl_vf_min_ordered(a, b));
  return rl_vf_select(rl_vf_unordered(a, b), rl_vf_add(a, b), r);
}
#endif
static inline rl_vm rl_vf_isnan(rl_vf a) { return rl_vf_unordered(a, a); }
#if !defined(RL_VF_NATIVE_RELU)
static inline rl_vf rl_vf_relu(rl_vf x) { return rl_vf_max(x, rl_vf_zero()); }
#endif

#define RL_VF_SIGN 0x80000000u
static inline rl_vf rl_vf_neg(rl_vf a) { return rl_vf_bits_xor(a, rl_vf_splat(-0.0f)); }
static inline rl_vf rl_vf_abs(rl_vf a) { return rl_vf_bits_and(a, ~RL_VF_SIGN); }
/* |mag| with the sign of x (mag must be non-negative). */
static inline rl_vf rl_vf_with_sign_of(rl_vf mag, rl_vf x) { return rl_vf_bits_xor(mag, rl_vf_bits_and(x, RL_VF_SIGN)); }
/* Nearest integer for |x| < 2^22 (ties to even): adding 1.5 * 2^23 leaves no fraction bits. */
static inline rl_vf rl_vf_round_small(rl_vf x) { return rl_vf_sub(rl_vf_add(x, rl_vf_splat(12582912.0f)), rl_vf_splat(12582912.0f)); }
static inline rl_vf rl_vf_clamp(rl_vf x, float lo, float hi) {
  x = rl_vf_select(rl_vf_lt(x, rl_vf_splat(lo)), rl_vf_splat(lo), x);
  return rl_vf_select(rl_vf_lt(rl_vf_splat(hi), x), rl_vf_splat(hi), x);
}

/* e^x, max error 1 ULP (0.88 measured over a sweep of all f32 inputs; subnormal results included).
 * x = n ln2 + r with |r| <= ln2/2 (ln2 split in two so n ln2 is exact enough), e^r by its Taylor
 * polynomial to degree 7 (truncation below 0.1 ULP), then scaled by 2^n in two exact steps so
 * results near overflow and subnormal results come out right. NaN in, NaN out; +-inf -> inf, 0. */
static inline rl_vf rl_vf_exp(rl_vf x) {
  const rl_vf c = rl_vf_clamp(x, -104.0f, 89.0f); /* beyond: 0 and inf after scaling */
  const rl_vf n = rl_vf_round_small(rl_vf_mul(c, rl_vf_splat(1.44269504f)));
  rl_vf r = rl_vf_fma(n, rl_vf_splat(-0.693145752f), c); /* ln2 high part: 16 bits, n * hi is exact */
  r = rl_vf_fma(n, rl_vf_splat(-1.42860677e-6f), r);     /* ln2 - high part */
  rl_vf p = rl_vf_splat(1.98412698e-4f);                 /* 1/7! ... 1/0! */
  p = rl_vf_fma(p, r, rl_vf_splat(1.38888889e-3f));
  p = rl_vf_fma(p, r, rl_vf_splat(8.33333333e-3f));
  p = rl_vf_fma(p, r, rl_vf_splat(4.16666667e-2f));
  p = rl_vf_fma(p, r, rl_vf_splat(1.66666667e-1f));
  p = rl_vf_fma(p, r, rl_vf_splat(0.5f));
  p = rl_vf_fma(p, r, rl_vf_splat(1.0f));
  p = rl_vf_fma(p, r, rl_vf_splat(1.0f));
  const rl_vf half = rl_vf_round_small(rl_vf_mul(n, rl_vf_splat(0.5f)));
  const rl_vf y = rl_vf_mul(rl_vf_mul(p, rl_vf_pow2i(half)), rl_vf_pow2i(rl_vf_sub(n, half)));
  return rl_vf_select(rl_vf_isnan(x), x, y);
}

/* 1 / (1 + e^-x), max error 2.5 ULP (2.33 measured). With e = e^-|x|: 1 / (1 + e) for x >= 0 and
 * e / (1 + e) for x < 0, so neither side overflows or cancels. */
static inline rl_vf rl_vf_logistic(rl_vf x) {
  const rl_vf e = rl_vf_exp(rl_vf_neg(rl_vf_abs(x)));
  const rl_vf num = rl_vf_select(rl_vf_lt(x, rl_vf_zero()), e, rl_vf_splat(1.0f));
  return rl_vf_div(num, rl_vf_add(rl_vf_splat(1.0f), e));
}

/* tanh, max error 1.5 ULP (1.31 measured). |x| < 0.625: x + x^3 R(x^2), R fitted (tools/fit-vmath.py);
 * above: 1 - 2 / (e^2|x| + 1), which saturates to 1 (e^2|x| overflowing to inf included). */
static inline rl_vf rl_vf_tanh(rl_vf x) {
  const rl_vf a = rl_vf_abs(x), s = rl_vf_mul(a, a);
  rl_vf r = rl_vf_splat(0.0022958412f);
  r = rl_vf_fma(r, s, rl_vf_splat(-0.00834698f));
  r = rl_vf_fma(r, s, rl_vf_splat(0.021769961f));
  r = rl_vf_fma(r, s, rl_vf_splat(-0.053959407f));
  r = rl_vf_fma(r, s, rl_vf_splat(0.13333304f));
  r = rl_vf_fma(r, s, rl_vf_splat(-0.33333334f));
  const rl_vf small = rl_vf_fma(rl_vf_mul(a, s), r, a);
  const rl_vf large = rl_vf_sub(rl_vf_splat(1.0f), rl_vf_div(rl_vf_splat(2.0f), rl_vf_add(rl_vf_exp(rl_vf_add(a, a)), rl_vf_splat(1.0f))));
  const rl_vf t = rl_vf_select(rl_vf_lt(a, rl_vf_splat(0.625f)), small, large);
  return rl_vf_select(rl_vf_isnan(x), x, rl_vf_with_sign_of(t, x));
}

/* erf, max error 1.5 ULP (1.27 measured). |x| < 1: x (2/sqrt(pi) + x^2 P(x^2)); 1 <= |x| < 4: 1 - e^-x^2 Q(8/3 / |x| - 5/3),
 * with x^2's rounding error folded back in (e^-(s+d) ~ e^-s (1 - d)); beyond: +-1. P and Q fitted
 * by tools/fit-vmath.py. */
static inline rl_vf rl_vf_erf(rl_vf x) {
  const rl_vf a = rl_vf_abs(x), s = rl_vf_mul(a, a);
  rl_vf p = rl_vf_splat(8.386716e-05f);
  p = rl_vf_fma(p, s, rl_vf_splat(-0.0008163731f));
  p = rl_vf_fma(p, s, rl_vf_splat(0.005204732f));
  p = rl_vf_fma(p, s, rl_vf_splat(-0.026861755f));
  p = rl_vf_fma(p, s, rl_vf_splat(0.112837546f));
  p = rl_vf_fma(p, s, rl_vf_splat(-0.37612638f));
  /* x (2/sqrt(pi) + s P): 2/sqrt(pi) as two f32, the small one added to the correction term */
  const rl_vf small = rl_vf_fma(a, rl_vf_splat(1.1283792f), rl_vf_mul(a, rl_vf_fma(p, s, rl_vf_splat(-5.8635383e-08f))));
  const rl_vf b = rl_vf_clamp(a, 1.0f, 4.0f);
  const rl_vf u = rl_vf_fma(rl_vf_div(rl_vf_splat(1.0f), b), rl_vf_splat(2.66666667f), rl_vf_splat(-1.66666667f));
  rl_vf q = rl_vf_splat(-1.8342505e-06f);
  q = rl_vf_fma(q, u, rl_vf_splat(3.8165945e-06f));
  q = rl_vf_fma(q, u, rl_vf_splat(1.8064687e-06f));
  q = rl_vf_fma(q, u, rl_vf_splat(-2.8078155e-05f));
  q = rl_vf_fma(q, u, rl_vf_splat(0.000120197f));
  q = rl_vf_fma(q, u, rl_vf_splat(-0.0003481154f));
  q = rl_vf_fma(q, u, rl_vf_splat(0.00046136943f));
  q = rl_vf_fma(q, u, rl_vf_splat(0.0023080213f));
  q = rl_vf_fma(q, u, rl_vf_splat(-0.024243014f));
  q = rl_vf_fma(q, u, rl_vf_splat(0.14335641f));
  q = rl_vf_fma(q, u, rl_vf_splat(0.305953f));
  const rl_vf bb = rl_vf_mul(b, b), d = rl_vf_fma(b, b, rl_vf_neg(bb)); /* b^2 = bb + d exactly */
  const rl_vf tail = rl_vf_mul(rl_vf_mul(rl_vf_exp(rl_vf_neg(bb)), rl_vf_sub(rl_vf_splat(1.0f), d)), q);
  const rl_vf large = rl_vf_sub(rl_vf_splat(1.0f), tail);
  const rl_vf e = rl_vf_select(rl_vf_lt(a, rl_vf_splat(1.0f)), small, rl_vf_select(rl_vf_lt(a, rl_vf_splat(4.0f)), large, rl_vf_splat(1.0f)));
  return rl_vf_select(rl_vf_isnan(x), x, rl_vf_with_sign_of(e, x));
}

#endif /* RL_SIMD_H */
