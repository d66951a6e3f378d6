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

template <class T>
void linear_forward(const T* x, index_t n, index_t in, const T* w, index_t out, const T* bias,
                    T* y) {
    if (n == 0 || out == 0) return;
    const auto gemm = active_kernels().gemm<T>();
    Buffer<T> wt = pack_panels(w, in, out, 1, in, gemm.strip);  // w^T (in, out)
    tiled_product<T>(gemm, n, out, in, x, in, 1, packed_panels(wt.get(), in, gemm.strip), bias, y);
}

template <class T>
void linear_backward(const T* grad_out, const T* x, const T* w, index_t n, index_t in,
                     index_t out, T* dx, T* dw, T* dbias) {
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
