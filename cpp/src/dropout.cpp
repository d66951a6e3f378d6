// Drives functional dropout: fixed-size chunks of the flat array on the pool; the mask is a
// function of (seed, flat index) only.
#include "kernel_table.hpp"
#include "row_tiles.hpp"

namespace attnlab {

template <class T>
void dropout_forward(const T* x, index_t n, double p, std::uint64_t seed, T* y, index_t first) {
    const auto& k = active_kernels().blocks<T>();
    for_row_tiles(n, 1, [&](index_t, index_t i, index_t m) {
        k.dropout(x + i, first + i, m, p, seed, y + i);
    });
}

template void dropout_forward<float>(const float*, index_t, double, std::uint64_t, float*, index_t);
template void dropout_forward<double>(const double*, index_t, double, std::uint64_t, double*,
                                      index_t);

}  // namespace attnlab
