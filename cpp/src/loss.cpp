// Drives cross_entropy: row tiles on the pool; the reduction over rows is the caller's, in a
// fixed order.
#include "kernel_table.hpp"
#include "row_tiles.hpp"

namespace attnlab {

template <class T>
void cross_entropy_forward(const T* logits, const std::int64_t* target, index_t rows,
                           index_t classes, const CrossEntropyOptions& opt, T* loss) {
    const auto& k = active_kernels().blocks<T>();
    for_row_tiles(rows, classes, [&](index_t, index_t r0, index_t m) {
        k.cross_entropy(logits + r0 * classes, target + r0, m, classes, opt, loss + r0);
    });
}

template <class T>
void cross_entropy_backward(const T* row_grad, const T* logits, const std::int64_t* target,
                            index_t rows, index_t classes, const CrossEntropyOptions& opt,
                            T* dlogits) {
    const auto& k = active_kernels().blocks<T>();
    for_row_tiles(rows, classes, [&](index_t, index_t r0, index_t m) {
        k.cross_entropy_backward(row_grad + r0, logits + r0 * classes, target + r0, m, classes, opt,
                                 dlogits + r0 * classes);
    });
}

template void cross_entropy_forward<float>(const float*, const std::int64_t*, index_t, index_t,
                                           const CrossEntropyOptions&, float*);
template void cross_entropy_forward<double>(const double*, const std::int64_t*, index_t, index_t,
                                            const CrossEntropyOptions&, double*);
template void cross_entropy_backward<float>(const float*, const float*, const std::int64_t*,
                                            index_t, index_t, const CrossEntropyOptions&, float*);
template void cross_entropy_backward<double>(const double*, const double*, const std::int64_t*,
                                             index_t, index_t, const CrossEntropyOptions&, double*);

}  // namespace attnlab
