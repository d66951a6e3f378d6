// Functional dropout: element i of the flattened input is kept iff the counter-based generator
// of random.hpp keeps (seed, i), so a chunk's result does not depend on how the array is split
// and the backward (the same call on the gradient) regenerates the forward's mask.
#pragma once

#include <cstdint>

#include "kernels/random.hpp"

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

// A head index no attention call uses, so functional dropout draws a stream of its own.
constexpr index_t kFunctionalDropoutStream = -1;

template <class A, class T>
struct Dropout {
    // y[i] = x[i] / (1 - p) if kept else 0, for flat indices [begin, begin + n).
    static void forward(const T* x, index_t begin, index_t n, double p, std::uint64_t seed, T* y) {
        DropoutRow(seed, p, 0, kFunctionalDropoutStream, 0)
            .apply(x, begin, n, static_cast<T>(1.0 / (1.0 - p)), y);
    }
};

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
