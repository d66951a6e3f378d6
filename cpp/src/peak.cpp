// attnlab::arch::peak_gflops: the FMA microbenchmark run on the arch kernels run on now, one thread
// of its own per requested thread (the pool is left as it is: resizing it would race with kernels
// and with set_num_threads in other threads), each timed on its own so that a thread starting late
// does not count; best of a few repeats (the first warms the clocks up).
#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "attnlab/api.hpp"
#include "kernel_table.hpp"

namespace attnlab::arch {

double peak_gflops(int threads) {
    const KernelTable& k = active_kernels();
    threads = std::clamp(threads, 1, 1024);
    constexpr index_t kIters = 20'000'000;
    std::vector<float> sink(threads);
    std::vector<double> rate(threads);
    const auto measure = [&](int t) {
        auto t0 = std::chrono::steady_clock::now();
        index_t flops = k.fma_loop(kIters, &sink[t]);
        std::chrono::duration<double> dt = std::chrono::steady_clock::now() - t0;
        rate[t] = static_cast<double>(flops) / dt.count() * 1e-9;
    };
    double best = 0;
    for (int repeat = 0; repeat < 4; ++repeat) {
        std::vector<std::thread> others;
        for (int t = 1; t < threads; ++t) others.emplace_back(measure, t);
        measure(0);
        for (auto& t : others) t.join();
        double total = 0;
        for (double r : rate) total += r;
        best = std::max(best, total);
    }
    return best;
}

}  // namespace attnlab::arch
