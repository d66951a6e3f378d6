// linear_forward / linear_backward: pack the B operand once (transposed or padded to whole SIMD
// rows), then run independent output tiles on the pool; each tile sums over k in order, so no
// result depends on the thread count.
#include <algorithm>

#include "attention_plan.hpp"
#include "kernel_table.hpp"
#include "threads.hpp"
#include "workspace.hpp"

namespace attnlab {
namespace {

// Output tiles: kRows x kCols of C per task; kCols is a multiple of kPad.
constexpr index_t kRows = 96;
constexpr index_t kCols = 256;

using workspace::Buffer;

// dst (rows, cols_pad) = src^T for src (cols, rows); padding stays zero.
template <class T>
void pack_transposed(const T* src, index_t rows, index_t cols, index_t cols_pad, T* dst) {
    threads::parallel_for(blocks(cols, 64), [&](index_t t, int) {
        for (index_t j = t * 64; j < std::min(cols, (t + 1) * 64); ++j)
            for (index_t p = 0; p < rows; ++p) dst[p * cols_pad + j] = src[j * rows + p];
    });
}

// dst (rows, cols_pad) = src (rows, cols) with zero padding.
template <class T>
void pack_padded(const T* src, index_t rows, index_t cols, index_t cols_pad, T* dst) {
    threads::parallel_for(blocks(rows, 256), [&](index_t t, int) {
        for (index_t r = t * 256; r < std::min(rows, (t + 1) * 256); ++r)
            std::copy(src + r * cols, src + (r + 1) * cols, dst + r * cols_pad);
    });
}

// C (m, n) = A B with B packed (k, n_pad): A's element (r, p) at a[r * lda + p * ldp]. Each
// task computes one tile into worker scratch, then copies it out (plus bias[col] if given).
template <class T>
void tiled_product(index_t m, index_t n, index_t k, const T* a, index_t lda, index_t ldp,
                   const T* b, index_t n_pad, const T* bias, T* c) {
    const auto gemm = active_kernels().gemm<T>();
    const index_t row_tiles = blocks(m, kRows), col_tiles = blocks(n_pad, kCols);
    Buffer<T> scratch(kRows * kCols * get_num_threads());
    threads::parallel_for(row_tiles * col_tiles, [&](index_t task, int worker) {
        const index_t i0 = task / col_tiles * kRows, j0 = task % col_tiles * kCols;
        const index_t rows = std::min(kRows, m - i0), cols = std::min(kCols, n_pad - j0);
        T* tile = scratch.get() + worker * kRows * kCols;
        gemm(rows, cols, k, a + i0 * lda, lda, ldp, b + j0, n_pad, tile, kCols, false);
        const index_t used = std::min(cols, n - j0);
        for (index_t i = 0; i < rows; ++i) {
            T* dst = c + (i0 + i) * n + j0;
            const T* src = tile + i * kCols;
            if (bias) {
                for (index_t j = 0; j < used; ++j) dst[j] = src[j] + bias[j0 + j];
            } else {
                std::copy(src, src + used, dst);
            }
        }
    });
}

}  // namespace

template <class T>
void linear_forward(const T* x, index_t n, index_t in, const T* w, index_t out, const T* bias,
                    T* y) {
    if (n == 0 || out == 0) return;
    const index_t out_pad = round_up(out, kPad);
    Buffer<T> wt(in * out_pad);  // (in, out_pad) = w^T
    pack_transposed(w, in, out, out_pad, wt.get());
    tiled_product<T>(n, out, in, x, in, 1, wt.get(), out_pad, bias, y);
}

template <class T>
void linear_backward(const T* grad_out, const T* x, const T* w, index_t n, index_t in,
                     index_t out, T* dx, T* dw, T* dbias) {
    const index_t in_pad = round_up(in, kPad);
    if (n > 0 && in > 0) {  // dx (n, in) = grad_out (n, out) w (out, in)
        Buffer<T> wp(out * in_pad);
        pack_padded(w, out, in, in_pad, wp.get());
        tiled_product<T>(n, in, out, grad_out, out, 1, wp.get(), in_pad, nullptr, dx);
    }
    if (out > 0 && in > 0) {  // dw (out, in) = grad_out^T (out, n) x (n, in)
        Buffer<T> xp(n * in_pad);
        pack_padded(x, n, in, in_pad, xp.get());
        tiled_product<T>(out, in, n, grad_out, 1, out, xp.get(), in_pad, nullptr, dw);
    }
    if (dbias) {
        std::fill(dbias, dbias + out, T(0));
        for (index_t i = 0; i < n; ++i)
            for (index_t o = 0; o < out; ++o) dbias[o] += grad_out[i * out + o];
    }
}

template void linear_forward<float>(const float*, index_t, index_t, const float*, index_t,
                                    const float*, float*);
template void linear_forward<double>(const double*, index_t, index_t, const double*, index_t,
                                     const double*, double*);
template void linear_backward<float>(const float*, const float*, const float*, index_t, index_t,
                                     index_t, float*, float*, float*);
template void linear_backward<double>(const double*, const double*, const double*, index_t,
                                      index_t, index_t, double*, double*, double*);

}  // namespace attnlab
