// Loops over contiguous elements shared by the building-block kernels: each body is a generic
// lambda called with a SIMD batch for whole batches and with a scalar for the tail, so one
// expression serves both and every length (1, 7, 1025, ...) is handled.
#pragma once

#include <type_traits>

#include "attnlab/api.hpp"
#include "kernels/simd_compat.hpp"

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

template <class A, class T>
struct Loops {
    using B = xsimd::batch<T, A>;
    static constexpr index_t W = static_cast<index_t>(B::size);

    template <class V>
    static V load(const T* p) {
        if constexpr (std::is_same_v<V, B>) return B::load_unaligned(p);
        else return *p;
    }
    template <class V>
    static void store(T* p, const V& v) {
        if constexpr (std::is_same_v<V, B>) v.store_unaligned(p);
        else *p = v;
    }
    // cond ? a : b, lane-wise for batches.
    template <class C, class V>
    static V choose(const C& cond, const V& a, const V& b) {
        if constexpr (std::is_same_v<V, B>) return xsimd::select(cond, a, b);
        else return cond ? a : b;
    }

    // The loops are forced inline into their callers, as their bodies are: left to GCC's
    // budget for the whole arch file, an unrelated change moved layer_norm by 5-8%.

    // f(V(), i) for every i in [0, n): a batch at a time, then scalars for the tail.
    template <class F>
    __attribute__((always_inline)) static inline void each(index_t n, F f) {
        index_t i = 0;
        for (; i + W <= n; i += W) f(B(), i);
        for (; i < n; ++i) f(T(), i);
    }

    // sum of f(V(), i) over [0, n), in four interleaved accumulators: with one, every add
    // waited for the last (a (4096, 512) layer_norm spent more time in that chain than in
    // reading its input).
    template <class F>
    __attribute__((always_inline)) static inline T sum(index_t n, F f) {
        B acc0(T(0)), acc1(T(0)), acc2(T(0)), acc3(T(0));
        index_t i = 0;
        for (; i + 4 * W <= n; i += 4 * W) {
            acc0 += f(B(), i);
            acc1 += f(B(), i + W);
            acc2 += f(B(), i + 2 * W);
            acc3 += f(B(), i + 3 * W);
        }
        for (; i + W <= n; i += W) acc0 += f(B(), i);
        T s = simd::reduce_add((acc0 + acc1) + (acc2 + acc3));
        for (; i < n; ++i) s += f(T(), i);
        return s;
    }

    // sum of d * d over [0, n) for d = f(V(), i), returned, and of d added to sum_d: both in
    // one pass, four accumulators each, as sum.
    template <class F>
    __attribute__((always_inline)) static inline T sum2(index_t n, T& sum_d, F f) {
        B s[4] = {B(T(0)), B(T(0)), B(T(0)), B(T(0))};
        B q[4] = {B(T(0)), B(T(0)), B(T(0)), B(T(0))};
        index_t i = 0;
        for (; i + 4 * W <= n; i += 4 * W) {
            for (int u = 0; u < 4; ++u) {
                const B d = f(B(), i + u * W);
                s[u] += d;
                q[u] = xsimd::fma(d, d, q[u]);
            }
        }
        for (; i + W <= n; i += W) {
            const B d = f(B(), i);
            s[0] += d;
            q[0] = xsimd::fma(d, d, q[0]);
        }
        T sd = simd::reduce_add((s[0] + s[1]) + (s[2] + s[3]));
        T sq = simd::reduce_add((q[0] + q[1]) + (q[2] + q[3]));
        for (; i < n; ++i) {
            const T d = f(T(), i);
            sd += d;
            sq += d * d;
        }
        sum_d += sd;
        return sq;
    }

    // max of x[0:n), n >= 1. A NaN need not win: it makes its row's sums NaN anyway.
    static T max(const T* x, index_t n) {
        index_t i = 0;
        T m = x[0];
        if (n >= W) {
            B acc = B::load_unaligned(x);
            for (i = W; i + W <= n; i += W) acc = xsimd::max(acc, B::load_unaligned(x + i));
            m = simd::reduce_max(acc);
        }
        for (; i < n; ++i) m = x[i] > m ? x[i] : m;
        return m;
    }
};

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
