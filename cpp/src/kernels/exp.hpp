// Vectorized exp for the softmax: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite, two-part ln2),
// exp(r) by a Taylor polynomial (degree 7 for float, 13 for double: truncation below half an
// ulp), times 2^n built in the exponent bits. 2^n is applied as two factors so that results in
// the subnormal range round once, correctly, and x near the overflow bound stays finite.
// Inputs are clamped to a range whose ends round to 0 and inf, so exp(-inf) = 0 exactly and no
// compare is needed for them; NaN is passed through by one select (isnan: xsimd 8 compiles
// x != x as an ordered compare on AVX, false for NaN).
#pragma once

#include <cstdint>

#include "kernels/simd_compat.hpp"

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

template <class T>
struct ExpConstants;

template <>
struct ExpConstants<float> {
    using Int = std::int32_t;
    static constexpr int kMantissa = 23;
    static constexpr Int kBias = 127;
    static constexpr float kLo = -110.0f;  // exp(kLo) < 2^-150: rounds to 0
    static constexpr float kHi = 89.0f;    // exp(kHi) > FLT_MAX: rounds to inf
    static constexpr float kMinExp = -126.0f, kMaxExp = 127.0f;
    static constexpr float kFlush = -88.0f;  // rounds to n = -127: exponent field 0, so 2^n = 0
    static constexpr float kLog2e = 1.44269504088896341f;
    static constexpr float kLn2Hi = 0.693359375f;  // few bits: n * kLn2Hi is exact
    static constexpr float kLn2Lo = -2.12194440e-4f;
    static constexpr float kShifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    static constexpr int kDegree = 7;
};

template <>
struct ExpConstants<double> {
    using Int = std::int64_t;
    static constexpr int kMantissa = 52;
    static constexpr Int kBias = 1023;
    static constexpr double kLo = -760.0;
    static constexpr double kHi = 710.0;
    static constexpr double kMinExp = -1022.0, kMaxExp = 1023.0;
    static constexpr double kFlush = -708.9;  // rounds to n = -1023
    static constexpr double kLog2e = 1.44269504088896340736;
    static constexpr double kLn2Hi = 6.93147180369123816490e-01;
    static constexpr double kLn2Lo = 1.90821492927058770002e-10;
    static constexpr double kShifter = 6755399441055744.0;  // 1.5 * 2^52
    static constexpr int kDegree = 13;
};

template <class A, class T>
struct Exp {
    using B = xsimd::batch<T, A>;
    using C = ExpConstants<T>;
    using I = xsimd::batch<typename C::Int, A>;

    // 2^n for integral n in [kMinExp, kMaxExp]: n + kShifter holds n in its low mantissa
    // bits; shifting them into the exponent field drops the shifter's own exponent.
    static B pow2(const B& n) {
        I bits = xsimd::bitwise_cast<I>(n + B(C::kShifter));
        return xsimd::bitwise_cast<B>((bits + I(C::kBias)) << C::kMantissa);
    }

    // 1 / i!, correctly rounded: i! is exact in double for i <= 18.
    static constexpr T inv_factorial(int i) {
        double f = 1.0;
        for (int k = 2; k <= i; ++k) f *= k;
        return static_cast<T>(1.0 / f);
    }

    // exp(r) for the reduced argument of xc, and n.
    static B reduced(const B& xc, B& n) {
        n = xsimd::fma(xc, B(C::kLog2e), B(C::kShifter)) - B(C::kShifter);
        B r = xsimd::fnma(n, B(C::kLn2Hi), xc);
        r = xsimd::fnma(n, B(C::kLn2Lo), r);
        B p(inv_factorial(C::kDegree));
        for (int i = C::kDegree - 1; i >= 0; --i) p = xsimd::fma(p, r, B(inv_factorial(i)));
        return p;
    }

    static B eval(const B& x) {
        B xc = xsimd::min(xsimd::max(x, B(C::kLo)), B(C::kHi));
        B n;
        B p = reduced(xc, n);
        B n1 = xsimd::min(xsimd::max(n, B(C::kMinExp)), B(C::kMaxExp));
        B y = p * pow2(n1) * pow2(n - n1);
        return xsimd::select(xsimd::isnan(x), x, y);
    }

    // The softmax's exp: x <= 0 or NaN (scores minus their row max). Results below the smallest
    // normal number flush to 0 (next to the max's term 1 they are below rounding anyway), which
    // saves the clamps, the second scale factor and the NaN select of eval; exp(-inf) is still
    // exactly 0. NaN passes the clamp because max(flush, NaN) returns its second operand
    // (x86 maxps; NEON propagates NaN), and then poisons the polynomial.
    static B eval_nonpositive(const B& x) {
        B n;
        B p = reduced(xsimd::max(B(C::kFlush), x), n);
        return p * pow2(n);
    }

    // out[i] = exp(x[i]) for i < n.
    static void array(const T* x, index_t n, T* out) {
        constexpr index_t W = static_cast<index_t>(B::size);
        index_t i = 0;
        for (; i + W <= n; i += W) eval(B::load_unaligned(x + i)).store_unaligned(out + i);
        if (i < n) {
            alignas(64) T tail[W] = {};
            for (index_t j = i; j < n; ++j) tail[j - i] = x[j];
            eval(B::load_aligned(tail)).store_aligned(tail);
            for (index_t j = i; j < n; ++j) out[j] = tail[j - i];
        }
    }
};

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
