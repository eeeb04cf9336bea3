/* runtime-lite SIMD abstraction: one vector-of-f32 type and the operations generated kernels use,
 * for each instruction set a target can select (src/target/targets.ts, field `simd`). The
 * generated model.c defines exactly one of RL_SIMD_AVX512, RL_SIMD_AVX2, RL_SIMD_NEON,
 * RL_SIMD_HELIUM before including this header; kernels are written once against rl_vf_*.
 *
 * Semantics match the scalar code: rl_vf_fma rounds once (fused), rl_vf_max/min follow StableHLO
 * (NaN if either operand is NaN; +0 > -0). */
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
static inline rl_vf rl_vf_max(rl_vf a, rl_vf b) {
  __mmask16 nan = _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q), eq = _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ);
  rl_vf r = _mm512_mask_blend_ps(eq, _mm512_max_ps(a, b), _mm512_and_ps(a, b));
  return _mm512_mask_blend_ps(nan, r, _mm512_add_ps(a, b));
}

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
static inline rl_vf rl_vf_max(rl_vf a, rl_vf b) {
  rl_vf nan = _mm256_cmp_ps(a, b, _CMP_UNORD_Q), eq = _mm256_cmp_ps(a, b, _CMP_EQ_OQ);
  rl_vf r = _mm256_blendv_ps(_mm256_max_ps(a, b), _mm256_and_ps(a, b), eq);
  return _mm256_blendv_ps(r, _mm256_add_ps(a, b), nan);
}

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
static inline rl_vf rl_vf_max(rl_vf a, rl_vf b) {
  uint32x4_t ord = vandq_u32(vceqq_f32(a, a), vceqq_f32(b, b)), eq = vceqq_f32(a, b);
  uint32x4_t both = vandq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b));
  rl_vf r = vbslq_f32(eq, vreinterpretq_f32_u32(both), vbslq_f32(vcgtq_f32(a, b), a, b));
  return vbslq_f32(ord, r, vaddq_f32(a, b));
}

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
static inline rl_vf rl_vf_max(rl_vf a, rl_vf b) {
  mve_pred16_t ord = vcmpeqq_f32(a, a) & vcmpeqq_f32(b, b), eq = vcmpeqq_f32(a, b);
  rl_vf both = vreinterpretq_f32_u32(vandq_u32(vreinterpretq_u32_f32(a), vreinterpretq_u32_f32(b)));
  rl_vf r = vpselq_f32(both, vpselq_f32(a, b, vcmpgtq_f32(a, b)), eq);
  return vpselq_f32(r, vaddq_f32(a, b), ord);
}

#else
#error "rl_simd.h: define one of RL_SIMD_AVX512, RL_SIMD_AVX2, RL_SIMD_NEON, RL_SIMD_HELIUM"
#endif

#endif /* RL_SIMD_H */
