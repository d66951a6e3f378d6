// Drives rotary position embedding: tabulates cos and sin of every position's angles (computed
// in double, then rounded to T), then rotates row tiles on the pool.
#include <cmath>
#include <vector>

#include "kernel_table.hpp"
#include "row_tiles.hpp"

namespace attnlab {

template <class T>
void rope_forward(const T* x, index_t rows, index_t dim, const double* positions,
                  index_t num_positions, const RopeOptions& opt, bool inverse, T* y) {
    if (rows == 0 || dim == 0) return;
    const index_t half = opt.rotary_dim / 2;
    std::vector<double> inv_freq(half);
    for (index_t k = 0; k < half; ++k)
        inv_freq[k] =
            std::pow(opt.base, -2.0 * static_cast<double>(k) / static_cast<double>(opt.rotary_dim));
    std::vector<T> cos(num_positions * half), sin(num_positions * half);
    for_row_tiles(num_positions, half, [&](index_t, index_t p0, index_t m) {
        for (index_t p = p0; p < p0 + m; ++p)
            for (index_t k = 0; k < half; ++k) {
                double angle = positions[p] * inv_freq[k];
                cos[p * half + k] = static_cast<T>(std::cos(angle));
                sin[p * half + k] = static_cast<T>(std::sin(angle));
            }
    });
    const auto& kern = active_kernels().blocks<T>();
    for_row_tiles(rows, dim, [&](index_t, index_t r0, index_t m) {
        kern.rope(x + r0 * dim, r0, m, dim, half, opt.interleaved, cos.data(), sin.data(),
                  num_positions, inverse, y + r0 * dim);
    });
}

template void rope_forward<float>(const float*, index_t, index_t, const double*, index_t,
                                  const RopeOptions&, bool, float*);
template void rope_forward<double>(const double*, index_t, index_t, const double*, index_t,
                                   const RopeOptions&, bool, double*);

}  // namespace attnlab
