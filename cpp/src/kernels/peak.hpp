// The machine's FMA throughput, for the benchmark's "% of peak": independent accumulator
// chains, enough to cover the FMA latency times the pipes, with no memory traffic at all.
#pragma once

#include "attention_plan.hpp"
#include "kernels/simd_compat.hpp"

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

template <class A>
struct Peak {
    using B = xsimd::batch<float, A>;
    static constexpr int kChains = 12;  // Zen 4: 2 pipes x 4 cycles, and 12 > that with margin

    // Runs iters rounds of kChains float FMAs; returns the flops done. sink defeats elision.
    static index_t fma_loop(index_t iters, float* sink) {
        B acc[kChains];
        for (int c = 0; c < kChains; ++c) acc[c] = B(static_cast<float>(c) * 1e-3f);
        const B x(0.999999f), y(1e-7f);
        for (index_t i = 0; i < iters; ++i)
            for (int c = 0; c < kChains; ++c) acc[c] = xsimd::fma(acc[c], x, y);
        B total = acc[0];
        for (int c = 1; c < kChains; ++c) total += acc[c];
        *sink = simd::reduce_add(total);
        return iters * kChains * static_cast<index_t>(B::size) * 2;
    }
};

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
