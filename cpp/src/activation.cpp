// Drives the element-wise activations: fixed-size chunks on the pool.
#include "kernel_table.hpp"
#include "row_tiles.hpp"

namespace attnlab {

template <class T>
void activation_forward(Activation f, const T* x, index_t n, T* y) {
    const auto& k = active_kernels().blocks<T>();
    for_row_tiles(
        n, 1, [&](index_t, index_t i, index_t m) { k.activation(f, nullptr, x + i, m, y + i); });
}

template <class T>
void activation_backward(Activation f, const T* grad_out, const T* x, index_t n, T* dx) {
    const auto& k = active_kernels().blocks<T>();
    for_row_tiles(n, 1, [&](index_t, index_t i, index_t m) {
        k.activation(f, grad_out + i, x + i, m, dx + i);
    });
}

template void activation_forward<float>(Activation, const float*, index_t, float*);
template void activation_forward<double>(Activation, const double*, index_t, double*);
template void activation_backward<float>(Activation, const float*, const float*, index_t, float*);
template void activation_backward<double>(Activation, const double*, const double*, index_t,
                                          double*);

}  // namespace attnlab
