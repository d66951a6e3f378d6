// The scatter-add of embedding's backward, deterministic with repeated indices: the driver
// groups positions by index (a stable counting sort), and each dweight row is the sum of its
// gradient rows in increasing position order, written by exactly one task.
#pragma once

#include "kernels/loops.hpp"

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

template <class A, class T>
struct Embedding {
    using L = Loops<A, T>;

    // For v in [v0, v1): dweight[v] = sum of grad[order[k]] for k in [offsets[v], offsets[v+1]).
    static void scatter_add(const T* grad, const index_t* order, const index_t* offsets, index_t v0,
                            index_t v1, index_t dim, T* dweight) {
        for (index_t v = v0; v < v1; ++v) {
            T* d = dweight + v * dim;
            L::each(dim, [&](auto u, index_t i) { L::store(d + i, decltype(u)(T(0))); });
            for (index_t k = offsets[v]; k < offsets[v + 1]; ++k) {
                const T* g = grad + order[k] * dim;
                L::each(dim, [&](auto u, index_t i) {
                    using V = decltype(u);
                    L::store(d + i, V(L::template load<V>(d + i) + L::template load<V>(g + i)));
                });
            }
        }
    }
};

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
