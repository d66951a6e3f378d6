// Element-wise activations and their derivatives: relu, silu, gelu (erf) and gelu (tanh).
#pragma once

#include <type_traits>

#include "kernels/exp.hpp"
#include "kernels/loops.hpp"

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

// The per-element functions are forced inline: otherwise GCC's budget for the whole arch file
// decides, and an unrelated change once left normal_cdf a call per batch (gelu +13%).
template <class A, class T>
struct Activations {
    using L = Loops<A, T>;
    static constexpr T kInvSqrt2 = T(0.70710678118654752440);
    static constexpr T kInvSqrt2Pi = T(0.39894228040143267794);
    static constexpr T kSqrt2OverPi = T(0.79788456080286535588);
    static constexpr T kCubic = T(0.044715);

    // exp(x): for batches the softmax's vectorized exp (float: relative error 1.7e-7, a third of
    // xsimd::exp's cost; double: within an ulp, and where xsimd 8's exp converts an infinite or
    // NaN argument to an integer, undefined behaviour, it clamps and selects), else std's.
    template <class V>
    __attribute__((always_inline)) static inline V exp(const V& x) {
        if constexpr (!std::is_same_v<V, T>) return Exp<A, T>::eval(x);
        else return xsimd::exp(x);
    }

    // (1 + tanh(u)) / 2 = sigmoid(2u), u = sqrt(2/pi) (x + 0.044715 x^3): as a sigmoid it
    // cannot cancel to a wrong sign for very negative x, as 1 + tanh(u) can.
    template <class V>
    __attribute__((always_inline)) static inline V tanh_gate(const V& x) {
        return V(T(1)) / (V(T(1)) + exp(T(-2) * kSqrt2OverPi * (x + kCubic * x * x * x)));
    }

    // exp(-x^2 / 2), for float batches by the attention softmax's base-2 exp.
    template <class V>
    __attribute__((always_inline)) static inline V gauss(const V& x) {
        if constexpr (std::is_same_v<T, float> && !std::is_same_v<V, T>)
            return Exp<A, T>::exp2_nonpositive(x * x * V(T(-0.5) * ExpConstants<T>::kLog2e));
        else return exp(T(-0.5) * x * x);
    }

    // 1 / d for finite d >= 1: the approximate reciprocal (12 bits on SSE2/AVX, 14 on AVX-512,
    // 8 on NEON) and Newton steps (one, two on NEON), within 2.4e-7 and far cheaper than a
    // division.
    template <class V>
    __attribute__((always_inline)) static inline V reciprocal(const V& d) {
        if constexpr (std::is_same_v<V, T>) {
            return T(1) / d;
        } else {
            V r = xsimd::reciprocal(d);
            r = xsimd::fma(r, xsimd::fnma(d, r, V(T(1))), r);
#if XSIMD_WITH_NEON64
            if constexpr (std::is_base_of<xsimd::neon64, A>::value)
                r = xsimd::fma(r, xsimd::fnma(d, r, V(T(1))), r);
#endif
            return r;
        }
    }

    // Phi(x) = (1 + erf(x / sqrt 2)) / 2, given g = gauss(x). In float, Abramowitz & Stegun
    // 7.1.26 gives erfc(z) = t (a1 + t (a2 + ... a5 t)) exp(-z^2), t = 1 / (1 + p z), within
    // 1.5e-7 of erf and far cheaper than xsimd::erf; taking Phi(-|x|) from it directly avoids
    // 1 + erf cancelling for negative x. double keeps xsimd::erf's full precision.
    template <class V>
    __attribute__((always_inline)) static inline V normal_cdf(const V& x, const V& g) {
        if constexpr (!std::is_same_v<T, float>) {
            // erf is +-1 in double past |z| = 6; xsimd's returns NaN near the overflow bound.
            // NaN is selected back after erf, since xsimd 8's exp inside erf would convert it to
            // an integer (undefined behaviour).
            const V z = xsimd::min(V(T(10)), xsimd::max(V(T(-10)), x * kInvSqrt2));
            const auto nan = xsimd::isnan(x);
            return L::choose(nan, x,
                             V(T(0.5) * (V(T(1)) + xsimd::erf(L::choose(nan, V(T(0)), z)))));
        } else {
            // z past 1e4 changes nothing (g is 0 there) and keeps 1 + p z finite; NaN passes.
            V z = xsimd::min(V(1e4f), xsimd::abs(x) * kInvSqrt2);
            V t = reciprocal(xsimd::fma(V(0.3275911f), z, V(1.0f)));
            V poly = xsimd::fma(t, V(1.061405429f), V(-1.453152027f));
            poly = xsimd::fma(t, poly, V(1.421413741f));
            poly = xsimd::fma(t, poly, V(-0.284496736f));
            poly = xsimd::fma(t, poly, V(0.254829592f));
            V lower = 0.5f * t * poly * g;  // Phi(-|x|); g = exp(-z^2)
            return L::choose(x < V(0.0f), lower, V(1.0f) - lower);
        }
    }

    template <Activation F, class V>
    __attribute__((always_inline)) static inline V value(const V& x) {
        if constexpr (F == Activation::relu)
            return L::choose(x < V(T(0)), V(T(0)), x);  // NaN stays NaN
        if constexpr (F == Activation::silu) return x / (V(T(1)) + exp(-x));
        if constexpr (F == Activation::gelu) return x * normal_cdf(x, gauss(x));
        if constexpr (F == Activation::gelu_tanh) return x * tanh_gate(x);
    }

    // d value / dx.
    template <Activation F, class V>
    __attribute__((always_inline)) static inline V derivative(const V& x) {
        if constexpr (F == Activation::relu) return L::choose(x > V(T(0)), V(T(1)), V(T(0)));
        if constexpr (F == Activation::silu) {
            V s = V(T(1)) / (V(T(1)) + exp(-x));
            return s * (V(T(1)) + x * (V(T(1)) - s));
        }
        if constexpr (F == Activation::gelu) {
            const V g = gauss(x);
            return normal_cdf(x, g) + x * kInvSqrt2Pi * g;
        }
        if constexpr (F == Activation::gelu_tanh) {
            V s = tanh_gate(x);
            return s +
                   T(2) * x * s * (V(T(1)) - s) * kSqrt2OverPi * (V(T(1)) + T(3) * kCubic * x * x);
        }
    }

    // y = f(x), or with g: y = g * f'(x).
    template <Activation F>
    static void apply(const T* g, const T* x, index_t n, T* y) {
        L::each(n, [&](auto v, index_t i) {
            using V = decltype(v);
            V xi = L::template load<V>(x + i);
            L::store(y + i, g ? V(L::template load<V>(g + i) * derivative<F>(xi)) : value<F>(xi));
        });
    }

    // forward when g is null, else backward.
    static void run(Activation f, const T* g, const T* x, index_t n, T* y) {
        switch (f) {
            case Activation::relu:
                return apply<Activation::relu>(g, x, n, y);
            case Activation::silu:
                return apply<Activation::silu>(g, x, n, y);
            case Activation::gelu:
                return apply<Activation::gelu>(g, x, n, y);
            case Activation::gelu_tanh:
                return apply<Activation::gelu_tanh>(g, x, n, y);
        }
    }
};

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
