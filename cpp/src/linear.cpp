// linear_forward / linear_backward: the B operand in column panels (packed once, or read in
// place: see row_panels), then independent output tiles on the pool (gemm_tiles.hpp).
#include <algorithm>
#include <optional>

#include "gemm_tiles.hpp"

namespace attnlab {

using gemm::pack_panels;
using gemm::packed_panels;
using gemm::row_panels;
using gemm::tiled_product;
using workspace::Buffer;

namespace {

// At most this many rows go through few_rows: up to one panel of the kernel's columns.
constexpr index_t kFewRows = gemm::kPanel;
// Multiply-adds of w per few_rows task: a task then outlasts its dispatch.
constexpr index_t kFewRowsWork = index_t(1) << 16;

// y (n, out) = x w^T + bias for n <= kFewRows rows (decoding: a token a step), as y^T = w x^T:
// the kernel broadcasts w's elements where the packed path broadcasts x's, so w is read in
// place, and only x^T (in, n rounded up to kPad) is packed, where packing w^T cost up to ten
// times the product.
// Each y element starts from the same bias and sums the same products over k in the same
// order (products commute), so y is bitwise the packed path's.
template <class T>
void few_rows(GemmKernel<T> gemm, const T* x, index_t n, index_t in, const T* w, index_t out,
              const T* bias, T* y) {
    const index_t cols = round_up(n, kPad);
    Buffer<T> xt(in * cols);  // columns past n stay zero
    for (index_t i = 0; i < n; ++i)
        for (index_t p = 0; p < in; ++p) xt.get()[p * cols + i] = x[i * in + p];
    Buffer<T> yt(out * cols, false);  // y^T, written in full
    const index_t rows = std::max(
        gemm::kRowStep, round_up(blocks(kFewRowsWork, std::max<index_t>(in, 1)), gemm::kRowStep));
    threads::parallel_for(blocks(out, rows), [&](index_t task, int) {
        const index_t o0 = task * rows, m = std::min(rows, out - o0);
        T* c = yt.get() + o0 * cols;
        for (index_t o = 0; o < m; ++o)
            std::fill(c + o * cols, c + (o + 1) * cols, bias ? bias[o0 + o] : T(0));
        gemm.run(m, cols, in, w + o0 * in, in, 1, xt.get(), cols, 0, c, cols, true, nullptr);
    });
    for (index_t i = 0; i < n; ++i)
        for (index_t o = 0; o < out; ++o) y[i * out + o] = yt.get()[o * cols + i];
}

}  // namespace

template <class T>
void linear_forward(const T* x, index_t n, index_t in, const T* w, index_t out, const T* bias,
                    T* y) {
    if (n == 0 || out == 0) return;
    const auto gemm = active_kernels().gemm<T>();
    if (n <= kFewRows) return few_rows(gemm, x, n, in, w, out, bias, y);
    Buffer<T> wt = pack_panels(w, in, out, 1, in, gemm.strip);  // w^T (in, out)
    tiled_product<T>(gemm, n, out, in, x, in, 1, packed_panels(wt.get(), in, gemm.strip), bias, y);
}

template <class T>
void linear_backward(const T* grad_out, const T* x, const T* w, index_t n, index_t in, index_t out,
                     T* dx, T* dw, T* dbias) {
    const auto gemm = active_kernels().gemm<T>();
    if (dx && n > 0 && in > 0) {  // dx (n, in) = grad_out (n, out) w (out, in)
        std::optional<Buffer<T>> packed;
        tiled_product<T>(gemm, n, in, out, grad_out, out, 1,
                         row_panels(w, n, out, in, in, gemm.strip, packed), nullptr, dx);
    }
    if (dw && out > 0 && in > 0) {  // dw (out, in) = grad_out^T (out, n) x (n, in)
        std::optional<Buffer<T>> packed;
        tiled_product<T>(gemm, out, in, n, grad_out, 1, out,
                         row_panels(x, out, n, in, in, gemm.strip, packed), nullptr, dw);
    }
    if (dbias) {
        // dbias = 1^T grad_out: the kernel broadcasting a single 1 (lda = ldp = 0) sums each
        // column over the rows in order, as a loop would (1 * g is exact, so each FMA rounds
        // as the addition does), in SIMD columns and on the pool; the last out % kPad columns
        // by that loop.
        const T one(1);
        const index_t whole = out / kPad * kPad;
        threads::parallel_for(blocks(whole, gemm::kPanel), [&](index_t t, int) {
            const index_t j = t * gemm::kPanel;
            gemm.run(1, std::min(gemm::kPanel, whole - j), n, &one, 0, 0, grad_out + j, out, 0,
                     dbias + j, out, false, nullptr);
        });
        std::fill(dbias + whole, dbias + out, T(0));
        for (index_t i = 0; i < n; ++i)
            for (index_t o = whole; o < out; ++o) dbias[o] += grad_out[i * out + o];
    }
}

template void linear_forward<float>(const float*, index_t, index_t, const float*, index_t,
                                    const float*, float*);
template void linear_forward<double>(const double*, index_t, index_t, const double*, index_t,
                                     const double*, double*);
template void linear_backward<float>(const float*, const float*, const float*, index_t, index_t,
                                     index_t, float*, float*, float*);
template void linear_backward<double>(const double*, const double*, const double*, index_t, index_t,
                                      index_t, double*, double*, double*);

}  // namespace attnlab
