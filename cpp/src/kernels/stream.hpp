// Non-temporal stores, for results written once and not read again soon (attention weights):
// they skip the read-for-ownership of each line and leave the caches to the kernel's working
// set. xsimd 8.1 has none, so x86 intrinsics, picked by the arch at compile time (each arch TU
// has its own -m flags); plain stores elsewhere.
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "attention_plan.hpp"
#include "kernels/simd_compat.hpp"

#if defined(__SSE2__)
#include <immintrin.h>
#endif

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

template <class A, class T>
struct Stream {
    using B = xsimd::batch<T, A>;
    static constexpr index_t W = static_cast<index_t>(B::size);
    static constexpr bool kFloat = std::is_same<T, float>::value;

    // dst aligned to sizeof(B).
    static void store(T* dst, const B& x) {
#if defined(__AVX512F__)
        if constexpr (std::is_base_of<xsimd::avx512f, A>::value) {
            if constexpr (kFloat) _mm512_stream_ps(dst, x);
            else _mm512_stream_pd(dst, x);
            return;
        }
#endif
#if defined(__AVX__)
        if constexpr (std::is_base_of<xsimd::avx, A>::value) {
            if constexpr (kFloat) _mm256_stream_ps(dst, x);
            else _mm256_stream_pd(dst, x);
            return;
        }
#endif
#if defined(__SSE2__)
        if constexpr (std::is_base_of<xsimd::sse2, A>::value) {
            if constexpr (kFloat) _mm_stream_ps(dst, x);
            else _mm_stream_pd(dst, x);
            return;
        }
#endif
        x.store_aligned(dst);
    }

    // dst[0:n] = src[0:n]; plain stores for the head before dst's first aligned batch and for
    // the tail, so a line shared with a neighbouring span is only ever written by plain stores.
    static void copy(const T* src, index_t n, T* dst) {
        const auto addr = reinterpret_cast<std::uintptr_t>(dst);
        constexpr std::uintptr_t bytes = sizeof(B);
        index_t head =
            addr % sizeof(T) ? n : static_cast<index_t>((bytes - addr % bytes) % bytes / sizeof(T));
        head = std::min(head, n);
        std::copy(src, src + head, dst);
        index_t c = head;
        for (; c + W <= n; c += W) store(dst + c, B::load_unaligned(src + c));
        std::copy(src + c, src + n, dst + c);
    }

    // Orders this thread's streaming stores before whatever it does next (reporting its task
    // done), so that the thread reading the results sees them.
    static void fence() {
#if defined(__SSE2__)
        _mm_sfence();
#endif
    }
};

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
