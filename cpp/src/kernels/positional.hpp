// Rotary position embedding (RoFormer) of a tile of rows: pair k of a row at position p turns by
// p * base^(-2k / rotary_dim). The driver tabulates cos and sin per position (angles in double);
// the inverse rotation (sin negated) is the backward. Dims past rotary_dim pass through.
#pragma once

#include "kernels/loops.hpp"

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

template <class A, class T>
struct Rope {
    using L = Loops<A, T>;

    // Rows [r0, r0 + rows) of x (dim wide); row r uses table row r % num_positions of cos/sin
    // (half = rotary_dim / 2 wide). Half-split pairs are (k, k + half); interleaved, (2k, 2k + 1).
    static void forward(const T* x, index_t r0, index_t rows, index_t dim, index_t half,
                        bool interleaved, const T* cos, const T* sin, index_t num_positions,
                        bool inverse, T* y) {
        const T sign = inverse ? T(-1) : T(1);
        for (index_t r = r0; r < r0 + rows; ++r) {
            const T* xr = x + (r - r0) * dim;
            T* yr = y + (r - r0) * dim;
            const T* c = cos + (r % num_positions) * half;
            const T* s = sin + (r % num_positions) * half;
            if (interleaved) {
                for (index_t k = 0; k < half; ++k) {
                    T a = xr[2 * k], b = xr[2 * k + 1], sk = sign * s[k];
                    yr[2 * k] = a * c[k] - b * sk;
                    yr[2 * k + 1] = b * c[k] + a * sk;
                }
            } else {
                L::each(half, [&](auto v, index_t k) {
                    using V = decltype(v);
                    V a = L::template load<V>(xr + k), b = L::template load<V>(xr + half + k);
                    V ck = L::template load<V>(c + k), sk = sign * L::template load<V>(s + k);
                    L::store(yr + k, V(a * ck - b * sk));
                    L::store(yr + half + k, V(b * ck + a * sk));
                });
            }
            for (index_t i = 2 * half; i < dim; ++i) yr[i] = xr[i];
        }
    }
};

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
