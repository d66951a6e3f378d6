// Softmax and log-softmax over the last axis of a tile of rows, with the row maximum subtracted
// so that large logits neither overflow nor lose the small ones.
#pragma once

#include <cmath>

#include "kernels/exp.hpp"
#include "kernels/loops.hpp"

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

template <class A, class T>
struct Softmax {
    using L = Loops<A, T>;
    using E = Exp<A, T>;  // every argument has its row max (or log-sum-exp) subtracted

    static T log_sum_exp(const T* x, index_t n) {
        T m = L::max(x, n);
        T s = L::sum(n, [&](auto v, index_t i) {
            return E::of_nonpositive(L::template load<decltype(v)>(x + i) - m);
        });
        return m + std::log(s);
    }

    static void row(const T* x, index_t n, bool log, T* y) {
        if (log) {
            T lse = log_sum_exp(x, n);
            L::each(n, [&](auto v, index_t i) {
                using V = decltype(v);
                L::store(y + i, V(L::template load<V>(x + i) - lse));
            });
            return;
        }
        T m = L::max(x, n);
        T s = L::sum(n, [&](auto v, index_t i) {
            using V = decltype(v);
            V e = E::of_nonpositive(L::template load<V>(x + i) - m);
            L::store(y + i, e);
            return e;
        });
        T inv = T(1) / s;
        L::each(n, [&](auto v, index_t i) {
            using V = decltype(v);
            L::store(y + i, V(L::template load<V>(y + i) * inv));
        });
    }

    static void forward(const T* x, index_t rows, index_t n, bool log, T* y) {
        for (index_t r = 0; r < rows; ++r) row(x + r * n, n, log, y + r * n);
    }

    // dx from g = dL/dy, recomputing y into dx first:
    // softmax: dx = y * (g - sum(g * y)); log_softmax: dx = g - exp(y) * sum(g).
    static void backward(const T* g, const T* x, index_t rows, index_t n, bool log, T* dx) {
        for (index_t r = 0; r < rows; ++r, g += n, x += n, dx += n) {
            row(x, n, log, dx);
            if (log) {
                T sg = L::sum(
                    n, [&](auto v, index_t i) { return L::template load<decltype(v)>(g + i); });
                L::each(n, [&](auto v, index_t i) {
                    using V = decltype(v);
                    L::store(dx + i, V(L::template load<V>(g + i) -
                                       E::of_nonpositive(L::template load<V>(dx + i)) * sg));
                });
                continue;
            }
            T gy = L::sum(n, [&](auto v, index_t i) {
                using V = decltype(v);
                return L::template load<V>(g + i) * L::template load<V>(dx + i);
            });
            L::each(n, [&](auto v, index_t i) {
                using V = decltype(v);
                L::store(dx + i,
                         V(L::template load<V>(dx + i) * (L::template load<V>(g + i) - gy)));
            });
        }
    }
};

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
