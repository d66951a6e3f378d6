// Optimizer steps over every parameter of a param group in one call: SGD (momentum, dampening,
// Nesterov, weight decay) and Adam/AdamW (amsgrad), with torch.optim's update formulas.
// Buffers are C-contiguous and of one parameter's size; the caller has checked them.
#pragma once

#include <vector>

#include "attnlab/api.hpp"

namespace attnlab::layers {

template <class T>
struct SgdBuffers {
    T* param = nullptr;
    const T* grad = nullptr;
    T* momentum_buffer = nullptr;  // null when momentum is 0
    index_t size = 0;
    bool fresh_buffer = false;  // the buffer is new: this step sets it to the gradient, as torch
};

struct SgdOptions {
    double lr = 1e-3, momentum = 0.0, dampening = 0.0, weight_decay = 0.0;
    bool nesterov = false, maximize = false;
};

template <class T>
struct AdamBuffers {
    T* param = nullptr;
    const T* grad = nullptr;
    T* exp_avg = nullptr;
    T* exp_avg_sq = nullptr;
    T* max_exp_avg_sq = nullptr;  // null unless amsgrad
    index_t size = 0;
    index_t step = 1;  // this step's count (1 on the first), for the bias corrections
};

struct AdamOptions {
    double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.0;
    bool decoupled_weight_decay = false;  // AdamW: p *= 1 - lr * weight_decay
    bool amsgrad = false, maximize = false;
};

// One step of every parameter, in place; elementwise, so the result does not depend on the
// thread count.
template <class T>
void sgd_step(const std::vector<SgdBuffers<T>>& params, const SgdOptions& options);

template <class T>
void adam_step(const std::vector<AdamBuffers<T>>& params, const AdamOptions& options);

}  // namespace attnlab::layers
