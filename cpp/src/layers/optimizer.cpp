// SGD and Adam/AdamW steps as xtensor expressions over xt::adapt views of the caller's buffers.
// Parameters are cut into fixed chunks handed to the pool; each chunk's update is a few
// xt::noalias assignments (one per buffer written), vectorised by xsimd at the baseline arch.
// The operations and their order follow torch.optim's single-tensor (CPU default) updates.
#include "layers/optimizer.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <utility>

#include <xtensor/xadapt.hpp>
#include <xtensor/xassign.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>

#include "threads.hpp"

namespace attnlab::layers {
namespace {

// Elements per pool task: the chunk's buffers (up to five) stay in L2 across its assignments.
constexpr index_t kChunk = 16384;

// A 1-D view of n elements at data. The pointer goes in as a prvalue: given an lvalue, adapt
// would keep a reference to this function's parameter.
template <class T>
auto view(T* data, index_t n) {
    const auto size = static_cast<std::size_t>(n);
    return xt::adapt(static_cast<T*>(data), size, xt::no_ownership(),
                     std::array<std::size_t, 1>{size});
}

// dest = expr, elementwise; the static_assert keeps every update on xtensor's SIMD path.
template <class D, class E>
void assign(D& dest, const E& expr) {
    static_assert(xt::xassign_traits<D, E>::simd_linear_assign(),
                  "optimizer updates must be SIMD linear assignments (XTENSOR_USE_XSIMD)");
    xt::noalias(dest) = expr;
}

// Calls body(param, begin, n) for every kChunk-element chunk of every parameter, on the pool.
template <class Buffers, class Body>
void for_each_chunk(const std::vector<Buffers>& params, Body&& body) {
    std::vector<std::pair<std::size_t, index_t>> chunks;  // (parameter, first element)
    for (std::size_t i = 0; i < params.size(); ++i)
        for (index_t begin = 0; begin < params[i].size; begin += kChunk) chunks.emplace_back(i, begin);
    threads::parallel_for(static_cast<index_t>(chunks.size()), [&](index_t task, int) {
        const auto [i, begin] = chunks[static_cast<std::size_t>(task)];
        body(params[i], begin, std::min(kChunk, params[i].size - begin));
    });
}

template <class T>
void sgd_chunk(const SgdBuffers<T>& b, index_t begin, index_t n, const SgdOptions& o) {
    auto p = view(b.param + begin, n);
    const auto g = view(b.grad + begin, n);
    const T sign = o.maximize ? T(-1) : T(1), neg_lr = T(-o.lr), momentum = T(o.momentum);
    auto apply = [&](auto&& d) { assign(p, p + neg_lr * d); };
    auto with_grad = [&](auto&& grad) {
        if (!b.momentum_buffer) return apply(grad);
        auto buf = view(b.momentum_buffer + begin, n);
        if (b.fresh_buffer)
            assign(buf, grad);
        else
            assign(buf, buf * momentum + T(1 - o.dampening) * grad);
        if (o.nesterov)
            apply(grad + momentum * buf);
        else
            apply(buf);
    };
    // torch skips a zero weight decay (0 * inf would be NaN).
    if (o.weight_decay != 0)
        with_grad(sign * g + T(o.weight_decay) * p);
    else
        with_grad(sign * g);
}

template <class T>
void adam_chunk(const AdamBuffers<T>& b, index_t begin, index_t n, const AdamOptions& o) {
    auto p = view(b.param + begin, n);
    const auto g = view(b.grad + begin, n);
    auto m = view(b.exp_avg + begin, n);
    auto v = view(b.exp_avg_sq + begin, n);
    const double step = static_cast<double>(b.step);
    const T sign = o.maximize ? T(-1) : T(1);
    const T weight = T(1 - o.beta1), beta2 = T(o.beta2), one_minus_beta2 = T(1 - o.beta2);
    const T neg_step_size = T(-(o.lr / (1 - std::pow(o.beta1, step))));
    const T bias_correction2_sqrt = T(std::pow(1 - std::pow(o.beta2, step), 0.5));
    const T eps = T(o.eps), decay = T(1 - o.lr * o.weight_decay);
    const bool decoupled = o.decoupled_weight_decay && o.weight_decay != 0;

    auto update_param = [&](const auto& second_moment) {
        auto denom = xt::sqrt(second_moment) / bias_correction2_sqrt + eps;
        if (decoupled)
            assign(p, p * decay + (neg_step_size * m) / denom);
        else
            assign(p, p + (neg_step_size * m) / denom);
    };
    auto with_grad = [&](auto&& grad) {
        // exp_avg.lerp_(grad, 1 - beta1): torch's lerp picks its formula by the weight.
        if (weight < T(0.5))
            assign(m, m + weight * (grad - m));
        else
            assign(m, grad - (grad - m) * (T(1) - weight));
        assign(v, v * beta2 + (one_minus_beta2 * grad) * grad);
        if (!b.max_exp_avg_sq) return update_param(v);
        auto v_max = view(b.max_exp_avg_sq + begin, n);
        // xt::maximum has no SIMD path in xtensor 0.24 (its simd_apply takes two template
        // parameters, which has_simd_apply cannot see); where() has one. NaN in v propagates.
        assign(v_max, xt::where(v_max >= v, v_max, v));
        update_param(v_max);
    };
    // grad is lazy: the coupled decay reads p before the last assignment, the only one writing p.
    if (o.weight_decay != 0 && !o.decoupled_weight_decay)
        with_grad(sign * g + T(o.weight_decay) * p);
    else
        with_grad(sign * g);
}

}  // namespace

template <class T>
void sgd_step(const std::vector<SgdBuffers<T>>& params, const SgdOptions& options) {
    for_each_chunk(params, [&](const SgdBuffers<T>& b, index_t begin, index_t n) {
        sgd_chunk(b, begin, n, options);
    });
}

template <class T>
void adam_step(const std::vector<AdamBuffers<T>>& params, const AdamOptions& options) {
    for_each_chunk(params, [&](const AdamBuffers<T>& b, index_t begin, index_t n) {
        adam_chunk(b, begin, n, options);
    });
}

template void sgd_step<float>(const std::vector<SgdBuffers<float>>&, const SgdOptions&);
template void sgd_step<double>(const std::vector<SgdBuffers<double>>&, const SgdOptions&);
template void adam_step<float>(const std::vector<AdamBuffers<float>>&, const AdamOptions&);
template void adam_step<double>(const std::vector<AdamBuffers<double>>&, const AdamOptions&);

}  // namespace attnlab::layers
