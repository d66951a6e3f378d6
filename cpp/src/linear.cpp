// linear_forward / linear_backward: pack the B operand once in column panels, then run
// independent output tiles on the pool; each tile sums over k in order, so no result depends
// on the thread count.
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

// B operands are packed in column panels of kPanel: (panels, k, kPanel), zero padded, so that
// the micro-kernel streams each panel's rows contiguously instead of kPanel-wide strips of
// rows n apart (which missed L1 on every k step).
constexpr index_t kPanel = 64;

// Panels of the (k, n) matrix whose element (p, j) is src[p * stride_k + j * stride_n].
template <class T>
Buffer<T> pack_panels(const T* src, index_t k, index_t n, index_t stride_k, index_t stride_n) {
    const index_t panels = blocks(n, kPanel);
    Buffer<T> dst(panels * k * kPanel, n % kPanel != 0);
    threads::parallel_for(panels, [&](index_t t, int) {
        T* panel = dst.get() + t * k * kPanel;
        const index_t j0 = t * kPanel, width = std::min(kPanel, n - j0);
        if (stride_n == 1) {
            for (index_t p = 0; p < k; ++p)
                std::copy(src + p * stride_k + j0, src + p * stride_k + j0 + width, panel + p * kPanel);
            return;
        }
        for (index_t j = 0; j < width; ++j)  // a transposed source: read its rows in order
            for (index_t p = 0; p < k; ++p) panel[p * kPanel + j] = src[p * stride_k + (j0 + j) * stride_n];
    });
    return dst;
}

// C (m, n) = A B (+ bias[col]) with B packed in panels: A's element (r, p) at
// a[r * lda + p * ldp]. Tasks are kRows x kCols tiles of C; each panel product sums over k in
// order, so tiling never changes a result. Tiles go straight into C when its rows hold whole
// SIMD batches, else through worker scratch.
template <class T>
void tiled_product(index_t m, index_t n, index_t k, const T* a, index_t lda, index_t ldp,
                   const T* b, const T* bias, T* c) {
    const auto gemm = active_kernels().gemm<T>();
    const index_t n_pad = round_up(n, kPad);
    const index_t row_tiles = blocks(m, kRows), col_tiles = blocks(n_pad, kCols);
    const bool direct = n == n_pad;
    Buffer<T> scratch(direct ? 0 : kRows * kCols * get_num_threads(), false);
    threads::parallel_for(row_tiles * col_tiles, [&](index_t task, int worker) {
        const index_t i0 = task / col_tiles * kRows, j0 = task % col_tiles * kCols;
        const index_t rows = std::min(kRows, m - i0), cols = std::min(kCols, n_pad - j0);
        T* tile = direct ? c + i0 * n + j0 : scratch.get() + worker * kRows * kCols;
        const index_t ld = direct ? n : kCols;
        for (index_t j = 0; j < cols; j += kPanel)
            gemm(rows, std::min(kPanel, cols - j), k, a + i0 * lda, lda, ldp,
                 b + (j0 + j) / kPanel * k * kPanel, kPanel, tile + j, ld, false);
        const index_t used = std::min(cols, n - j0);
        for (index_t i = 0; i < rows; ++i) {
            T* dst = c + (i0 + i) * n + j0;
            const T* src = tile + i * ld;
            if (bias) {
                for (index_t j = 0; j < used; ++j) dst[j] = src[j] + bias[j0 + j];
            } else if (!direct) {
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
    Buffer<T> wt = pack_panels(w, in, out, 1, in);  // w^T (in, out)
    tiled_product<T>(n, out, in, x, in, 1, wt.get(), bias, y);
}

template <class T>
void linear_backward(const T* grad_out, const T* x, const T* w, index_t n, index_t in,
                     index_t out, T* dx, T* dw, T* dbias) {
    if (dx && n > 0 && in > 0) {  // dx (n, in) = grad_out (n, out) w (out, in)
        Buffer<T> wp = pack_panels(w, out, in, in, 1);
        tiled_product<T>(n, in, out, grad_out, out, 1, wp.get(), nullptr, dx);
    }
    if (dw && out > 0 && in > 0) {  // dw (out, in) = grad_out^T (out, n) x (n, in)
        Buffer<T> xp = pack_panels(x, n, in, in, 1);
        tiled_product<T>(out, in, n, grad_out, 1, out, xp.get(), nullptr, dw);
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
