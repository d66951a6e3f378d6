// Layer and RMS normalization over the last axis of a tile of rows. The variance comes from the
// centred values, after a second pass corrects the mean by the centred values' own mean, so a
// large common offset neither cancels the variance nor shifts the output; a constant row gives
// x_hat = 0, hence y = bias and finite gradients.
// The backward adds this tile's dweight/dbias into per-tile partials the driver reduces.
#pragma once

#include <algorithm>
#include <cmath>
#include <type_traits>

#include "kernels/loops.hpp"

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

template <class A, class T>
struct Norm {
    using L = Loops<A, T>;

    // sum(x - shift) / n.
    static T mean_from(const T* x, index_t n, T shift) {
        return L::sum(n, [&](auto v,
                             index_t i) { return L::template load<decltype(v)>(x + i) - shift; }) /
               T(n);
    }

    // Layer norm's statistics in two reads of the row on AVX2, where the pass saved outweighs
    // the wider pass's accumulators (measured: not on AVX-512, which keeps three reads).
    static constexpr bool kTwoReads =
        std::is_base_of_v<xsimd::avx2, A> && !std::is_base_of_v<xsimd::avx512f, A>;

    // (mean, 1 / sqrt(var + eps)) of one row; centred = false gives RMS norm's (0, 1/rms).
    static void stats(const T* x, index_t n, bool centred, T eps, T& mean, T& rstd) {
        mean = T(0);
        T var;
        if (centred && kTwoReads) {
            // The mean m0, then in one pass the centred values' sum (m0's own rounding error,
            // which corrects the mean) and their squares: var = mean(d^2) - mean(d)^2 is exact
            // for the corrected mean, and mean(d)^2 is below m0's rounding, so nothing cancels.
            const T m0 = mean_from(x, n, T(0));
            T sum_d = T(0);
            const T sum_d2 = L::sum2(n, sum_d, [&](auto v, index_t i) {
                return L::template load<decltype(v)>(x + i) - m0;
            });
            const T c = sum_d / T(n);
            mean = m0 + c;
            var = std::max(T(0), sum_d2 / T(n) - c * c);
        } else {
            if (centred) {
                mean = mean_from(x, n, T(0));
                mean += mean_from(x, n, mean);
            }
            T m = mean;
            var = L::sum(n,
                         [&](auto v, index_t i) {
                             auto d = L::template load<decltype(v)>(x + i) - m;
                             return d * d;
                         }) /
                  T(n);
        }
        rstd = T(1) / std::sqrt(var + eps);
    }

    // y = (x - mean) * rstd * w + b for rows of length n; b is ignored unless centred.
    static void forward(const T* x, index_t rows, index_t n, const T* w, const T* b, bool centred,
                        T eps, T* y) {
        for (index_t r = 0; r < rows; ++r, x += n, y += n) {
            T mean, rstd;
            stats(x, n, centred, eps, mean, rstd);
            L::each(n, [&](auto v, index_t i) {
                using V = decltype(v);
                V h = (L::template load<V>(x + i) - mean) * rstd * L::template load<V>(w + i);
                L::store(y + i, centred ? V(h + L::template load<V>(b + i)) : h);
            });
        }
    }

    // dx for rows of g = dL/dy; dw (and db when centred) += this tile's contributions.
    static void backward(const T* g, const T* x, index_t rows, index_t n, const T* w, bool centred,
                         T eps, T* dx, T* dw, T* db) {
        for (index_t r = 0; r < rows; ++r, g += n, x += n, dx += n) {
            T mean, rstd;
            stats(x, n, centred, eps, mean, rstd);
            // dx = rstd * (g*w - mean(g*w) - x_hat * mean(g*w * x_hat)); the first mean only
            // when centred (RMS norm does not subtract the mean).
            T mean_gw =
                centred ? L::sum(n,
                                 [&](auto v, index_t i) {
                                     using V = decltype(v);
                                     return L::template load<V>(g + i) * L::template load<V>(w + i);
                                 }) /
                              T(n)
                        : T(0);
            T mean_gwh =
                L::sum(n,
                       [&](auto v, index_t i) {
                           using V = decltype(v);
                           V h = (L::template load<V>(x + i) - mean) * rstd;
                           return L::template load<V>(g + i) * L::template load<V>(w + i) * h;
                       }) /
                T(n);
            L::each(n, [&](auto v, index_t i) {
                using V = decltype(v);
                V gi = L::template load<V>(g + i);
                V h = (L::template load<V>(x + i) - mean) * rstd;
                L::store(dx + i,
                         V((gi * L::template load<V>(w + i) - mean_gw - h * mean_gwh) * rstd));
                L::store(dw + i, V(L::template load<V>(dw + i) + gi * h));
                if (centred) L::store(db + i, V(L::template load<V>(db + i) + gi));
            });
        }
    }
};

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
