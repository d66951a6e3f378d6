// Vectorized exp for the softmax: x = n ln2 + r with |r| <= ln2/2 (Cody-Waite, two-part ln2),
// exp(r) by a polynomial (for float a degree-6 minimax fit of relative error 1.9e-9, one FMA
// fewer than Taylor's degree 7 at the same accuracy once rounded; for double Taylor's degree
// 13: truncation below half an ulp), times 2^n. On AVX-512 that is one scalef, which rounds
// once at any n; elsewhere 2^n is built in the exponent bits and applied as two factors so
// that x near the overflow bound stays finite. Results in the subnormal range are flushed to
// zero: kernels run with denormals flushed (fp_mode.hpp).
// Inputs are clamped to a range whose ends round to 0 and inf, so exp(-inf) = 0 exactly and no
// compare is needed for them; NaN is passed through by one select (isnan: xsimd 8 compiles
// x != x as an ordered compare on AVX, false for NaN).
// The attention softmax works in base 2 (K^T is packed times scale * log2 e), which needs no
// ln2 split: t = n + r exactly. On AVX-512 float, r is reduced further to |r| <= 1/32 by a
// 16-entry table of 2^(j/16) in one register, so a cubic suffices: 4 multiplies or
// multiply-adds and a scalef per 16 scores where the natural exp took 9 and a scalef; the
// rest runs on the add pipes. On AVX2 float, an 8-entry table of 2^(j/8) (one vpermps) leaves
// |r| <= 1/16 for a quartic, and 2^n is added to the table entry's exponent bits: 5 multiplies
// or multiply-adds per 8 scores where the degree-6 fit below took 7. Elsewhere without scalef,
// float 2^r is a degree-6 fit in r itself (no multiply by ln2) and 2^n comes from the bits of
// the rounding sum n + kShifter: one multiply and one add fewer per batch than exp(r ln2).
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "attnlab/api.hpp"
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
    static constexpr float kLn2 = 0.693147180559945309f;
    static constexpr float kLo2 = -200.0f;         // 2^kLo2 rounds to 0
    static constexpr float kFlush2 = -127.0f;      // n = -127: exponent field 0, so 2^n = 0
    static constexpr float kLn2Hi = 0.693359375f;  // few bits: n * kLn2Hi is exact
    static constexpr float kLn2Lo = -2.12194440e-4f;
    static constexpr float kShifter = 12582912.0f;  // 1.5 * 2^23: adding it rounds to an integer
    static constexpr int kDegree = 6;
    // Minimax for relative error on [-ln2/2, ln2/2], by iteratively reweighted least squares
    // on 4001 Chebyshev nodes; after float rounding, Horner's max relative error is 9.6e-8.
    static constexpr float coefficient(int i) {
        constexpr float c[kDegree + 1] = {1.0f,         1.0f,          0.49999991f,  0.16666420f,
                                          0.041668225f, 0.0083748158f, 0.0013836846f};
        return c[i];
    }
    // 2^r on [-1/2, 1/2] with 2^0 = 1 exactly: minimax for relative error (the same
    // reweighting, 4001 nodes), truncation 2.0e-9; after float rounding Horner's max relative
    // error is 7.9e-8. (Degree 5, at 1.7e-7, misses subnormal results by more than a step.)
    static constexpr int kDegree2 = 6;
    static constexpr float coefficient2(int i) {
        constexpr float c[kDegree2 + 1] = {1.0f,           0.693147182f,   0.240226477f,
                                           0.0555033237f,  0.00961843692f, 0.00133988750f,
                                           0.000153533620f};
        return c[i];
    }
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
    static constexpr double kLn2 = 0.693147180559945309417;
    static constexpr double kLo2 = -1100.0;
    static constexpr double kFlush2 = -1023.0;
    static constexpr double kLn2Hi = 6.93147180369123816490e-01;
    static constexpr double kLn2Lo = 1.90821492927058770002e-10;
    static constexpr double kShifter = 6755399441055744.0;  // 1.5 * 2^52
    static constexpr int kDegree = 13;
    // Taylor: 1 / i!, correctly rounded (i! is exact in double for i <= 18).
    static constexpr double coefficient(int i) {
        double f = 1.0;
        for (int k = 2; k <= i; ++k) f *= k;
        return 1.0 / f;
    }
};

template <class A, class T>
struct Exp {
    using B = xsimd::batch<T, A>;
    using C = ExpConstants<T>;
    using I = xsimd::batch<typename C::Int, A>;

    // 2^n for integral n in [kMinExp, kMaxExp] from shifted = n + kShifter, which holds n in
    // its low mantissa bits; shifting them into the exponent field drops the shifter's own
    // exponent.
    static B pow2_shifted(const B& shifted) {
        I bits = simd::bitcast<I>(shifted);
        return simd::bitcast<B>((bits + I(C::kBias)) << C::kMantissa);
    }
    static B pow2(const B& n) { return pow2_shifted(n + B(C::kShifter)); }

#if XSIMD_WITH_AVX512F
    static constexpr bool kScalef = std::is_base_of_v<xsimd::avx512f, A>;
    // p * 2^n, rounded once.
    static B scalef(const B& p, const B& n) {
        if constexpr (sizeof(T) == 4) return _mm512_scalef_ps(p, n);
        else return _mm512_scalef_pd(p, n);
    }
#else
    static constexpr bool kScalef = false;
    static B scalef(const B& p, const B&) { return p; }  // never called
#endif

    // exp(r) for |r| <= ln2/2.
    static B polynomial(const B& r) {
        B p(C::coefficient(C::kDegree));
        for (int i = C::kDegree - 1; i >= 0; --i) p = xsimd::fma(p, r, B(C::coefficient(i)));
        return p;
    }

    // exp(r) for the reduced argument of xc, and n.
    static B reduced(const B& xc, B& n) {
        n = xsimd::fma(xc, B(C::kLog2e), B(C::kShifter)) - B(C::kShifter);
        B r = xsimd::fnma(n, B(C::kLn2Hi), xc);
        r = xsimd::fnma(n, B(C::kLn2Lo), r);
        return polynomial(r);
    }

    static B eval(const B& x) {
        B xc = xsimd::min(xsimd::max(x, B(C::kLo)), B(C::kHi));
        B n;
        B p = reduced(xc, n);
        B y;
        if constexpr (kScalef) {
            y = scalef(p, n);
        } else {
            B n1 = xsimd::min(xsimd::max(n, B(C::kMinExp)), B(C::kMaxExp));
            y = p * pow2(n1) * pow2(n - n1);
        }
        return xsimd::select(xsimd::isnan(x), x, y);
    }

    // The softmax's exp: x <= 0 or NaN (scores minus their row max). It saves eval's upper
    // clamp and NaN select; without scalef, results below the smallest normal number flush to
    // 0 (next to the max's term 1 they are below rounding anyway), which also saves the second
    // scale factor. exp(-inf) is exactly 0 either way. NaN passes the clamp because max(lo, NaN)
    // returns its second operand (x86 maxps; NEON propagates NaN), and then poisons the
    // polynomial.
    static B eval_nonpositive(const B& x) {
        B n;
        if constexpr (kScalef) {
            B p = reduced(xsimd::max(B(C::kLo), x), n);
            return scalef(p, n);
        }
        B p = reduced(xsimd::max(B(C::kFlush), x), n);
        return p * pow2(n);
    }

#if XSIMD_WITH_AVX512F
    static constexpr bool kTable = kScalef && sizeof(T) == 4;
    // 2^t for t <= 0 or NaN, t's nearest multiple of 1/16 being k = n + j/16:
    // 2^n * 2^(j/16) * 2^(t - k), |t - k| <= 1/32. Cubic: Taylor, truncation 9.2e-9.
    static B exp2_table(const B& t) {
        const __m512 powers = _mm512_setr_ps(
            1.0f, 1.04427378242741384f, 1.09050773266525766f, 1.13878863475669166f,
            1.18920711500272107f, 1.24185781207348405f, 1.29683955465100967f, 1.35425554693689273f,
            1.41421356237309505f, 1.47682614593949931f, 1.54221082540794082f, 1.61049033194925431f,
            1.68179283050742909f, 1.75625216037329948f, 1.83400808640934246f, 1.91520656139714729f);
        constexpr float kShifter16 = 786432.0f;  // 1.5 * 2^19: adding it rounds to 1/16ths
        const B tc = xsimd::max(B(C::kLo2), t);  // NaN passes, as in eval_nonpositive
        const B u = tc + B(kShifter16);          // the low 4 bits of u's mantissa hold j
        const B k = u - B(kShifter16);
        const B r = tc - k;  // exact
        using I32 = xsimd::batch<std::int32_t, A>;
        const B table = _mm512_permutexvar_ps(simd::bitcast<I32>(u), powers);
        const B q = xsimd::fma(xsimd::fma(B(0.0555041086648215800f), r, B(0.240226506959100712f)),
                               r, B(0.693147180559945309f));
        return scalef(xsimd::fma(q * r, table, table), k);  // scalef takes floor(k) = n
    }
#else
    static constexpr bool kTable = false;
    static B exp2_table(const B& t) { return t; }  // never called
#endif

#if XSIMD_WITH_AVX2
    static constexpr bool kTable8 = std::is_base_of_v<xsimd::avx2, A> && !kScalef && sizeof(T) == 4;
    // 2^t for t <= 8 or NaN without scalef, in fewer multiplies than polynomial2: t's nearest
    // multiple of 1/8 being k = n + j/8, 2^t = (2^n 2^(j/8)) 2^r, r = t - k, |r| <= 1/16, with
    // 2^(j/8) from an 8-entry table in one register and n added to its exponent field (an
    // integer add, exact while 2^n 2^(j/8) is normal). 2^r by Taylor's quartic, truncation
    // 1.3e-9. t is clamped at -127, where the factor's exponent field is 0 (0 for j = 0, else
    // subnormal): with denormals flushed (fp_mode.hpp) the result is then 0, as it is below
    // 2^-126 and for -inf; NaN passes the clamp (as in eval_nonpositive) and poisons r.
    static B exp2_table8(const B& t) {
        const __m256 powers = _mm256_setr_ps(
            1.0f, 1.09050773266525766f, 1.18920711500272107f, 1.29683955465100967f,
            1.41421356237309505f, 1.54221082540794082f, 1.68179283050742909f, 1.83400808640934246f);
        constexpr float kShifter8 = 1572864.0f;  // 1.5 * 2^20: adding it rounds to 1/8ths
        using I32 = xsimd::batch<std::int32_t, A>;
        const B tc = xsimd::max(B(C::kFlush2), t);
        const B u = tc + B(kShifter8);  // the low 3 bits of u's mantissa hold j, those above n
        const B r = tc - (u - B(kShifter8));  // exact
        const I32 bits = simd::bitcast<I32>(u);
        const I32 exponent = (bits << 20) & I32(std::int32_t(0xff800000u));  // n << 23
        const B factor = simd::bitcast<B>(
            simd::bitcast<I32>(B(_mm256_permutevar8x32_ps(powers, bits))) + exponent);
        const B q = xsimd::fma(
            xsimd::fma(xsimd::fma(B(0.00961812910762847716f), r, B(0.0555041086648215800f)), r,
                       B(0.240226506959100712f)),
            r, B(0.693147180559945309f));
        return xsimd::fma(q * r, factor, factor);
    }
#else
    static constexpr bool kTable8 = false;
    static B exp2_table8(const B& t) { return t; }  // never called
#endif

    // 2^t for the attention softmax's base-2 scores: t <= 0 or NaN, with eval_nonpositive's
    // handling of -inf, NaN and the subnormal range; as accurate for t from 0 up
    // to the attention's shift slack (8), far below where 2^t would overflow.
    static B exp2_nonpositive(const B& t) {
        if constexpr (kTable) return exp2_table(t);
        if constexpr (kTable8) return exp2_table8(t);
        const B tc = xsimd::max(B(kScalef ? C::kLo2 : C::kFlush2), t);
        const B shifted = tc + B(C::kShifter);
        const B n = shifted - B(C::kShifter);
        if constexpr (kScalef) return scalef(polynomial((tc - n) * B(C::kLn2)), n);
        return polynomial2(tc - n) * pow2_shifted(shifted);  // tc - n is exact
    }

    // 2^r for |r| <= 1/2: float's own fit, else exp(r ln2).
    static B polynomial2(const B& r) {
        if constexpr (sizeof(T) == 4) {
            B p(C::coefficient2(C::kDegree2));
            for (int i = C::kDegree2 - 1; i >= 0; --i) p = xsimd::fma(p, r, B(C::coefficient2(i)));
            return p;
        }
        return polynomial(r * B(C::kLn2));
    }

    // exp(x) for x <= 0 or NaN: eval_nonpositive on a batch, std::exp on a scalar (a loop's
    // tail), for the softmax and cross-entropy, whose arguments have their row max subtracted.
    template <class V>
    static V of_nonpositive(const V& x) {
        if constexpr (std::is_same_v<V, T>) return std::exp(x);
        else return eval_nonpositive(x);
    }

    // out[i] = exp(x[i]) for i < n by eval, or by eval_nonpositive, or 2^x[i] by
    // exp2_nonpositive (both for x[i] <= 0 or NaN).
    static void array(const T* x, index_t n, ExpVariant variant, T* out) {
        constexpr index_t W = static_cast<index_t>(B::size);
        auto f = [variant](const B& v) {
            switch (variant) {
                case ExpVariant::nonpositive:
                    return eval_nonpositive(v);
                case ExpVariant::base2_nonpositive:
                    return exp2_nonpositive(v);
                default:
                    return eval(v);
            }
        };
        index_t i = 0;
        for (; i + W <= n; i += W) f(B::load_unaligned(x + i)).store_unaligned(out + i);
        if (i < n) {
            alignas(64) T tail[W] = {};
            for (index_t j = i; j < n; ++j) tail[j - i] = x[j];
            f(B::load_aligned(tail)).store_aligned(tail);
            for (index_t j = i; j < n; ++j) out[j] = tail[j - i];
        }
    }
};

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
