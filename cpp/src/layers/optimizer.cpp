// SGD and Adam/AdamW steps: parameters are cut into fixed chunks handed to the pool, and each
// chunk is updated by the active arch's xtensor expressions (layers/optimizer_update.cpp).
#include "layers/optimizer.hpp"

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "kernel_table.hpp"
#include "threads.hpp"

namespace attnlab::layers {
namespace {

// Elements per pool task: the chunk's buffers (up to five) stay in L2 across its assignments.
constexpr index_t kChunk = 16384;

// Calls body(param, begin, n) for every kChunk-element chunk of every parameter, on the pool.
template <class Buffers, class Body>
void for_each_chunk(const std::vector<Buffers>& params, Body&& body) {
    std::vector<std::pair<std::size_t, index_t>> chunks;  // (parameter, first element)
    for (std::size_t i = 0; i < params.size(); ++i)
        for (index_t begin = 0; begin < params[i].size; begin += kChunk)
            chunks.emplace_back(i, begin);
    threads::parallel_for(static_cast<index_t>(chunks.size()), [&](index_t task, int) {
        const auto [i, begin] = chunks[static_cast<std::size_t>(task)];
        body(params[i], begin, std::min(kChunk, params[i].size - begin));
    });
}

}  // namespace

template <class T>
void sgd_step(const std::vector<SgdBuffers<T>>& params, const SgdOptions& options) {
    const auto update = active_kernels().optimizers<T>().sgd;
    for_each_chunk(params, [&](const SgdBuffers<T>& b, index_t begin, index_t n) {
        update(b, begin, n, options);
    });
}

template <class T>
void adam_step(const std::vector<AdamBuffers<T>>& params, const AdamOptions& options) {
    const auto update = active_kernels().optimizers<T>().adam;
    for_each_chunk(params, [&](const AdamBuffers<T>& b, index_t begin, index_t n) {
        update(b, begin, n, options);
    });
}

template void sgd_step<float>(const std::vector<SgdBuffers<float>>&, const SgdOptions&);
template void sgd_step<double>(const std::vector<SgdBuffers<double>>&, const SgdOptions&);
template void adam_step<float>(const std::vector<AdamBuffers<float>>&, const AdamOptions&);
template void adam_step<double>(const std::vector<AdamBuffers<double>>&, const AdamOptions&);

}  // namespace attnlab::layers
