// Builds one arch's KernelTable from the kernel templates; included by the arch TUs only.
#pragma once

#include "kernel_table.hpp"
#include "kernels/activation.hpp"
#include "kernels/attention.hpp"
#include "kernels/dropout.hpp"
#include "kernels/embedding.hpp"
#include "kernels/loss.hpp"
#include "kernels/norm.hpp"
#include "kernels/positional.hpp"
#include "kernels/softmax.hpp"
#include "kernels/transpose.hpp"
#include "kernels/exp.hpp"
#include "kernels/peak.hpp"
#include "layers/optimizer_update.hpp"
#include "layers/plumbing.hpp"

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

template <class A, class T>
constexpr AttentionKernels<T> attention_kernels() {
    using K = Attention<A, T>;
    return {&K::forward, &K::backward_kv, &K::backward_q, &K::backward_head, &K::row_dots,
            &Transpose<A, T>::to_key_blocks};
}

template <class A, class T>
constexpr BlockKernels<T> block_kernels() {
    return {&Norm<A, T>::forward,         &Norm<A, T>::backward,
            &Activations<A, T>::run,      &Softmax<A, T>::forward,
            &Softmax<A, T>::backward,     &CrossEntropy<A, T>::forward,
            &CrossEntropy<A, T>::backward, &Dropout<A, T>::forward,
            &Embedding<A, T>::scatter_add, &Rope<A, T>::forward};
}

template <class T>
constexpr OptimizerKernels<T> optimizer_kernels() {
    return {&layers::ATTNLAB_ARCH_NS::sgd_chunk<T>, &layers::ATTNLAB_ARCH_NS::adam_chunk<T>};
}

template <class T>
constexpr PlumbingKernels<T> plumbing_kernels() {
    return {&layers::ATTNLAB_ARCH_NS::gather<T>, &layers::ATTNLAB_ARCH_NS::add<T>};
}

template <class A>
constexpr KernelTable make_table(const char* name) {
    return {name,
            attention_kernels<A, float>(),
            attention_kernels<A, double>(),
            block_kernels<A, float>(),
            block_kernels<A, double>(),
            {&MicroKernel<A, float>::blocked, MicroKernel<A, float>::kStrip},
            {&MicroKernel<A, double>::blocked, MicroKernel<A, double>::kStrip},
            &Exp<A, float>::array,
            &Exp<A, double>::array,
            optimizer_kernels<float>(),
            optimizer_kernels<double>(),
            plumbing_kernels<float>(),
            plumbing_kernels<double>(),
            &Peak<A>::fma_loop};
}

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
