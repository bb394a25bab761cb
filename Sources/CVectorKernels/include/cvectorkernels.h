#ifndef CVECTORKERNELS_H
#define CVECTORKERNELS_H
#include <stddef.h>

/// Whether this CPU has AVX2 and FMA (x86-64); 0 elsewhere. The AVX2 kernels below may only be
/// called when this returns 1; the Swift SIMD kernels are the portable path and the reference.
int apus_vec_has_avx2_fma(void);

/// Squared Euclidean distance of two n-float buffers (AVX2 + FMA, 32 lanes per step).
float apus_vec_l2sq_avx2(const float *a, const float *b, size_t n);

/// Squared Euclidean distance, abandoned once a partial sum (checked every 32 lanes) exceeds
/// `bound`: returns the exact value when it is at most `bound`, otherwise some value above it.
float apus_vec_l2sq_bounded_avx2(const float *a, const float *b, size_t n, float bound);

/// Inner product of two n-float buffers (AVX2 + FMA).
float apus_vec_dot_avx2(const float *a, const float *b, size_t n);

/// Hints the CPU to load the cache line holding `p` (a search about to read a neighbour's
/// vector or links). Swift has no prefetch intrinsic; this inlines into the caller.
static inline void apus_vec_prefetch(const void *p) {
#if defined(__GNUC__) || defined(__clang__)
    __builtin_prefetch(p, 0, 3);
#else
    (void)p;
#endif
}

#endif
