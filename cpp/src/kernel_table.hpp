// The per-arch kernel entry points, one table per instruction set. Arch TUs define the tables;
// dispatch.cpp picks one. No SIMD types cross this boundary.
#pragma once

#include "attention_plan.hpp"
#include "layers/optimizer.hpp"

namespace attnlab {

template <class T>
struct AttentionKernels {
    using Tile = void (*)(const AttentionPlan<T>&, index_t, index_t, index_t, T* scratch);
    // (plan, the head's packed K and V, batch, head, query block)
    void (*forward)(const AttentionPlan<T>&, const HeadKv<T>&, index_t, index_t, index_t,
                    T* scratch);
    Tile backward_kv;  // (plan, batch, kv head, key block)
    Tile backward_q;   // (plan, batch, head, query block)
    void (*backward_head)(const AttentionPlan<T>&, const HeadKvGrad<T>&, index_t batch,
                          index_t kv_head, T* scratch);
    // out[r] = sum over c < n of a[r * n + c] * b[r * n + c], for r < rows.
    void (*row_dots)(const T* a, const T* b, index_t rows, index_t n, T* out);
    // Rows (n, dim) times factor to key blocks (blocks, dim, kKeyBlock), for K^T and V^T;
    // zero past n.
    void (*to_key_blocks)(const T* src, index_t n, index_t dim, T factor, T* dst);
};

// Row-tile kernels of the building blocks (see api.hpp); each call covers whole rows.
template <class T>
struct BlockKernels {
    // centred = layer norm, else RMS norm; b is ignored for RMS norm.
    void (*norm)(const T* x, index_t rows, index_t n, const T* w, const T* b, bool centred, T eps,
                 T* y);
    // dw, db accumulate this tile's sums.
    void (*norm_backward)(const T* g, const T* x, index_t rows, index_t n, const T* w, bool centred,
                          T eps, T* dx, T* dw, T* db);
    // forward when g is null, else dx = g * f'(x).
    void (*activation)(Activation f, const T* g, const T* x, index_t n, T* y);
    void (*softmax)(const T* x, index_t rows, index_t n, bool log, T* y);
    void (*softmax_backward)(const T* g, const T* x, index_t rows, index_t n, bool log, T* dx);
    void (*cross_entropy)(const T* x, const std::int64_t* target, index_t rows, index_t n,
                          const CrossEntropyOptions& o, T* loss);
    void (*cross_entropy_backward)(const T* row_grad, const T* x, const std::int64_t* target,
                                   index_t rows, index_t n, const CrossEntropyOptions& o, T* dx);
    void (*dropout)(const T* x, index_t begin, index_t n, double p, std::uint64_t seed, T* y);
    void (*scatter_add)(const T* grad, const index_t* order, const index_t* offsets, index_t v0,
                        index_t v1, index_t dim, T* dweight);
    void (*rope)(const T* x, index_t r0, index_t rows, index_t dim, index_t half, bool interleaved,
                 const T* cos, const T* sin, index_t num_positions, bool inverse, T* y);
};

// C (m x n) = A B (+ bias: n values added to every row, or null), or += A B with accumulate;
// A's element (r, p) at a[r * lda + p * ldp]; n a multiple of kPad. B's rows are ldb apart and
// its columns row-major (strip_stride 0), or packed in strips of `strip` columns (the
// micro-kernel's panel width), strip s at b + s * strip_stride. Cache-blocked over k; sums
// over k in order.
template <class T>
struct GemmKernel {
    void (*run)(index_t m, index_t n, index_t k, const T* a, index_t lda, index_t ldp, const T* b,
                index_t ldb, index_t strip_stride, T* c, index_t ldc, bool accumulate,
                const T* bias);
    index_t strip;
};

// One optimizer step over elements [begin, begin + n) of one parameter's buffers, in place.
template <class T>
struct OptimizerKernels {
    void (*sgd)(const layers::SgdBuffers<T>&, index_t begin, index_t n, const layers::SgdOptions&);
    void (*adam)(const layers::AdamBuffers<T>&, index_t begin, index_t n,
                 const layers::AdamOptions&);
};

// The data movement and sums between the kernels of a fused layer (layers/plumbing.hpp).
template <class T>
struct PlumbingKernels {
    void (*gather)(const T* src, index_t n0, index_t n1, index_t n2, index_t stride0,
                   index_t stride1, T* dst);
    void (*add)(const T* a, const T* b, index_t n, T* out);
};

template <class T>
using ExpKernel = void (*)(const T* x, index_t n, ExpVariant variant, T* out);

struct KernelTable {
    const char* name;
    AttentionKernels<float> attention_f32;
    AttentionKernels<double> attention_f64;
    BlockKernels<float> blocks_f32;
    BlockKernels<double> blocks_f64;
    GemmKernel<float> gemm_f32;
    GemmKernel<double> gemm_f64;
    ExpKernel<float> exp_f32;
    ExpKernel<double> exp_f64;
    OptimizerKernels<float> optimizers_f32;
    OptimizerKernels<double> optimizers_f64;
    PlumbingKernels<float> plumbing_f32;
    PlumbingKernels<double> plumbing_f64;
    index_t (*fma_loop)(index_t iters, float* sink);  // float FMAs; returns the flops done

    template <class T>
    const AttentionKernels<T>& attention() const {
        if constexpr (sizeof(T) == sizeof(float)) return attention_f32;
        else return attention_f64;
    }

    template <class T>
    const BlockKernels<T>& blocks() const {
        if constexpr (sizeof(T) == sizeof(float)) return blocks_f32;
        else return blocks_f64;
    }

    template <class T>
    GemmKernel<T> gemm() const {
        if constexpr (sizeof(T) == sizeof(float)) return gemm_f32;
        else return gemm_f64;
    }

    template <class T>
    ExpKernel<T> exp() const {
        if constexpr (sizeof(T) == sizeof(float)) return exp_f32;
        else return exp_f64;
    }

    template <class T>
    const OptimizerKernels<T>& optimizers() const {
        if constexpr (sizeof(T) == sizeof(float)) return optimizers_f32;
        else return optimizers_f64;
    }

    template <class T>
    const PlumbingKernels<T>& plumbing() const {
        if constexpr (sizeof(T) == sizeof(float)) return plumbing_f32;
        else return plumbing_f64;
    }
};

extern const KernelTable kernels_sse2;
extern const KernelTable kernels_avx2;
extern const KernelTable kernels_avx512f;
extern const KernelTable kernels_neon64;

// The table the next kernel call will use.
const KernelTable& active_kernels();

}  // namespace attnlab
