// Drives softmax and log_softmax over the last axis: row tiles on the pool.
#include "kernel_table.hpp"
#include "row_tiles.hpp"

namespace attnlab {

template <class T>
void softmax_forward(const T* x, index_t rows, index_t n, bool log, T* y) {
    if (n == 0) return;
    const auto& k = active_kernels().blocks<T>();
    for_row_tiles(rows, n, [&](index_t, index_t r0, index_t m) {
        k.softmax(x + r0 * n, m, n, log, y + r0 * n);
    });
}

template <class T>
void softmax_backward(const T* grad_out, const T* x, index_t rows, index_t n, bool log, T* dx) {
    if (n == 0) return;
    const auto& k = active_kernels().blocks<T>();
    for_row_tiles(rows, n, [&](index_t, index_t r0, index_t m) {
        k.softmax_backward(grad_out + r0 * n, x + r0 * n, m, n, log, dx + r0 * n);
    });
}

template void softmax_forward<float>(const float*, index_t, index_t, bool, float*);
template void softmax_forward<double>(const double*, index_t, index_t, bool, double*);
template void softmax_backward<float>(const float*, const float*, index_t, index_t, bool, float*);
template void softmax_backward<double>(const double*, const double*, index_t, index_t, bool,
                                       double*);

}  // namespace attnlab
