// The one place that knows which xsimd version we build against: Debian 12 ships 8.1
// (no reduce_add; its hadd on avx512f needs AVX512DQ; bitwise_cast names the batch type),
// conda-forge and Homebrew ship 13+ (reduce_add, no hadd; bitwise_cast names the element type).
// Reductions run once per row of a tile: for 8.1 they pair lanes up in log2(W) steps (AVX-512F's
// reduce intrinsics, else a tree over the stored lanes), since a chain of W - 1 dependent steps was
// a tenth of a short row's softmax.
#pragma once

#include <xsimd/xsimd.hpp>

#include <cstddef>
#include <type_traits>

namespace attnlab::simd {

#if XSIMD_VERSION_MAJOR < 9
template <class T, class A, class Op>
inline T reduce_tree(const xsimd::batch<T, A>& x, Op op) {
    constexpr std::size_t n = xsimd::batch<T, A>::size;
    alignas(64) T lanes[n];
    x.store_aligned(lanes);
    for (std::size_t half = n / 2; half > 0; half /= 2)
        for (std::size_t i = 0; i < half; ++i) lanes[i] = op(lanes[i], lanes[i + half]);
    return lanes[0];
}
#endif

template <class T, class A>
inline T reduce_add(const xsimd::batch<T, A>& x) {
#if XSIMD_VERSION_MAJOR >= 9
    return xsimd::reduce_add(x);
#else
#if XSIMD_WITH_AVX512F
    if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
        if constexpr (sizeof(T) == 4) return _mm512_reduce_add_ps(x);
        else return _mm512_reduce_add_pd(x);
    }
#endif
    return reduce_tree(x, [](T a, T b) { return a + b; });
#endif
}

// NaN lanes may or may not win: callers that care look for NaN themselves.
template <class T, class A>
inline T reduce_max(const xsimd::batch<T, A>& x) {
#if XSIMD_VERSION_MAJOR >= 9
    return xsimd::reduce_max(x);
#else
#if XSIMD_WITH_AVX512F
    if constexpr (std::is_base_of_v<xsimd::avx512f, A>) {
        if constexpr (sizeof(T) == 4) return _mm512_reduce_max_ps(x);
        else return _mm512_reduce_max_pd(x);
    }
#endif
    return reduce_tree(x, [](T a, T b) { return b > a ? b : a; });
#endif
}

// The bits of x read as the batch type To (of the same width).
template <class To, class T, class A>
inline To bitcast(const xsimd::batch<T, A>& x) {
#if XSIMD_VERSION_MAJOR >= 9
    return xsimd::bitwise_cast<typename To::value_type>(x);
#else
    return xsimd::bitwise_cast<To>(x);
#endif
}

}  // namespace attnlab::simd
