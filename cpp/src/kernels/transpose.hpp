// Rows (n, dim) times a factor to key blocks (blocks, dim, kKeyBlock, in strips: key_strip): the
// K^T (times the softmax scale and log2 e, which then cost no pass over the scores) and V^T layouts
// the attention tiles stream through. W x W tiles are transposed in registers by log2(W) rounds of
// zip_lo/zip_hi (a perfect shuffle: each round interleaves row i with row i + W/2), so a tile
// costs W loads, W stores and W log2(W) shuffles instead of W^2 scalar moves. The batches are
// 128 bits wide on every arch (W = 4 floats or 2 doubles): xsimd 8.1's AVX and AVX-512 zips
// interleave within 128-bit lanes, which is a full interleave only at that width.
#pragma once

#include <algorithm>
#include <type_traits>

#include "attention_plan.hpp"
#include "kernels/gemm.hpp"
#include "kernels/simd_compat.hpp"

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

#if XSIMD_WITH_SSE2
using Arch128 = xsimd::sse2;
#elif XSIMD_WITH_NEON64
using Arch128 = xsimd::neon64;
#endif

// The columns of a key block stored together, as the micro-kernel reads them: on AVX2 strips of
// its panel width, (kKeyBlock / strip, dim, strip) per block; elsewhere the whole block,
// (dim, kKeyBlock). A panel of a row-major block has its rows 512 bytes apart, in 8 of L1's 64
// sets, where the query rows streaming past evicted it on every register tile.
template <class A, class T>
constexpr index_t key_strip() {
    if constexpr (std::is_base_of_v<xsimd::avx2, A> && !std::is_base_of_v<xsimd::avx512f, A>)
        return MicroKernel<A, T>::kStrip;
    else return kKeyBlock;
}

template <class A, class T>
struct Transpose {
    using B = xsimd::batch<T, Arch128>;
    static constexpr index_t W = static_cast<index_t>(B::size);
    static_assert(kKeyBlock % W == 0, "a tile never straddles two key blocks");

    static constexpr index_t S = key_strip<A, T>();
    static_assert(kKeyBlock % S == 0 && S % W == 0, "a tile never straddles two strips");

    // Where key j's element d goes.
    static T* at(T* dst, index_t dim, index_t d, index_t j) {
        const index_t c = j % kKeyBlock;
        return dst + (j / kKeyBlock) * dim * kKeyBlock + c / S * dim * S + d * S + c % S;
    }

    static void to_key_blocks(const T* src, index_t n, index_t dim, T factor, T* dst) {
        const B f(factor);
        index_t j0 = 0;
        for (; j0 + W <= n; j0 += W) {
            const T* rows = src + j0 * dim;
            T* block = at(dst, dim, 0, j0);
            index_t d0 = 0;
            for (; d0 + W <= dim; d0 += W) tile(rows + d0, dim, f, block + d0 * S);
            for (index_t d = d0; d < dim; ++d)
                for (index_t j = 0; j < W; ++j) block[d * S + j] = rows[j * dim + d] * factor;
        }
        for (; j0 < n; ++j0)  // the last n % W keys
            for (index_t d = 0; d < dim; ++d) *at(dst, dim, d, j0) = src[j0 * dim + d] * factor;
        // A partial last block is zero past n: tiles read whole SIMD batches of keys.
        for (index_t j = n; j % kKeyBlock != 0; ++j)
            for (index_t d = 0; d < dim; ++d) *at(dst, dim, d, j) = T(0);
    }

    // dst[i * S + j] = src[j * ld + i] * f for i, j < W, the rounds written out:
    // arrays of batches were spilled to the stack and reloaded narrower (store-forwarding
    // stalls).
    static void tile(const T* src, index_t ld, const B& f, T* dst) {
        static_assert(W == 2 || W == 4, "128-bit batches of float or double");
        if constexpr (W == 2) {
            const B r0 = B::load_unaligned(src) * f, r1 = B::load_unaligned(src + ld) * f;
            xsimd::zip_lo(r0, r1).store_unaligned(dst);
            xsimd::zip_hi(r0, r1).store_unaligned(dst + S);
        } else {
            const B r0 = B::load_unaligned(src) * f, r1 = B::load_unaligned(src + ld) * f;
            const B r2 = B::load_unaligned(src + 2 * ld) * f;
            const B r3 = B::load_unaligned(src + 3 * ld) * f;
            const B a0 = xsimd::zip_lo(r0, r2), a1 = xsimd::zip_hi(r0, r2);
            const B a2 = xsimd::zip_lo(r1, r3), a3 = xsimd::zip_hi(r1, r3);
            xsimd::zip_lo(a0, a2).store_unaligned(dst);
            xsimd::zip_hi(a0, a2).store_unaligned(dst + S);
            xsimd::zip_lo(a1, a3).store_unaligned(dst + 2 * S);
            xsimd::zip_hi(a1, a3).store_unaligned(dst + 3 * S);
        }
    }
};

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
