// Builds one arch's KernelTable from the kernel templates; included by the arch TUs only.
#pragma once

#include "kernel_table.hpp"
#include "kernels/attention.hpp"
#include "kernels/exp.hpp"
#include "kernels/peak.hpp"

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

template <class A, class T>
constexpr AttentionKernels<T> attention_kernels() {
    using K = Attention<A, T>;
    return {&K::forward, &K::backward_kv, &K::backward_q};
}

template <class A>
constexpr KernelTable make_table(const char* name) {
    return {name,
            attention_kernels<A, float>(),
            attention_kernels<A, double>(),
            &MicroKernel<A, float>::blocked,
            &MicroKernel<A, double>::blocked,
            &Exp<A, float>::array,
            &Exp<A, double>::array,
            &Peak<A>::fma_loop};
}

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
