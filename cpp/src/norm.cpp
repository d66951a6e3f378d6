// Drives layer_norm and rms_norm: row tiles on the pool; dweight/dbias from per-tile partials
// summed in tile order, so they do not depend on the thread count.
#include <vector>

#include "kernel_table.hpp"
#include "row_tiles.hpp"

namespace attnlab {
namespace {

template <class T>
void forward(bool centred, const T* x, index_t rows, index_t n, const T* weight, const T* bias,
             double eps, T* y) {
    if (rows == 0 || n == 0) return;
    std::vector<T> ones(weight ? 0 : n, T(1)), zeros(bias ? 0 : n, T(0));
    if (!weight) weight = ones.data();
    if (!bias) bias = zeros.data();
    const auto& k = active_kernels().blocks<T>();
    for_row_tiles(rows, n, [&](index_t, index_t r0, index_t m) {
        k.norm(x + r0 * n, m, n, weight, bias, centred, T(eps), y + r0 * n);
    });
}

template <class T>
void backward(bool centred, const T* g, const T* x, index_t rows, index_t n, const T* weight,
              double eps, T* dx, T* dweight, T* dbias) {
    if (n == 0) return;
    std::vector<T> ones(weight ? 0 : n, T(1));
    if (!weight) weight = ones.data();
    const index_t tiles = row_tiles(rows, n);
    std::vector<T> partial(2 * tiles * n, T(0));  // dweight per tile, then dbias per tile
    const auto& k = active_kernels().blocks<T>();
    for_row_tiles(rows, n, [&](index_t t, index_t r0, index_t m) {
        k.norm_backward(g + r0 * n, x + r0 * n, m, n, weight, centred, T(eps), dx + r0 * n,
                        partial.data() + t * n, partial.data() + (tiles + t) * n);
    });
    for (int which = 0; which < 2; ++which) {
        T* out = which == 0 ? dweight : dbias;
        if (!out) continue;
        const T* p = partial.data() + which * tiles * n;
        std::fill(out, out + n, T(0));
        for (index_t t = 0; t < tiles; ++t)
            for (index_t j = 0; j < n; ++j) out[j] += p[t * n + j];
    }
}

}  // namespace

template <class T>
void layer_norm_forward(const T* x, index_t rows, index_t n, const T* weight, const T* bias,
                        double eps, T* y) {
    forward(true, x, rows, n, weight, bias, eps, y);
}

template <class T>
void rms_norm_forward(const T* x, index_t rows, index_t n, const T* weight, double eps, T* y) {
    forward<T>(false, x, rows, n, weight, nullptr, eps, y);
}

template <class T>
void layer_norm_backward(const T* grad_out, const T* x, index_t rows, index_t n, const T* weight,
                         double eps, T* dx, T* dweight, T* dbias) {
    backward(true, grad_out, x, rows, n, weight, eps, dx, dweight, dbias);
}

template <class T>
void rms_norm_backward(const T* grad_out, const T* x, index_t rows, index_t n, const T* weight,
                       double eps, T* dx, T* dweight) {
    backward<T>(false, grad_out, x, rows, n, weight, eps, dx, dweight, nullptr);
}

#define ATTNLAB_INSTANTIATE(T)                                                                     \
    template void layer_norm_forward<T>(const T*, index_t, index_t, const T*, const T*, double,    \
                                        T*);                                                       \
    template void rms_norm_forward<T>(const T*, index_t, index_t, const T*, double, T*);           \
    template void layer_norm_backward<T>(const T*, const T*, index_t, index_t, const T*, double,   \
                                         T*, T*, T*);                                              \
    template void rms_norm_backward<T>(const T*, const T*, index_t, index_t, const T*, double, T*, \
                                       T*);
ATTNLAB_INSTANTIATE(float)
ATTNLAB_INSTANTIATE(double)
#undef ATTNLAB_INSTANTIATE

}  // namespace attnlab
