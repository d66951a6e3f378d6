// Counter-based randomness for dropout: whether element (batch, head, row, col) is kept is a
// pure function of the seed and those four indices, so the backward regenerates the forward's
// mask and no result depends on tiling or threads. Integer-only: identical on every arch.
//
// A row's key is the seed and (batch, head, row) through SplitMix64's 64-bit mixer, once per
// row. Each column then takes two rounds of a 32-bit mixer keyed by the key's halves: 32-bit
// multiplies vectorize on every arch (SSE2 through pairs of pmuludq), where SplitMix64 per
// column could not (no 64-bit multiply before AVX-512DQ) and cost a fifth of a forward at
// p = 0.1.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include "attnlab/api.hpp"

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

// SplitMix64's finalizer: a bijective 64-bit mixer with full avalanche.
inline std::uint64_t mix64(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// A bijective 32-bit mixer (two multiply-xorshift rounds; constants of Wellons' "lowbias32").
inline std::uint32_t mix32(std::uint32_t x) {
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    return x ^ (x >> 16);
}

// Columns come in segments of 2^32: within one, the mixer sees the column's low 32 bits; each
// segment past the first takes a key of its own, mixed from the row's (the first keeps the
// row's, so rows narrower than 2^32 draw what they always drew).
class DropoutRow {
public:
    DropoutRow(std::uint64_t seed, double p, index_t b, index_t h, index_t i)
        : key_(mix64(mix64(mix64(mix64(seed) + static_cast<std::uint64_t>(b)) +
                           static_cast<std::uint64_t>(h)) +
                     static_cast<std::uint64_t>(i))),
          threshold_(threshold(p)) {}

    // y[c] = x[c] * scale for a kept column j0 + c, else 0 (also for NaN x); y may be x.
    template <class T>
    void apply(const T* x, index_t j0, index_t n, T scale, T* y) const {
        for (index_t c = 0; c < n;) {
            const auto j = static_cast<std::uint64_t>(j0 + c);
            const std::uint64_t segment = j >> 32;
            const std::uint64_t left = (std::uint64_t(1) << 32) - (j & 0xffffffffULL);
            const index_t m = static_cast<index_t>(std::min<std::uint64_t>(left, n - c));
            apply_segment(segment == 0 ? key_ : mix64(key_ + segment),
                          static_cast<std::uint32_t>(j), x + c, m, scale, y + c);
            c += m;
        }
    }

    // f[c] = scale for a kept column j0 + c, else 0, for c < n.
    template <class T>
    void factors(index_t j0, index_t n, T scale, T* f) const {
        std::fill(f, f + n, T(1));
        apply(f, j0, n, scale, f);
    }

private:
    static std::uint32_t threshold(double p) {
        double t = p * 4294967296.0;
        return t >= 4294967295.0 ? 4294967295U : static_cast<std::uint32_t>(t);
    }

    // apply over n columns of one segment keyed by `key`, the first at low bits j.
    // The choice is an AND with an all-ones-or-zero mask: as a conditional, GCC left it a
    // branch, scalar, on AVX2 and SSE2.
    template <class T>
    void apply_segment(std::uint64_t key, std::uint32_t j, const T* x, index_t n, T scale,
                       T* y) const {
        using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
        static_assert(sizeof(Bits) == sizeof(T), "float or double");
        const auto lo = static_cast<std::uint32_t>(key), hi = static_cast<std::uint32_t>(key >> 32);
        for (index_t c = 0; c < n; ++c) {
            const T kept = x[c] * scale;
            Bits b;
            std::memcpy(&b, &kept, sizeof b);
            // The column's random word is below the threshold with probability p.
            const std::uint32_t r = mix32(mix32((j + static_cast<std::uint32_t>(c)) ^ lo) + hi);
            b &= Bits(0) - Bits(r >= threshold_);
            std::memcpy(y + c, &b, sizeof b);
        }
    }

    std::uint64_t key_;
    std::uint32_t threshold_;
};

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
