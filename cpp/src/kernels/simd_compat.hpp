// The one place that knows which xsimd version we build against: Debian 12 ships 8.1
// (no reduce_add; its hadd on avx512f needs AVX512DQ), conda-forge and Homebrew ship 13+
// (reduce_add, no hadd). Reductions run once per row of a tile, so lane loops cost nothing.
#pragma once

#include <xsimd/xsimd.hpp>

#include <cstddef>

namespace attnlab::simd {

template <class T, class A>
inline T reduce_add(const xsimd::batch<T, A>& x) {
#if XSIMD_VERSION_MAJOR >= 9
    return xsimd::reduce_add(x);
#else
    alignas(64) T lanes[xsimd::batch<T, A>::size];
    x.store_aligned(lanes);
    T sum = lanes[0];
    for (std::size_t i = 1; i < xsimd::batch<T, A>::size; ++i) sum += lanes[i];
    return sum;
#endif
}

template <class T, class A>
inline T reduce_max(const xsimd::batch<T, A>& x) {
#if XSIMD_VERSION_MAJOR >= 9
    return xsimd::reduce_max(x);
#else
    alignas(64) T lanes[xsimd::batch<T, A>::size];
    x.store_aligned(lanes);
    T m = lanes[0];
    for (std::size_t i = 1; i < xsimd::batch<T, A>::size; ++i) m = lanes[i] > m ? lanes[i] : m;
    return m;
#endif
}

}  // namespace attnlab::simd
