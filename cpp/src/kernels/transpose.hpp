// Rows (n, dim) times a factor to key blocks (blocks, dim, kKeyBlock): the K^T (times the
// softmax scale and log2 e, which then cost no pass over the scores) and V^T layouts the attention
// tiles stream through. W x W tiles are transposed in registers by log2(W) rounds of
// zip_lo/zip_hi (a perfect shuffle: each round interleaves row i with row i + W/2), so a tile
// costs W loads, W stores and W log2(W) shuffles instead of W^2 scalar moves. The batches are
// 128 bits wide on every arch (W = 4 floats or 2 doubles): xsimd 8.1's AVX and AVX-512 zips
// interleave within 128-bit lanes, which is a full interleave only at that width.
#pragma once

#include <algorithm>

#include "attention_plan.hpp"
#include "kernels/simd_compat.hpp"

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

#if XSIMD_WITH_SSE2
using Arch128 = xsimd::sse2;
#elif XSIMD_WITH_NEON64
using Arch128 = xsimd::neon64;
#endif

template <class A, class T>
struct Transpose {
    using B = xsimd::batch<T, Arch128>;
    static constexpr index_t W = static_cast<index_t>(B::size);
    static_assert(kKeyBlock % W == 0, "a tile never straddles two key blocks");

    static void to_key_blocks(const T* src, index_t n, index_t dim, T factor, T* dst) {
        const B f(factor);
        index_t j0 = 0;
        for (; j0 + W <= n; j0 += W) {
            const T* rows = src + j0 * dim;
            T* block = dst + (j0 / kKeyBlock) * dim * kKeyBlock + j0 % kKeyBlock;
            index_t d0 = 0;
            for (; d0 + W <= dim; d0 += W) tile(rows + d0, dim, f, block + d0 * kKeyBlock);
            for (index_t d = d0; d < dim; ++d)
                for (index_t j = 0; j < W; ++j)
                    block[d * kKeyBlock + j] = rows[j * dim + d] * factor;
        }
        for (; j0 < n; ++j0) {  // the last n % W keys
            T* column = dst + (j0 / kKeyBlock) * dim * kKeyBlock + j0 % kKeyBlock;
            for (index_t d = 0; d < dim; ++d) column[d * kKeyBlock] = src[j0 * dim + d] * factor;
        }
        // A partial last block is zero past n: tiles read whole SIMD batches of keys.
        if (const index_t used = n % kKeyBlock; used != 0) {
            T* last = dst + (n / kKeyBlock) * dim * kKeyBlock;
            for (index_t d = 0; d < dim; ++d)
                std::fill(last + d * kKeyBlock + used, last + (d + 1) * kKeyBlock, T(0));
        }
    }

    // dst[i * kKeyBlock + j] = src[j * ld + i] * f for i, j < W, the rounds written out:
    // arrays of batches were spilled to the stack and reloaded narrower (store-forwarding
    // stalls).
    static void tile(const T* src, index_t ld, const B& f, T* dst) {
        static_assert(W == 2 || W == 4, "128-bit batches of float or double");
        if constexpr (W == 2) {
            const B r0 = B::load_unaligned(src) * f, r1 = B::load_unaligned(src + ld) * f;
            xsimd::zip_lo(r0, r1).store_unaligned(dst);
            xsimd::zip_hi(r0, r1).store_unaligned(dst + kKeyBlock);
        } else {
            const B r0 = B::load_unaligned(src) * f, r1 = B::load_unaligned(src + ld) * f;
            const B r2 = B::load_unaligned(src + 2 * ld) * f;
            const B r3 = B::load_unaligned(src + 3 * ld) * f;
            const B a0 = xsimd::zip_lo(r0, r2), a1 = xsimd::zip_hi(r0, r2);
            const B a2 = xsimd::zip_lo(r1, r3), a3 = xsimd::zip_hi(r1, r3);
            xsimd::zip_lo(a0, a2).store_unaligned(dst);
            xsimd::zip_hi(a0, a2).store_unaligned(dst + kKeyBlock);
            xsimd::zip_lo(a1, a3).store_unaligned(dst + 2 * kKeyBlock);
            xsimd::zip_hi(a1, a3).store_unaligned(dst + 3 * kKeyBlock);
        }
    }
};

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
