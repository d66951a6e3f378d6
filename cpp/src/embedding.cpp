// Drives embedding: the gather copies rows; the backward groups positions by index with a
// stable counting sort, so each dweight row is summed by one task in position order whatever
// the thread count.
#include <algorithm>
#include <vector>

#include "kernel_table.hpp"
#include "row_tiles.hpp"

namespace attnlab {

template <class T>
void embedding_forward(const std::int64_t* indices, index_t n, const T* weight, index_t dim,
                       T* out) {
    for_row_tiles(n, dim, [&](index_t, index_t r0, index_t m) {
        for (index_t i = r0; i < r0 + m; ++i)
            std::copy(weight + indices[i] * dim, weight + (indices[i] + 1) * dim, out + i * dim);
    });
}

template <class T>
void embedding_backward(const T* grad_out, const std::int64_t* indices, index_t n, index_t vocab,
                        index_t dim, index_t padding_idx, T* dweight) {
    if (dim == 0) return;
    std::vector<index_t> offsets(vocab + 1, 0), order(n);
    for (index_t i = 0; i < n; ++i)
        if (indices[i] != padding_idx) ++offsets[indices[i] + 1];
    for (index_t v = 0; v < vocab; ++v) offsets[v + 1] += offsets[v];
    std::vector<index_t> cursor(offsets.begin(), offsets.end() - 1);
    for (index_t i = 0; i < n; ++i)
        if (indices[i] != padding_idx) order[cursor[indices[i]]++] = i;
    const auto& k = active_kernels().blocks<T>();
    for_row_tiles(vocab, dim, [&](index_t, index_t v0, index_t m) {
        k.scatter_add(grad_out, order.data(), offsets.data(), v0, v0 + m, dim, dweight);
    });
}

template void embedding_forward<float>(const std::int64_t*, index_t, const float*, index_t, float*);
template void embedding_forward<double>(const std::int64_t*, index_t, const double*, index_t,
                                        double*);
template void embedding_backward<float>(const float*, const std::int64_t*, index_t, index_t,
                                        index_t, index_t, float*);
template void embedding_backward<double>(const double*, const std::int64_t*, index_t, index_t,
                                         index_t, index_t, double*);

}  // namespace attnlab
