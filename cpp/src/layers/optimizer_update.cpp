// The per-chunk SGD and Adam/AdamW updates as xtensor expressions over xt::adapt views of the
// caller's buffers. This file is compiled once per arch (CMake's attnlab_optimizer_<arch>),
// with ATTNLAB_ARCH_NS naming it and that arch's flags, so xtensor vectorises through xsimd at
// each arch (XTENSOR_USE_XSIMD). Also with -ffp-contract=off: the operations and their order
// follow torch.optim's single-tensor (CPU default) updates, each rounded on its own; a
// contracted multiply-add moves a result by an ulp per step, which 50 steps grow past 1e-6.
#include "arch/gcc_avx512_warnings.hpp"

#include "layers/optimizer_update.hpp"

#include <cmath>

#include <xtensor/xassign.hpp>
#include <xtensor/xmath.hpp>
#include <xtensor/xnoalias.hpp>

#include "layers/local_views.hpp"

namespace attnlab::layers::ATTNLAB_ARCH_NS {
namespace {

// dest = expr, elementwise; the static_assert keeps every update on xtensor's SIMD path.
template <class D, class E>
void assign(D& dest, const E& expr) {
    static_assert(xt::xassign_traits<D, E>::simd_linear_assign(),
                  "optimizer updates must be SIMD linear assignments (XTENSOR_USE_XSIMD)");
    xt::noalias(dest) = expr;
}

}  // namespace

template <class T>
void sgd_chunk(const SgdBuffers<T>& b, index_t begin, index_t n, const SgdOptions& o) {
    auto p = flat_view(b.param + begin, n);
    const auto g = flat_view(b.grad + begin, n);
    const T sign = o.maximize ? T(-1) : T(1), neg_lr = T(-o.lr), momentum = T(o.momentum);
    auto apply = [&](auto&& d) { assign(p, p + neg_lr * d); };
    auto with_grad = [&](auto&& grad) {
        if (!b.momentum_buffer) return apply(grad);
        auto buf = flat_view(b.momentum_buffer + begin, n);
        if (b.fresh_buffer) assign(buf, grad);
        else assign(buf, buf * momentum + T(1 - o.dampening) * grad);
        if (o.nesterov) apply(grad + momentum * buf);
        else apply(buf);
    };
    // torch skips a zero weight decay (0 * inf would be NaN).
    if (o.weight_decay != 0) with_grad(sign * g + T(o.weight_decay) * p);
    else with_grad(sign * g);
}

template <class T>
void adam_chunk(const AdamBuffers<T>& b, index_t begin, index_t n, const AdamOptions& o) {
    auto p = flat_view(b.param + begin, n);
    const auto g = flat_view(b.grad + begin, n);
    auto m = flat_view(b.exp_avg + begin, n);
    auto v = flat_view(b.exp_avg_sq + begin, n);
    const double step = static_cast<double>(b.step);
    const T sign = o.maximize ? T(-1) : T(1);
    const T weight = T(1 - o.beta1), beta2 = T(o.beta2), one_minus_beta2 = T(1 - o.beta2);
    const T neg_step_size = T(-(o.lr / (1 - std::pow(o.beta1, step))));
    const T bias_correction2_sqrt = T(std::pow(1 - std::pow(o.beta2, step), 0.5));
    const T eps = T(o.eps), decay = T(1 - o.lr * o.weight_decay);
    const bool decoupled = o.decoupled_weight_decay && o.weight_decay != 0;

    auto update_param = [&](const auto& second_moment) {
        auto denom = xt::sqrt(second_moment) / bias_correction2_sqrt + eps;
        if (decoupled) assign(p, p * decay + (neg_step_size * m) / denom);
        else assign(p, p + (neg_step_size * m) / denom);
    };
    auto with_grad = [&](auto&& grad) {
        // exp_avg.lerp_(grad, 1 - beta1): torch's lerp picks its formula by the weight.
        if (weight < T(0.5)) assign(m, m + weight * (grad - m));
        else assign(m, grad - (grad - m) * (T(1) - weight));
        assign(v, v * beta2 + (one_minus_beta2 * grad) * grad);
        if (!b.max_exp_avg_sq) return update_param(v);
        auto v_max = flat_view(b.max_exp_avg_sq + begin, n);
        // xt::maximum has no SIMD path in xtensor 0.24 (its simd_apply takes two template
        // parameters, which has_simd_apply cannot see); where() has one. NaN in v propagates.
        assign(v_max, xt::where(v_max >= v, v_max, v));
        update_param(v_max);
    };
    // grad is lazy: the coupled decay reads p before the last assignment, the only one writing p.
    if (o.weight_decay != 0 && !o.decoupled_weight_decay)
        with_grad(sign * g + T(o.weight_decay) * p);
    else with_grad(sign * g);
}

template void sgd_chunk<float>(const SgdBuffers<float>&, index_t, index_t, const SgdOptions&);
template void sgd_chunk<double>(const SgdBuffers<double>&, index_t, index_t, const SgdOptions&);
template void adam_chunk<float>(const AdamBuffers<float>&, index_t, index_t, const AdamOptions&);
template void adam_chunk<double>(const AdamBuffers<double>&, index_t, index_t, const AdamOptions&);

}  // namespace attnlab::layers::ATTNLAB_ARCH_NS
