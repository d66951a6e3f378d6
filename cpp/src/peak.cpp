// attnlab::arch::peak_gflops: the FMA microbenchmark run on the best arch, one task per thread,
// each timed on its own so that a worker waking late does not count; best of a few repeats
// (the first warms the clocks up).
#include <algorithm>
#include <chrono>

#include "attnlab/api.hpp"
#include "kernel_table.hpp"
#include "threads.hpp"

namespace attnlab::arch {

double peak_gflops(int threads) {
    const KernelTable& k = best_kernels();
    threads = std::clamp(threads, 1, 1024);
    const int saved = get_num_threads();
    set_num_threads(threads);
    constexpr index_t kIters = 20'000'000;
    float sink[1024] = {};
    double best = 0;
    for (int repeat = 0; repeat < 4; ++repeat) {
        double rate[1024] = {};
        threads::parallel_for(threads, [&](index_t task, int) {
            auto t0 = std::chrono::steady_clock::now();
            index_t flops = k.fma_loop(kIters, &sink[task]);
            std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
            rate[task] = static_cast<double>(flops) / dt.count() * 1e-9;
        });
        double total = 0;
        for (int t = 0; t < threads; ++t) total += rate[t];
        best = std::max(best, total);
    }
    set_num_threads(saved);
    return best;
}

}  // namespace attnlab::arch
