// Counter-based randomness for dropout: whether element (batch, head, row, col) is kept is a
// pure function of the seed and those four indices, so the backward regenerates the forward's
// mask and no result depends on tiling or threads. Integer-only: identical on every arch.
#pragma once

#include <cstdint>

#include "attnlab/api.hpp"

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

// SplitMix64's finalizer: a bijective 64-bit mixer with full avalanche.
inline std::uint64_t mix64(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

class DropoutRow {
public:
    DropoutRow(std::uint64_t seed, double p, index_t b, index_t h, index_t i)
        : key_(mix64(mix64(mix64(mix64(seed) + static_cast<std::uint64_t>(b)) +
                           static_cast<std::uint64_t>(h)) +
                     static_cast<std::uint64_t>(i))),
          threshold_(threshold(p)) {}

    bool keep(index_t j) const {
        std::uint64_t r = mix64(key_ + static_cast<std::uint64_t>(j) * 0x9e3779b97f4a7c15ULL);
        return static_cast<std::uint32_t>(r >> 32) >= threshold_;
    }

private:
    static std::uint32_t threshold(double p) {
        double t = p * 4294967296.0;
        return t >= 4294967295.0 ? 4294967295U : static_cast<std::uint32_t>(t);
    }
    std::uint64_t key_;
    std::uint32_t threshold_;
};

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
