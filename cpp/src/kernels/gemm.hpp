// Register-tiled matrix products: C (m x n) = or += A (m x k) B (k x n). A is read one scalar at
// a time and broadcast (element (r, p) at a[r * lda + p * ldp], so A may be a transpose), B a
// row of SIMD batches at a time, so an MR x NV tile of C stays in registers for the whole k
// loop: per k step, NV loads and MR broadcasts feed MR * NV FMAs.
#pragma once

#include <algorithm>
#include <type_traits>

#include "attention_plan.hpp"
#include "kernels/simd_compat.hpp"

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

template <class A, class T>
struct MicroKernel {
    using B = xsimd::batch<T, A>;
    static constexpr index_t W = static_cast<index_t>(B::size);
    // 32 vector registers on AVX-512 and NEON64: 6 x 4 accumulators + 4 B batches + 1
    // broadcast. 16 on AVX2: 6 x 2 + 2 + 1. SSE2 has no FMA (a product needs a temporary): 4 x 2.
    static constexpr bool kWide = std::is_base_of<xsimd::avx512f, A>::value
#if XSIMD_WITH_NEON64
                                  || std::is_base_of<xsimd::neon64, A>::value
#endif
        ;
    static constexpr bool kFma = kWide || std::is_base_of<xsimd::fma3<xsimd::avx2>, A>::value;
    static constexpr int MR = kFma ? 6 : 4;
    static constexpr int NV = kWide ? 4 : 2;
    // Columns of one panel of B: packed B is stored in strips this wide, each (k, kStrip)
    // contiguous, so that a panel's k rows stay in L1 while the rows of A stream by (rows of a
    // wider packing, a few cache lines apart, fell in a few L1 sets and were evicted).
    static constexpr index_t kStrip = NV * W;

    // Inlined into the row loop: as a call, its frame and set-up cost a sixth of a k = 32
    // product (Q K^T at head dim 32: 87 -> 105 GFLOP/s on one Zen 4 core).
    // With lane_max (rows of W), each row's lane-wise maximum over the tile is also folded in
    // there: the softmax's row max without reading the scores back. With bias (the tile's
    // columns) and no accumulate, the sums start from it instead of zero: a linear's bias
    // without a second pass over C.
    template <int M, int N>
    __attribute__((always_inline)) static inline void tile(index_t k, const T* a, index_t lda,
                                                           index_t ldp, const T* b, index_t ldb,
                                                           T* c, index_t ldc, bool accumulate,
                                                           T* lane_max, const T* bias) {
        B start[N];
        for (int v = 0; v < N; ++v) start[v] = bias ? B::load_unaligned(bias + v * W) : B(T(0));
        B acc[M][N];
        for (int r = 0; r < M; ++r)
            for (int v = 0; v < N; ++v)
                acc[r][v] = accumulate ? B::load_unaligned(c + r * ldc + v * W) : start[v];
        for (index_t p = 0; p < k; ++p) {
            const T* bp = b + p * ldb;
            const T* ap = a + p * ldp;
            B bv[N];
            for (int v = 0; v < N; ++v) bv[v] = B::load_unaligned(bp + v * W);
            for (int r = 0; r < M; ++r) {
                B ar(ap[r * lda]);
                for (int v = 0; v < N; ++v) acc[r][v] = xsimd::fma(ar, bv[v], acc[r][v]);
            }
        }
        for (int r = 0; r < M; ++r)
            for (int v = 0; v < N; ++v) acc[r][v].store_unaligned(c + r * ldc + v * W);
        if (lane_max) {
            for (int r = 0; r < M; ++r) {
                B mx = acc[r][0];
                for (int v = 1; v < N; ++v) mx = xsimd::max(mx, acc[r][v]);
                xsimd::max(B::load_unaligned(lane_max + r * W), mx)
                    .store_unaligned(lane_max + r * W);
            }
        }
    }

    // The last m < MR rows of a column panel.
    template <int N, int M = MR - 1>
    static void rest(index_t m, index_t k, const T* a, index_t lda, index_t ldp, const T* b,
                     index_t ldb, T* c, index_t ldc, bool accumulate, T* lane_max, const T* bias) {
        if constexpr (M > 0) {
            if (m == M)
                return tile<M, N>(k, a, lda, ldp, b, ldb, c, ldc, accumulate, lane_max, bias);
            rest<N, M - 1>(m, k, a, lda, ldp, b, ldb, c, ldc, accumulate, lane_max, bias);
        }
    }

    template <int N>
    static void panel(index_t m, index_t k, const T* a, index_t lda, index_t ldp, const T* b,
                      index_t ldb, T* c, index_t ldc, bool accumulate, T* lane_max, const T* bias) {
        auto rows_max = [&](index_t i) { return lane_max ? lane_max + i * W : nullptr; };
        index_t i = 0;
        for (; i + MR <= m; i += MR)
            tile<MR, N>(k, a + i * lda, lda, ldp, b, ldb, c + i * ldc, ldc, accumulate, rows_max(i),
                        bias);
        rest<N>(m - i, k, a + i * lda, lda, ldp, b, ldb, c + i * ldc, ldc, accumulate, rows_max(i),
                bias);
    }

    // C (m x n) = A B (+ bias, n values, a row added to every row of C), or C += A B with
    // accumulate; n is a multiple of W. Every element of C sums over k in order, whatever m
    // and n, so tiling never changes a result. Column panels outside, rows inside: one k x
    // NV*W slab of B stays in L1 while all m rows stream by. With lane_max (m rows of W),
    // max(lane_max, each row of C lane-wise) is stored there. B's rows are ldb apart; its
    // columns [j, j + kStrip) start at b + j, or with strip_stride at b + j / kStrip *
    // strip_stride (packed strips).
    static void run(index_t m, index_t n, index_t k, const T* a, index_t lda, index_t ldp,
                    const T* b, index_t ldb, T* c, index_t ldc, bool accumulate,
                    T* lane_max = nullptr, const T* bias = nullptr, index_t strip_stride = 0) {
        auto strip = [&](index_t j) {
            return strip_stride ? b + j / kStrip * strip_stride : b + j;
        };
        index_t j = 0;
        for (; j + NV * W <= n; j += NV * W)
            panel<NV>(m, k, a, lda, ldp, strip(j), ldb, c + j, ldc, accumulate, lane_max,
                      bias ? bias + j : nullptr);
        narrow<NV - 1>((n - j) / W, m, k, a, lda, ldp, strip(j), ldb, c + j, ldc, accumulate,
                       lane_max, bias ? bias + j : nullptr);
    }

    // The last nv < NV batches of columns as one panel (e.g. head dim 32 on AVX-512), so that
    // each k step still feeds MR * nv FMAs from its MR broadcasts.
    template <int N>
    static void narrow(index_t nv, index_t m, index_t k, const T* a, index_t lda, index_t ldp,
                       const T* b, index_t ldb, T* c, index_t ldc, bool accumulate, T* lane_max,
                       const T* bias) {
        if constexpr (N > 0) {
            if (nv == N)
                return panel<N>(m, k, a, lda, ldp, b, ldb, c, ldc, accumulate, lane_max, bias);
            narrow<N - 1>(nv, m, k, a, lda, ldp, b, ldb, c, ldc, accumulate, lane_max, bias);
        }
    }

    // Cache-blocked C = A B (+ bias) (or += A B with accumulate) for one output tile of a
    // large product: k in slices of kKc, so that the A rows of a tile (96 x kKc) and the B
    // slab stay in L2. 256 beat 64 and 128 on (4096 x 512) @ (512 x 512), Zen 4 (C reloads
    // are rarer). Every C element still sums over k in ascending order, after the bias.
    static constexpr index_t kKc = 256;

    static void blocked(index_t m, index_t n, index_t k, const T* a, index_t lda, index_t ldp,
                        const T* b, index_t ldb, index_t strip_stride, T* c, index_t ldc,
                        bool accumulate, const T* bias) {
        if (k == 0 && !accumulate) {
            for (index_t i = 0; i < m; ++i) {
                if (bias) std::copy(bias, bias + n, c + i * ldc);
                else std::fill(c + i * ldc, c + i * ldc + n, T(0));
            }
            return;
        }
        for (index_t p = 0; p < k; p += kKc)
            run(m, n, std::min(kKc, k - p), a + p * ldp, lda, ldp, b + p * ldb, ldb, c, ldc,
                accumulate || p > 0, nullptr, p > 0 ? nullptr : bias, strip_stride);
    }
};

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
