// Builds one arch's KernelTable from the kernel templates; included by the arch TUs only.
#pragma once

#include "kernel_table.hpp"
#include "kernels/activation.hpp"
#include "kernels/attention.hpp"
#include "kernels/dropout.hpp"
#include "kernels/embedding.hpp"
#include "kernels/exp.hpp"
#include "kernels/loss.hpp"
#include "kernels/norm.hpp"
#include "kernels/peak.hpp"
#include "kernels/positional.hpp"
#include "kernels/softmax.hpp"
#include "kernels/transpose.hpp"
#include "layers/optimizer_update.hpp"
#include "layers/plumbing.hpp"

namespace attnlab::kernels::ATTNLAB_ARCH_NS {

// Every field set by its name, so that no two of one type can be swapped unseen (a field left
// out stays null: its op's tests fail at the first call).
template <class A, class T>
constexpr AttentionKernels<T> attention_kernels() {
    using K = Attention<A, T>;
    AttentionKernels<T> k{};
    k.forward = &K::forward;
    k.backward_kv = &K::backward_kv;
    k.backward_q = &K::backward_q;
    k.backward_head = &K::backward_head;
    k.row_dots = &K::row_dots;
    k.to_key_blocks = &Transpose<A, T>::to_key_blocks;
    return k;
}

template <class A, class T>
constexpr BlockKernels<T> block_kernels() {
    BlockKernels<T> k{};
    k.norm = &Norm<A, T>::forward;
    k.norm_backward = &Norm<A, T>::backward;
    k.activation = &Activations<A, T>::run;
    k.softmax = &Softmax<A, T>::forward;
    k.softmax_backward = &Softmax<A, T>::backward;
    k.cross_entropy = &CrossEntropy<A, T>::forward;
    k.cross_entropy_backward = &CrossEntropy<A, T>::backward;
    k.dropout = &Dropout<A, T>::forward;
    k.scatter_add = &Embedding<A, T>::scatter_add;
    k.rope = &Rope<A, T>::forward;
    return k;
}

template <class A, class T>
constexpr GemmKernel<T> gemm_kernel() {
    GemmKernel<T> k{};
    k.run = &MicroKernel<A, T>::blocked;
    k.strip = MicroKernel<A, T>::kStrip;
    return k;
}

template <class T>
constexpr OptimizerKernels<T> optimizer_kernels() {
    OptimizerKernels<T> k{};
    k.sgd = &layers::ATTNLAB_ARCH_NS::sgd_chunk<T>;
    k.adam = &layers::ATTNLAB_ARCH_NS::adam_chunk<T>;
    return k;
}

template <class T>
constexpr PlumbingKernels<T> plumbing_kernels() {
    PlumbingKernels<T> k{};
    k.gather = &layers::ATTNLAB_ARCH_NS::gather<T>;
    k.add = &layers::ATTNLAB_ARCH_NS::add<T>;
    return k;
}

template <class A>
constexpr KernelTable make_table(const char* name) {
    KernelTable t{};
    t.name = name;
    t.attention_f32 = attention_kernels<A, float>();
    t.attention_f64 = attention_kernels<A, double>();
    t.blocks_f32 = block_kernels<A, float>();
    t.blocks_f64 = block_kernels<A, double>();
    t.gemm_f32 = gemm_kernel<A, float>();
    t.gemm_f64 = gemm_kernel<A, double>();
    t.exp_f32 = &Exp<A, float>::array;
    t.exp_f64 = &Exp<A, double>::array;
    t.optimizers_f32 = optimizer_kernels<float>();
    t.optimizers_f64 = optimizer_kernels<double>();
    t.plumbing_f32 = plumbing_kernels<float>();
    t.plumbing_f64 = plumbing_kernels<double>();
    t.fma_loop = &Peak<A>::fma_loop;
    return t;
}

}  // namespace attnlab::kernels::ATTNLAB_ARCH_NS
