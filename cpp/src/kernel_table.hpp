// The per-arch kernel entry points, one table per instruction set. Arch TUs define the tables;
// dispatch.cpp picks one. No SIMD types cross this boundary.
#pragma once

#include "attention_plan.hpp"

namespace attnlab {

template <class T>
struct AttentionKernels {
    using Tile = void (*)(const AttentionPlan<T>&, index_t, index_t, index_t, T* scratch);
    Tile forward;      // (plan, batch, head, query block)
    Tile backward_kv;  // (plan, batch, kv head, key block)
    Tile backward_q;   // (plan, batch, head, query block)
};

// C (m x n) = A B, or += with accumulate; A's element (r, p) at a[r * lda + p * ldp], B rows
// of stride ldb with n a multiple of kPad. Cache-blocked over k; sums over k in order.
template <class T>
using GemmKernel = void (*)(index_t m, index_t n, index_t k, const T* a, index_t lda,
                            index_t ldp, const T* b, index_t ldb, T* c, index_t ldc,
                            bool accumulate);

template <class T>
using ArrayKernel = void (*)(const T* x, index_t n, T* out);

struct KernelTable {
    const char* name;
    AttentionKernels<float> attention_f32;
    AttentionKernels<double> attention_f64;
    GemmKernel<float> gemm_f32;
    GemmKernel<double> gemm_f64;
    ArrayKernel<float> exp_f32;
    ArrayKernel<double> exp_f64;
    index_t (*fma_loop)(index_t iters, float* sink);  // float FMAs; returns the flops done

    template <class T>
    const AttentionKernels<T>& attention() const {
        if constexpr (sizeof(T) == sizeof(float)) return attention_f32;
        else return attention_f64;
    }

    template <class T>
    GemmKernel<T> gemm() const {
        if constexpr (sizeof(T) == sizeof(float)) return gemm_f32;
        else return gemm_f64;
    }

    template <class T>
    ArrayKernel<T> exp() const {
        if constexpr (sizeof(T) == sizeof(float)) return exp_f32;
        else return exp_f64;
    }
};

extern const KernelTable kernels_sse2;
extern const KernelTable kernels_avx2;
extern const KernelTable kernels_avx512f;
extern const KernelTable kernels_neon64;

// The table the next kernel call will use.
const KernelTable& active_kernels();

// The best table this CPU runs, whatever is forced.
const KernelTable& best_kernels();

}  // namespace attnlab
