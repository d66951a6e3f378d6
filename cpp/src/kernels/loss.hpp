// Cross-entropy with class-index targets, fused with log-softmax: per row
//   loss = (1 - s) * (lse - x[t]) + s * mean_j (lse - x[j]),   lse = log sum_j exp(x[j]),
// with label smoothing s, written as sums of non-negative terms so large logits stay exact.
// Rows whose target is ignore_index get loss 0 and gradient 0.
#pragma once

#include <cstdint>

#include "kernels/softmax.hpp"

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

template <class A, class T>
struct CrossEntropy {
    using L = Loops<A, T>;
    using S = Softmax<A, T>;

    static void forward(const T* x, const std::int64_t* target, index_t rows, index_t n,
                        const CrossEntropyOptions& o, T* loss) {
        const T s = T(o.label_smoothing);
        for (index_t r = 0; r < rows; ++r, x += n) {
            if (target[r] == o.ignore_index) {
                loss[r] = T(0);
                continue;
            }
            T lse = S::log_sum_exp(x, n);
            T smooth = s == T(0) ? T(0) : L::sum(n, [&](auto v, index_t i) {
                                              return lse - L::template load<decltype(v)>(x + i);
                                          }) / T(n);
            loss[r] = (T(1) - s) * (lse - x[target[r]]) + s * smooth;
        }
    }

    // dx = row_grad * (softmax(x) - (1 - s) * onehot(t) - s / n).
    static void backward(const T* row_grad, const T* x, const std::int64_t* target, index_t rows,
                         index_t n, const CrossEntropyOptions& o, T* dx) {
        const T s = T(o.label_smoothing);
        for (index_t r = 0; r < rows; ++r, x += n, dx += n) {
            const T gr = target[r] == o.ignore_index ? T(0) : row_grad[r];
            if (gr == T(0)) {
                L::each(n, [&](auto v, index_t i) { L::store(dx + i, decltype(v)(T(0))); });
                continue;
            }
            const T lse = S::log_sum_exp(x, n), shift = s / T(n);
            L::each(n, [&](auto v, index_t i) {
                using V = decltype(v);
                L::store(dx + i,
                         V(gr * (S::E::of_nonpositive(L::template load<V>(x + i) - lse) - shift)));
            });
            dx[target[r]] -= gr * (T(1) - s);
        }
    }
};

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
